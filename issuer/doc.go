// Package issuer owns accounts and license addresses, stealth one-time keys,
// sealing and opening license payloads, scanning the ledger for one's own
// licenses, and the minting service that turns a paid order into ledger
// entries.
package issuer
