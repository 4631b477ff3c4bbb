package relay_test

// Attack tests from a hostile review of the suspension feed. Each failed
// on the feed's first version (main at 5036f41).

import (
	"context"
	"testing"
	"time"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/relay"
	"github.com/licensed/licensed/ringverify"
)

func waitFeed(t *testing.T, l *testLog, size int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, n, err := l.lg.Store().LatestSuspensions(context.Background()); err == nil && n >= size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the feed did not reach size %d within 10 s", size)
		}
	}
}

// TestReviewFeedErrorBlocksRevocations: Sync applies the ledger and the
// feed together, so an entry no mirror can parse (the sequencer publishes
// a time before 1970 as a huge uint64; see pgledger's
// TestReviewFeedPoisonEntry) stops every mirror from ever applying the
// ledger again: a revocation made after it never reaches any relay.
func TestReviewFeedErrorBlocksRevocations(t *testing.T) {
	ctx := context.Background()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	signer, vkey := keys(t, "relay.test/ledger")
	l := newLog(t, signer, vkey)
	idx := l.appendLicenses(t, 2, "basic", today)
	m, _ := relay.NewMirror(&relay.Client{URL: l.url}, vkey)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// A suspension in force since before 1970 (as migration 015 copies
	// license_suspensions.since), queued as the migration queues it.
	if _, err := l.db.Exec(ctx, `insert into suspension_changes (ledger_index, suspended, at) values ($1, true, '1969-07-20T20:17:40Z')`, int64(idx[1])); err != nil {
		t.Fatal(err)
	}
	waitFeed(t, l, 1)
	if _, err := l.lg.Append(ctx, &ledger.RevokeEntry{Target: idx[0], Reason: ledger.RevokeRefund}); err != nil {
		t.Fatal(err)
	}
	err := m.Sync(ctx)
	if s, _ := m.Member(idx[0]); s.State != ringverify.Revoked {
		t.Fatalf("the mirror never learns of the revocation (Sync: %v); license %d is %v to it", err, idx[0], s.State)
	}
}
