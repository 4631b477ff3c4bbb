package pgledger_test

// Attack tests from a hostile review of the suspension feed. Each failed
// on the feed's first version (main at 5036f41).

import (
	"context"
	"maps"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/ringverify"
)

// TestReviewFeedSuspendLiftOneTx: a transaction that suspends and lifts the
// same license (a dispute opened and closed in one webhook batch, a reorg
// and its re-confirmation handled together) never makes the license
// suspended in any committed state, so admission never refuses it; yet the
// feed publishes, for ever, that it was suspended and lifted (with the
// time). The package doc says the feed "reveals nothing the server does not
// reveal already by refusing".
func TestReviewFeedSuspendLiftOneTx(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	_, signer, verifier := testKeys(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := pgledger.Suspend(ctx, tx, 7); err != nil {
			return err
		}
		return pgledger.Unsuspend(ctx, tx, 7)
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := l.FeedRound(ctx); err != nil {
		t.Fatal(err)
	} else if n != 0 {
		_, es := readFeed(t, l.Store(), verifier)
		t.Fatalf("the feed published %d entries (%+v) for a suspension no committed state ever held", n, es)
	}
}

// TestReviewFeedPoisonEntry: a change whose time is before 1970 (a
// license_suspensions.since the migration copies, an operator's row) is
// published by the sequencer, which encodes int64 seconds as uint64, and
// every reader's ParseSuspensionEntry refuses it: the append-only feed can
// never be read again by any mirror, while the sequencer keeps signing.
func TestReviewFeedPoisonEntry(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	_, signer, verifier := testKeys(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	if _, err := db.Exec(ctx, `insert into suspension_changes (ledger_index, suspended, at) values (5, true, '1969-12-31T23:59:59Z')`); err != nil {
		t.Fatal(err)
	}
	n, err := l.FeedRound(ctx)
	if err != nil {
		return // refused at the source: fine
	}
	msg, _, err := l.Store().LatestSuspensions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ledger.OpenSuspensionCheckpoint(msg, verifier)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := l.Store().SuspensionEntries(ctx, 0, cp.Size)
	if err := ledger.NewSuspensionState().Extend(cp, all); err != nil {
		t.Fatalf("the sequencer published %d entries no reader can apply: %v", n, err)
	}
}

// TestReviewMarshalParseRoundTrip: MarshalBinary accepts entries that
// ParseSuspensionEntry refuses (the root of the poison entry above).
func TestReviewMarshalParseRoundTrip(t *testing.T) {
	for _, e := range []ledger.SuspensionEntry{
		{Suspended: true, Index: 1, Time: ledger.SuspensionEntry{}.Time}, // zero time.Time: year 1
	} {
		if _, err := ledger.ParseSuspensionEntry(e.MarshalBinary()); err != nil {
			t.Errorf("%+v marshals to bytes that do not parse: %v", e, err)
		}
	}
}

// TestReviewFeedMissesOtherWriters: the feed only hears of changes made
// through Suspend and Unsuspend. A writer of license_suspensions that does
// not know of the feed (a process of the previous release during a rolling
// deploy of migration 015, an operator's SQL) changes the server's index
// and never the feed: every mirror disagrees with the server for ever, and
// nothing reconciles them.
func TestReviewFeedMissesOtherWriters(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	_, signer, verifier := testKeys(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return pgledger.Suspend(ctx, tx, 1) }); err != nil {
		t.Fatal(err)
	}
	// The previous release's Suspend and Unsuspend, verbatim.
	if _, err := db.Exec(ctx, `insert into license_suspensions (ledger_index, since) values (2, now()) on conflict do nothing`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `delete from license_suspensions where ledger_index = 1`); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := l.FeedRound(ctx); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := readFeed(t, l.Store(), verifier)
	if db := suspendedInDB(t, db); !maps.Equal(st.Suspended, db) {
		t.Fatalf("the feed replays to %v, the server's table (its index) holds %v", st.Suspended, db)
	}
}

// TestReviewDisputeLostWindow: payments.Service.revoke (a dispute lost, a
// refund of a suspended license) lifts the suspension and enqueues the
// revoke entry in one transaction. The lift must not reach the feed before
// the revocation reaches the ledger (a feed round runs only while no ledger
// entry is pending; the ledger round publishes the feed's changes with its
// entries), or a relay syncing between the two would hold the license that
// lost its dispute active for a whole sync period.
func TestReviewDisputeLostWindow(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	_, signer, verifier := testKeys(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	enqueue(t, db, "mint:1", newLicense("basic", 0, 1<<20))
	if _, err := l.Round(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return pgledger.Suspend(ctx, tx, 0) }); err != nil {
		t.Fatal(err)
	}
	if _, err := l.FeedRound(ctx); err != nil {
		t.Fatal(err)
	}
	// payments.Service.revoke of the suspended license: lift, then revoke.
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := pgledger.Unsuspend(ctx, tx, 0); err != nil {
			return err
		}
		_, err := pgledger.Enqueue(ctx, tx, "revoke:1", &ledger.RevokeEntry{Target: 0, Reason: ledger.RevokeDispute})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// RunSequencer's loop: the feed round first.
	if _, err := l.FeedRound(ctx); err != nil {
		t.Fatal(err)
	}
	// A mirror syncing now: the ledger as it is, the feed as it is.
	mirror := mirrorNow(t, l, verifier)
	// (The server's own index lifts the suspension at once and sees the
	// revoke at the next ledger round, about a second later: a gap that
	// predates the feed, left as it was.)
	if m, _ := mirror.Member(0); m.State == ringverify.Active {
		t.Errorf("a mirror has the license whose dispute was lost as active until its next sync")
	}
}

// TestReviewSuspendedAtMint: payments.Service.OnSequenced suspends a
// license whose order was disputed or reorged before its entry was
// sequenced, inside the ledger round's transaction. The license and its
// suspension commit together in the server's index, but the suspension
// reaches the feed only at the next feed round (a Period later): a mirror
// syncing between them (ledger first, then feed) holds the new license as
// active for a whole sync period, while the server refuses it.
func TestReviewSuspendedAtMint(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	_, signer, verifier := testKeys(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer, OnSequenced: func(ctx context.Context, tx pgx.Tx, _ int64, seq []pgledger.Sequenced) error {
		for _, s := range seq {
			if err := pgledger.Suspend(ctx, tx, s.Index); err != nil {
				return err
			}
		}
		return nil
	}})
	// A feed with a checkpoint already (another license's suspension).
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return pgledger.Suspend(ctx, tx, 1000) }); err != nil {
		t.Fatal(err)
	}
	if _, err := l.FeedRound(ctx); err != nil {
		t.Fatal(err)
	}
	enqueue(t, db, "mint:1", newLicense("basic", 0, 1<<20))
	if _, err := l.Round(ctx); err != nil { // RunSequencer: the ledger round; the feed round comes a Period later
		t.Fatal(err)
	}
	mirror := mirrorNow(t, l, verifier)
	server := ledger.NewIndex()
	if err := server.Sync(ctx, l.Store()); err != nil {
		t.Fatal(err)
	}
	got, _ := mirror.Member(0)
	want, _ := server.Member(0)
	if got.State != want.State {
		t.Fatalf("after the round that minted and suspended license 0: a mirror has it %v, the server %v", got.State, want.State)
	}
}

// TestReviewFeedStuckRow: a queued change the feed round cannot read (a
// since of 'infinity' copied by migration 015) fails every feed round for
// ever: no later suspension is ever published, RunSequencer only logs it
// and keeps running ledger rounds, and mirrors, which cannot tell a stale
// feed from a quiet one, keep admitting suspended licenses.
func TestReviewFeedStuckRow(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	_, signer, verifier := testKeys(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	if _, err := db.Exec(ctx, `insert into suspension_changes (ledger_index, suspended, at) values (5, true, 'infinity')`); err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return pgledger.Suspend(ctx, tx, 6) }); err != nil {
		t.Fatal(err)
	}
	var roundErr error
	for range 3 {
		_, roundErr = l.FeedRound(ctx)
	}
	if _, _, err := l.Store().LatestSuspensions(ctx); err != nil {
		t.Fatalf("after three feed rounds the suspension of license 6 is not published (feed round: %v)", roundErr)
	}
	st, _ := readFeed(t, l.Store(), verifier)
	if !st.Suspended[6] {
		t.Fatalf("after three feed rounds the suspension of license 6 is not published: %v", st.Suspended)
	}
}

// mirrorNow is what a mirror syncing now holds: the ledger as it is, then
// the feed as it is.
func mirrorNow(t *testing.T, l *pgledger.Ledger, verifier note.Verifier) *ledger.Index {
	t.Helper()
	ctx := context.Background()
	mirror := ledger.NewIndex()
	cp, err := l.Store().Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := l.Store().ReadEntries(ctx, 0, int(cp.Size))
	if err != nil {
		t.Fatal(err)
	}
	if err := mirror.Append(0, raw); err != nil {
		t.Fatal(err)
	}
	st, _ := readFeed(t, l.Store(), verifier)
	mirror.SetSuspended(st.Indices())
	return mirror
}
