// Package payments owns orders and plans, Stripe checkout and webhooks,
// Bitcoin invoices and the chain watcher, the order state machine, and
// reconciliation.
package payments
