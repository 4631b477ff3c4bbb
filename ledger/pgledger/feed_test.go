package pgledger_test

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
)

// readFeed opens the store's latest feed checkpoint and replays every
// entry, checking the chain.
func readFeed(t *testing.T, s *pgledger.Store, v note.Verifier) (*ledger.SuspensionState, []ledger.SuspensionEntry) {
	t.Helper()
	ctx := context.Background()
	msg, _, err := s.LatestSuspensions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ledger.OpenSuspensionCheckpoint(msg, v)
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.SuspensionEntries(ctx, 0, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	st := ledger.NewSuspensionState()
	if err := st.Extend(cp, all); err != nil {
		t.Fatal(err)
	}
	var es []ledger.SuspensionEntry
	for off := 0; off < len(all); off += ledger.SuspensionEntrySize {
		e, _ := ledger.ParseSuspensionEntry(all[off : off+ledger.SuspensionEntrySize])
		es = append(es, e)
	}
	return st, es
}

func suspendedInDB(t *testing.T, db *pgxpool.Pool) map[uint64]bool {
	t.Helper()
	rows, _ := db.Query(context.Background(), `select ledger_index from license_suspensions`)
	out := map[uint64]bool{}
	var i int64
	if _, err := pgx.ForEachRow(rows, []any{&i}, func() error { out[uint64(i)] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSuspensionFeedRounds: suspensions and lifts reach the signed feed in
// the order they were decided, a repeated Suspend or a lift of nothing adds
// no entry, and the feed's state is the table's.
func TestSuspensionFeedRounds(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	_, signer, verifier := testKeys(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	if _, err := l.Round(ctx); err != nil { // nothing pending: no round
		t.Fatal(err)
	}
	do := func(f func(context.Context, pgx.Tx, uint64) error, idx uint64) {
		t.Helper()
		if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return f(ctx, tx, idx) }); err != nil {
			t.Fatal(err)
		}
	}
	// Before the sequencer starts, the feed has no checkpoint: 404.
	if _, _, err := l.Store().LatestSuspensions(ctx); err == nil {
		t.Fatal("a feed checkpoint before the sequencer ran")
	}
	do(pgledger.Suspend, 3)
	do(pgledger.Suspend, 3) // no-op
	do(pgledger.Suspend, 8)
	do(pgledger.Unsuspend, 3)
	do(pgledger.Unsuspend, 4) // nothing to lift: no entry
	if n, err := l.FeedRound(ctx); err != nil || n != 3 {
		t.Fatalf("feed round: %d, %v; want 3 entries", n, err)
	}
	st, es := readFeed(t, l.Store(), verifier)
	want := []ledger.SuspensionEntry{{Suspended: true, Index: 3}, {Suspended: true, Index: 8}, {Suspended: false, Index: 3}}
	for i := range want {
		if es[i].Suspended != want[i].Suspended || es[i].Index != want[i].Index {
			t.Fatalf("entry %d: %+v, want %+v", i, es[i], want[i])
		}
	}
	if !maps.Equal(st.Suspended, suspendedInDB(t, db)) {
		t.Fatalf("feed %v, table %v", st.Suspended, suspendedInDB(t, db))
	}
	if n, err := l.FeedRound(ctx); err != nil || n != 0 {
		t.Fatalf("an idle feed round: %d, %v", n, err)
	}
	// The feed is append-only.
	if _, err := db.Exec(ctx, `delete from suspension_feed`); err == nil {
		t.Fatal("deleting the feed succeeded")
	}
}

// TestSuspensionFeedConcurrent: many transactions suspend and lift a few
// licenses at random while feed rounds run; in the end the feed replays to
// exactly the suspensions in force. Five times.
func TestSuspensionFeedConcurrent(t *testing.T) {
	ctx := context.Background()
	for run := range 5 {
		db := pgtest.Pool(t)
		_, signer, verifier := testKeys(t)
		l := pgledger.New(db, pgledger.Config{Signer: signer})
		stop := make(chan struct{})
		rounds := make(chan error, 1)
		go func() {
			for {
				select {
				case <-stop:
					_, err := l.FeedRound(ctx)
					rounds <- err
					return
				default:
				}
				if _, err := l.FeedRound(ctx); err != nil && err != pgledger.ErrLocked {
					rounds <- err
					return
				}
			}
		}()
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				r := rand.New(rand.NewPCG(uint64(run), uint64(w)))
				for range 40 {
					err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
						for range 1 + r.IntN(3) {
							idx := uint64(r.IntN(6))
							if r.IntN(2) == 0 {
								if err := pgledger.Suspend(ctx, tx, idx); err != nil {
									return err
								}
							} else if err := pgledger.Unsuspend(ctx, tx, idx); err != nil {
								return err
							}
						}
						return nil
					})
					var pe *pgconn.PgError
					if err != nil && !(errors.As(err, &pe) && pe.Code == "40P01") { // two transactions locking two licenses in opposite orders: one is aborted
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(stop)
		if err := <-rounds; err != nil {
			t.Fatal(err)
		}
		st, es := readFeed(t, l.Store(), verifier)
		if got, want := st.Suspended, suspendedInDB(t, db); !maps.Equal(got, want) {
			t.Fatalf("run %d: the feed (%d entries) says %v suspended, the table %v", run, len(es), slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
	}
}
