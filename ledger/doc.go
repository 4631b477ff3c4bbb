// Package ledger owns the public license ledger: entry formats, the Merkle log
// (RFC 6962 via golang.org/x/mod/sumdb/tlog), signed C2SP checkpoints, tiles,
// proofs, the sequencer, the index of valid licenses, and its Postgres store.
package ledger
