// Package payments owns orders and plans, Stripe checkout and webhooks, the
// order state machine, and what a payment event does to the license it paid
// for. Bitcoin invoices and the chain watcher live in payments/bitcoin and
// plug in as a Method.
//
// Use it like this: load the plans (LoadPlans), build the card method
// (NewCard), build the Service with the methods, the minter
// (NewLedgerMinter over an issuer.Minter) and the issuer's address check,
// build the ledger's sequencer with the service's hook
// (pgledger.Config{OnSequenced: svc.OnSequenced}), and run
// RunRetention in the background. The web package serves CreateOrder, Order
// and HandleStripe.
//
// # Orders
//
// An order has a 128-bit random id (26 characters of lower-case base32), a
// plan, a method ("card" or "btc"), the amount and currency of the plan at
// creation, and the license address to mint to. It keeps no email, name or
// IP address. The states follow BTCPay:
//
//	new → processing → settled
//	new → settled, new → expired, processing → invalid, processing → expired
//	expired → settled          only with the flag marked (an operator)
//	processing → new, settled → processing   Bitcoin reorgs and replacements
//
// with the flags paid_partial, paid_over, paid_late and marked, which are
// only ever added. Every change goes through Service.Transition, which locks
// the order row, enforces the machine, records the change in order_events,
// and on the first arrival in settled enqueues the license's mint in the same
// transaction (pgledger.Enqueue with ref "mint:<order id>"). A change the
// machine does not allow is ignored without error (changed=false): a stale or
// reordered event is not a failure.
//
// Refunds and disputes are not states: they change the license state
// (active, suspended, revoked). A full refund (charge.refunded with refunded
// true) or a lost dispute revokes: a revoke entry is appended (ref
// "revoke:<order id>"). A partial refund keeps the license. An open dispute
// suspends the license (pgledger.Suspend; admission refuses it) until it
// closes: won or warning_closed restore it, lost revokes it. A Bitcoin
// settled → processing suspends the license until the order settles again.
//
// # Card payments (Stripe)
//
// Card creates a Checkout Session per order with the idempotency key
// "licensed-order-<order id>"; Stripe learns the order id, plan name and
// price, never the license address. The call to Stripe holds no database
// connection or transaction: CreateOrder fixes the
// order id, calls Card.Prepare (the Stripe call) first, and only then opens
// the transaction that inserts the order together with its session id.
// When Stripe fails or is slow, nothing is stored and no connection waits
// (the customer gets card_unavailable, HTTP 503). When the transaction
// fails after Stripe answered, the session is left unused at Stripe: nobody
// got its URL, it expires after 24 hours, and its expiry event is about an
// unknown order and ignored. The Bitcoin method prepares too: it asks
// its rate source, takes an address index (a sequence) and adds the address
// to btcd's filter before the transaction, which only stores the invoice.
//
// Webhooks are verified with stripe-go's webhook package (HMAC over the
// exact body, timestamp at most 300 s old), must carry the API version
// stripe-go v76 reads (2023-10-16), and bodies are bounded (MaxWebhookBody). Each event id is recorded in stripe_events in
// the same transaction as the change it causes, so a redelivery changes
// nothing. Card events only move an order forward (new < processing <
// settled/expired/invalid): a late "completed, unpaid" cannot undo a payment.
// An async_payment_failed delivered before its checkout.session.completed
// takes the order through processing to invalid, so the late completion is
// stale. Refunds and disputes delivered before the checkout event that names
// their PaymentIntent's order are kept (stripe_unmatched_charges) and applied
// when it comes. Events of other types, and expiries of sessions naming no
// order of ours, are acknowledged and ignored. Event ids are forgotten after
// 30 days (Stripe retries for 3).
//
// A correctly signed event that does not decode as its type says (or is not
// an event) is refused with ErrWebhookUnreadable (HTTP 400) and changes
// nothing. Stripe retries it for up to three days, so it is recorded once
// per event, not per delivery: UnreadableEventKey names it (its event id,
// or a hash of the body when it has none) and package web adds each retry
// to that event's one webhook_failures row (count, last seen), which
// reconcile shows as one webhook_failed exception.
//
// An event changes an order only when it is the order's own payment: the
// card order's stored Checkout Session, its amount_total and currency, the
// key's mode; charges and disputes through the PaymentIntent such a session
// paid. Anything else is acknowledged, changes nothing, and is one row of
// stripe_mismatches (an exception for reconcile). Every event carrying a
// PaymentIntent first takes a transaction-scoped advisory lock on it, so the
// events of one payment are serialised: a refund racing its checkout either
// finds the PaymentIntent on the order or is parked where the checkout,
// running after it, finds it.
//
// # Minting exactly once, and what is kept
//
// The mint is enqueued in the transaction that settles the order, and the
// ledger's sequencer calls OnSequenced inside the round that commits the
// entry. OnSequenced records the order's round (kept forever), the exact
// order → ledger index link in order_links (kept for the method's retention:
// card 120 days by default, Bitcoin 0), and erases the license address. A
// Bitcoin order's link is held (order_links.hold) whatever the retention
// until its payments are buried (bitcoin.Config.ReorgDepth confirmations,
// ReleaseLinks), so a reorg within that depth suspends the license in the
// index. A refund or dispute that arrived while the entry was pending is
// applied there. A transaction that changes several orders (the round's
// OnSequenced, the Bitcoin watcher's block) locks them all first, in id
// order, with LockOrders, so two such transactions never deadlock. After
// the retention, RunRetention erases the link (not while held, nor while
// the license is suspended); a later refund or
// dispute can then no longer find the license, which stays valid: it is
// logged as an exception for operators.
//
// A Bitcoin order that leaves settled after its license was minted (a reorg,
// replacement or double spend took its payment back) keeps its held link,
// whatever the retention, until it settles again (and its payments are
// buried) or its license is revoked: the link is what lets the license be
// restored, or an operator revoke it (RevokeByOperator refuses once the link
// is gone). Forgetting it instead would leave a license for an unpaid order
// that nobody could revoke. So the link is not silently kept forever: such
// an order is a minted_not_settled exception for the operator (package
// reconcile: at once when the order is back at new, expired or invalid,
// after a day when it stays processing), and the operator's revoke ends
// both the exception and, at the next retention run, the link. Reconciliation (package reconcile,
// Reconciler.Rounds) compares, per round,
// the orders minted in it with its license entries, which stays checkable
// after the links are gone while any single entry hides among its round.
package payments
