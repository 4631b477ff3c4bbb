// Package pgledger is the ledger's Postgres half: the Store on the ledger's
// tables, the sequencer that appends rounds to the log (one process at a
// time), and Enqueue, Suspend and Unsuspend, which callers run inside their
// own transactions. Use it in the server only; clients read the log through
// package ledger and ledger/tlogclient and link no database driver.
//
// # Use it
//
// A server builds one Ledger and runs its sequencer; callers enqueue entries
// inside their own transactions, so an entry is queued exactly when the
// caller's state change commits:
//
//	l := pgledger.New(db, pgledger.Config{Signer: signer, OnSequenced: svc.OnSequenced}) // svc: the *payments.Service
//	go l.RunSequencer(ctx) // every process may run one: one sequences, the others wait
//
//	// in the transaction that settles an order:
//	queued, err := pgledger.Enqueue(ctx, tx, "mint:"+orderID, &ledger.LicenseEntry{...})
//
// Tools and tests use l.Append(ctx, e), which returns the entry's index once
// its round has committed, whichever process sequences.
//
// # Sequencing
//
// A sequencer round is one Postgres transaction that holds the advisory
// lock, takes the pending entries (at most MaxRound, oldest first),
// shuffles them with crypto/rand, builds the round (ledger.BuildRound) and
// writes the entries, their stored hashes, the tiles, the round row and the
// signed checkpoint, then calls OnSequenced in the same transaction. Rounds
// start at least Config.Period apart (default 1 s) and only when entries
// are pending.
//
// One sequencer at a time: RunSequencer holds the session advisory lock
// "ledger" for as long as it runs, on a connection taken out of the pool,
// and every round also takes it for its transaction and checks that it
// extends the latest checkpoint, so two writers can never fork the log or
// reuse an index (Store.WriteRound fails with ledger.ErrConflict). A process
// killed during a round loses nothing: the round's transaction never
// commits and its entries stay pending; an entry is acknowledged (Append
// returns, OnSequenced runs) only by the round's commit.
//
// The log tables are append-only: triggers refuse UPDATE, DELETE and
// TRUNCATE.
//
// # The suspension feed
//
// Suspend and Unsuspend change license_suspensions in the caller's
// transaction, and a trigger on that table queues each change in
// suspension_changes, taking no lock (payments transactions hold order rows
// and must not wait on the feed); a suspension lifted in the transaction
// that made it withdraws its queued change. Every ledger round publishes
// the committed changes in its own transaction, after OnSequenced (so a
// license suspended as it is minted, or revoked as its suspension is
// lifted, reaches mirrors in one piece), and after each ledger round the
// sequencer runs a feed round (FeedRound) when no entry is pending: one
// transaction under the same advisory lock that takes the committed
// changes in id order, appends them to suspension_feed with their chain
// heads and writes the signed checkpoint of the new size (package ledger,
// suspension.go). The changes of one
// license are in causal order by id (an Unsuspend only finds a committed
// suspension, and draws its id after it), so the feed replays to the table;
// TestSuspensionFeedConcurrent checks it under concurrent suspensions and
// lifts. The feed and its checkpoints are append-only like the log.
//
// # Replicas
//
// Store's reads of the log (Latest, ReadEntries, ReadHashes, ReadTile,
// Checkpoints, LatestSuspensions, SuspensionEntries) read rows that never
// change once committed, under checkpoints that only grow: a Postgres
// replica that lags serves an older, consistent view, so they may go to
// one (a client that saw a newer checkpoint elsewhere takes an older one
// for a rollback: serve each client's checkpoints from one place). Suspended, the sequencer and everything that writes must use the
// primary.
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
package pgledger
