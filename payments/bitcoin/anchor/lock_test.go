package anchor_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/payments/bitcoin/anchor"
)

// TestLockNewestSeesWhatTheHolderCommitted: process A holds the anchors'
// lock and stores an anchor; process B, waiting for the lock meanwhile,
// must read A's anchor as the newest once it gets the lock, and so not
// anchor again. (With the lock and the read in one statement, B's snapshot
// was taken before it waited, and it read the old newest.)
func TestLockNewestSeesWhatTheHolderCommitted(t *testing.T) {
	pool := pgtest.Pool(t)
	ctx := context.Background()
	txA, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer txA.Rollback(ctx)
	if n, err := anchor.LockNewest(ctx, txA); err != nil || n != 0 {
		t.Fatalf("A: newest %d, %v; want 0", n, err)
	}
	var id int64
	if err := txA.QueryRow(ctx, `insert into ledger_anchors (size, checkpoint, digest, txid, raw_tx, vsize, fee)
		values (1, 'cp', $1, $2, 'raw', 100, 100) returning id`, make([]byte, 32), strings.Repeat("a", 64)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 1)
	go func() {
		txB, err := pool.Begin(ctx)
		if err != nil {
			t.Error(err)
			got <- -1
			return
		}
		defer txB.Rollback(ctx)
		n, err := anchor.LockNewest(ctx, txB)
		if err != nil {
			t.Error(err)
		}
		got <- n
	}()
	select {
	case n := <-got:
		t.Fatalf("B read %d while A held the lock", n)
	case <-time.After(300 * time.Millisecond): // B waits for the lock
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := <-got; n != id {
		t.Fatalf("B read newest %d after A committed anchor %d: it would anchor again", n, id)
	}
}
