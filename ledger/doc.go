// Package ledger is the public license ledger: an append-only transparency
// log of license and revoke entries, stored in Postgres, sequenced by one
// process at a time, served as a C2SP tlog-tiles log with signed C2SP
// checkpoints, and indexed in memory for admission.
//
// # Use it
//
// A server builds one Ledger and runs its sequencer; callers enqueue entries
// inside their own transactions, so an entry is queued exactly when the
// caller's state change commits:
//
//	l := ledger.New(db, ledger.Config{Signer: signer, OnSequenced: svc.OnSequenced}) // svc: the *payments.Service
//	go l.RunSequencer(ctx) // every process may run one: one sequences, the others wait
//
//	// in the transaction that settles an order:
//	queued, err := ledger.Enqueue(ctx, tx, "mint:"+orderID, &ledger.LicenseEntry{...})
//
//	// admission, in every process:
//	ix := ledger.NewIndex()
//	go ix.Follow(ctx, l.Store(), 0, log)
//	verifier, _ := ringverify.NewVerifier(ringverify.VerifierConfig{Members: ix})
//
// Tools and tests use l.Append(ctx, e), which returns the entry's index once
// its round has committed, whichever process sequences.
//
// # Entries
//
// Two kinds, each with a canonical, versioned binary encoding (see
// LicenseEntry and RevokeEntry): ParseEntry accepts exactly what
// MarshalBinary produces. Validity is whole UTC days, so entries of one plan
// and day are indistinguishable by their public fields; the key P of a
// license entry is a canonical non-identity ristretto255 element, unique
// across the ledger (a unique index; Enqueue refuses a P already pending,
// and a round drops an entry whose P is already on the ledger).
//
// # The log
//
// RFC 6962 hashing via golang.org/x/mod/sumdb/tlog over the entry
// encodings. A sequencer round is one Postgres transaction that holds the
// advisory lock, takes the pending entries (at most MaxRound, oldest
// first), shuffles them with crypto/rand, and writes the entries, their
// stored hashes (tlog.StoredHashes), the hash tiles of height 8 that
// changed (tlog.NewTiles; a partial tile is stored once per published
// width, so nothing is ever rewritten), the round row, and the checkpoint
// signed with the configured note key, then calls OnSequenced in the same
// transaction. Rounds start at least Config.Period apart (default 1 s) and
// only when entries are pending. The checkpoint is the C2SP tlog-checkpoint
// text "<origin>\n<size>\n<base64 root>\n" signed as a C2SP signed note
// (Ed25519) — not tlog.FormatTree's format.
//
// One sequencer at a time: RunSequencer holds the session advisory lock
// "ledger" for as long as it runs, on a connection taken out of the pool,
// and every round also takes it for its transaction and checks that it
// extends the latest checkpoint, so two writers can never fork the log or
// reuse an index (Store.WriteRound fails with ErrConflict). A process killed
// during a round loses nothing: the round's transaction never commits and
// its entries stay pending; an entry is acknowledged (Append returns,
// OnSequenced runs) only by the round's commit.
//
// The log tables are append-only: triggers refuse UPDATE, DELETE and
// TRUNCATE. Fsck (`licensed ledger fsck`) recomputes every stored hash,
// tile and root from the entries and checks every checkpoint signature and
// the consistency between checkpoints; package tlogclient reads and checks
// the same from outside over HTTP, for `license ledger verify`, `license
// scan` and a relay's mirror (package relay).
//
// # Privacy
//
// The ledger stores the least that works. A ref (the caller's idempotency
// key, e.g. "mint:<order id>") lives only in the pending table and is
// forgotten by the round that sequences it: the ledger never keeps an order
// → index link; OnSequenced hands it to the caller, inside the round's
// transaction, to keep for as long as its own retention says. Append's own
// random refs leave a result row that Append deletes once read. Rounds
// record when they committed and how many entries they hold, which is what
// reconciliation needs and what any observer of the public log sees anyway.
//
// # The index
//
// Index keeps, per ledger index, P, the plan, the validity days and a
// revoked bit in flat arrays (about 50 bytes a license measured, see
// TestIndexMemory and BenchmarkIndexMemory), plus the small set of
// suspensions (license_suspensions, written by Suspend and Unsuspend inside
// the caller's transaction). Sync brings it to the latest checkpoint and the
// current suspensions; Follow calls Sync every 500 ms, so every process is
// current within about a second whichever process sequences.
//
// # Storage
//
// Store is the small interface the sequencer, the index, the HTTP handlers
// and Fsck use; PostgresStore (migration 002_ledger) is its one
// implementation and ledger/storetest its conformance suite.
package ledger
