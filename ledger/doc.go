// Package ledger is the public license ledger's format: its entries, the
// Merkle log over them (RFC 6962 via golang.org/x/mod/sumdb/tlog), signed
// C2SP checkpoints, C2SP tlog-tiles, inclusion and consistency proofs, the
// in-memory index of valid licenses that admission checks rings against,
// and Fsck. It does no I/O of its own and links no database driver: it reads
// the log through the small Store interface. Use it to parse and check
// entries, checkpoints, tiles and proofs, in the server and in clients (the
// customer tool, relays, tlogclient) alike.
//
// The log's Postgres half (the store, the sequencer, Enqueue, Suspend) is
// package ledger/pgledger: only the server imports it.
//
// # Use it
//
// The server sequences with pgledger and indexes with this package:
//
//	l := pgledger.New(db, pgledger.Config{Signer: signer, OnSequenced: svc.OnSequenced}) // svc: the *payments.Service
//	go l.RunSequencer(ctx)
//
//	// admission, in every process:
//	ix := ledger.NewIndex()
//	go ix.Follow(ctx, l.Store(), 0, log)
//	verifier, _ := ringverify.NewVerifier(ringverify.VerifierConfig{Members: ix})
//
// A client reads entries, checkpoints and tiles over HTTP with package
// ledger/tlogclient and checks them with this package.
//
// # Entries
//
// Two kinds, each with a canonical, versioned binary encoding (see
// LicenseEntry and RevokeEntry): ParseEntry accepts exactly what
// MarshalBinary produces. Validity is whole UTC days, so entries of one plan
// and day are indistinguishable by their public fields; the key P of a
// license entry is a canonical non-identity ristretto255 element, unique
// across the ledger (a unique index; pgledger.Enqueue refuses a P already
// pending, and a round drops an entry whose P is already on the ledger).
//
// # The log
//
// RFC 6962 hashing via golang.org/x/mod/sumdb/tlog over the entry
// encodings. BuildRound computes what one sequencer round commits: the
// entries' stored hashes (tlog.StoredHashes), the hash tiles of height 8
// that changed (tlog.NewTiles; a partial tile is stored once per published
// width, so nothing is ever rewritten), the root, and the checkpoint signed
// with the log's note key. The checkpoint is the C2SP tlog-checkpoint text
// "<origin>\n<size>\n<base64 root>\n" signed as a C2SP signed note
// (Ed25519) — not tlog.FormatTree's format.
//
// Fsck (`licensed ledger fsck`) recomputes every stored hash, tile and root
// from the entries and checks every checkpoint signature and the consistency
// between checkpoints; package tlogclient reads and checks the same from
// outside over HTTP, for `license ledger verify`, `license scan` and a
// relay's mirror (package relay).
//
// # The index
//
// Index keeps, per ledger index, P, the plan, the validity days and a
// revoked bit in flat arrays (about 50 bytes a license measured, see
// TestIndexMemory and BenchmarkIndexMemory), plus the small set of
// suspensions (license_suspensions, written by pgledger.Suspend and Unsuspend inside
// the caller's transaction). Sync brings it to the latest checkpoint and the
// current suspensions; Follow calls Sync every 500 ms, so every process is
// current within about a second whichever process sequences. A relay's
// mirror sets its suspensions from the suspension feed (SetSuspended).
//
// # The suspension feed
//
// Suspensions are published in a signed, append-only hash chain the
// mirrors sync (suspension.go: SuspensionEntry, SuspensionCheckpoint,
// SuspensionState.Extend), so that a relay verifying locally refuses what
// the server refuses.
//
// # Storage
//
// Store is the small read interface the index, the HTTP handlers, the
// proofs and Fsck use; pgledger.Store (migration 002_ledger) is its one
// implementation and internal/storetest its conformance suite.
package ledger
