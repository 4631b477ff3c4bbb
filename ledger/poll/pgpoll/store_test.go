package pgpoll

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/poll"
	"github.com/licensed/licensed/ringverify"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var opens = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func secret(i uint64) *ristretto255.Scalar {
	return ringverify.HashToScalar("test", binary.BigEndian.AppendUint64(nil, i))
}

// testLedger is a ledger of n "pro" licenses valid around opens, then
// 11 "basic" ones, then 11 "pro" ones that expired before opens, then a
// revocation of license 3, as entries (for poll.NewElectorate) and as an
// index (for the store).
type testLedger struct {
	entries [][]byte
	index   *ledger.Index
}

const (
	basicFrom   = 20
	expiredFrom = 31
)

func newTestLedger(t testing.TB) *testLedger {
	day := opens.Truncate(24 * time.Hour)
	l := &testLedger{index: ledger.NewIndex()}
	add := func(i uint64, plan string, nb, na time.Time) {
		e := &ledger.LicenseEntry{Plan: plan, NotBefore: nb, NotAfter: na, ViewTag: 1, Sealed: []byte("s")}
		copy(e.P[:], ristretto255.NewIdentityElement().ScalarBaseMult(secret(i)).Bytes())
		copy(e.R[:], e.P[:])
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		l.entries = append(l.entries, b)
	}
	for i := range uint64(basicFrom) {
		add(i, "pro", day.AddDate(0, 0, -1), day.AddDate(0, 0, 30))
	}
	for i := uint64(basicFrom); i < expiredFrom; i++ {
		add(i, "basic", day.AddDate(0, 0, -1), day.AddDate(0, 0, 30))
	}
	for i := uint64(expiredFrom); i < expiredFrom+11; i++ {
		add(i, "pro", day.AddDate(0, 0, -30), day.AddDate(0, 0, -1))
	}
	rv, _ := (&ledger.RevokeEntry{Target: 3, Reason: 1}).MarshalBinary()
	l.entries = append(l.entries, rv)
	if err := l.index.Append(0, l.entries); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *testLedger) keys(ring []uint64) []*ristretto255.Element {
	ks := make([]*ristretto255.Element, len(ring))
	for i, idx := range ring {
		ks[i] = ristretto255.NewIdentityElement().ScalarBaseMult(secret(idx))
	}
	return ks
}

func vote(t testing.TB, l *testLedger, st *Stored, ring []uint64, pi, option int) *poll.Request {
	t.Helper()
	proof, err := ringverify.Sign(rand.Reader, secret(ring[pi]), l.keys(ring), pi, st.Poll.Scope(), 0, poll.Message(st.Hash, option))
	if err != nil {
		t.Fatal(err)
	}
	return poll.NewRequest(option, ring, proof)
}

func ring(from, to int, except ...int) []uint64 {
	var out []uint64
	for i := from; i < to; i++ {
		skip := false
		for _, e := range except {
			skip = skip || e == i
		}
		if !skip {
			out = append(out, uint64(i))
		}
	}
	return out
}

func TestCastAndRecount(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	skey, vkey, err := note.GenerateKey(rand.Reader, "example.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	l := newTestLedger(t)
	s, err := New(db, signer, l.index)
	if err != nil {
		t.Fatal(err)
	}
	p := &poll.Poll{ID: "icon", Question: "Which colour?", Options: []string{"blue", "green", "orange"}, Plans: []string{"pro"},
		Opens: opens, Closes: opens.Add(24 * time.Hour), Electorate: uint64(len(l.entries)), MinRing: 11}
	st, err := s.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, p); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	now := opens.Add(time.Hour)
	// 16 licenses vote concurrently (all but the revoked license 3).
	voters := ring(0, 17, 3)
	pro := ring(0, basicFrom, 3)
	want := make([]int64, 3)
	var wg sync.WaitGroup
	errs := make(chan error, len(voters))
	for k, v := range voters {
		want[k%3]++
		wg.Go(func() {
			pi := 0
			for i, r := range pro {
				if r == v {
					pi = i
				}
			}
			_, err := s.Cast(ctx, p.ID, vote(t, l, st, pro, pi, k%3), now)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	refusals := []struct {
		name string
		req  *poll.Request
		now  time.Time
		code string
	}{
		{"double vote, other option", vote(t, l, st, pro, 0, 2), now, "already_voted"},
		{"double vote, same option", vote(t, l, st, pro, 1, 0), now, "already_voted"},
		{"ineligible plan", vote(t, l, st, ring(basicFrom, expiredFrom), 0, 0), now, "plan_not_eligible"},
		{"expired member", vote(t, l, st, append(ring(expiredFrom, expiredFrom+11), 0), 0, 0), now, "member_expired"},
		{"revoked member", vote(t, l, st, ring(0, 12), 3, 0), now, "member_revoked"},
		{"ring too small", vote(t, l, st, ring(0, 10), 0, 0), now, "ring_too_small"},
		{"before opening", vote(t, l, st, ring(17, 20), 0, 0), opens.Add(-time.Second), "poll_not_open"},
		{"after close", vote(t, l, st, append(ring(17, 20), ring(4, 12)...), 0, 0), p.Closes, "poll_closed"},
		{"bad option", vote(t, l, st, append(ring(17, 20), ring(4, 12)...), 0, 5), now, "bad_option"},
		{"unknown member", vote(t, l, st, append(ring(17, 20), ring(4, 11)...), 0, 0), now, ""},
	}
	for _, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "unknown member" {
				tc.req.Ring[len(tc.req.Ring)-1] = 1 << 40
				tc.code = "member_unknown"
			}
			_, err := s.Cast(ctx, p.ID, tc.req, tc.now)
			if code := codeOf(err); code != tc.code {
				t.Fatalf("got %v (%q), want code %q", err, code, tc.code)
			}
		})
	}
	// A ring beyond the server's bound is refused before any lookup.
	big := &poll.Request{Ring: ring(0, DefaultMaxRing+1), Tag: make([]byte, 32), Signature: make([]byte, ringverify.ProofSize(DefaultMaxRing+1)-32)}
	if _, err := s.Cast(ctx, p.ID, big, now); codeOf(err) != "ring_too_large" {
		t.Fatalf("a ring of %d: %v", DefaultMaxRing+1, err)
	}
	counts, err := s.Counts(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(counts) != 3 || counts[0] != want[0] || counts[1] != want[1] || counts[2] != want[2] {
		t.Fatalf("counts %v, want %v", counts, want)
	}
	ls, err := s.Summaries(ctx, 10, func(*poll.Poll) bool { return true })
	if err != nil || len(ls) != 1 || ls[0].Ballots != int64(len(voters)) || fmt.Sprint(ls[0].Counts) != fmt.Sprint(want) {
		t.Fatalf("summaries %+v %v, want %d ballots %v", ls, err, len(voters), want)
	}
	// The public log recounts to the same tally, under its signed checkpoint.
	pg, err := s.Page(ctx, p.ID, 0, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := poll.OpenCheckpoint([]byte(pg.Checkpoint), verifier, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != int64(len(voters))+1 || len(pg.Ballots) != len(voters)+1 {
		t.Fatalf("checkpoint size %d, %d leaves", cp.Size, len(pg.Ballots))
	}
	e, err := poll.NewElectorate(l.entries)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := poll.NewVerifier(e)
	rc, _ := poll.NewRecount(p, v)
	for i, lv := range pg.Ballots {
		var proof tlog.RecordProof
		for _, h := range lv.Proof {
			proof = append(proof, tlog.Hash(h))
		}
		if err := poll.CheckInclusion(cp, lv.Index, lv.Leaf, proof); err != nil {
			t.Fatalf("leaf %d: %v", i, err)
		}
		if i == 0 {
			continue
		}
		b, err := poll.ParseBallot(lv.Leaf)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.SetSize(b.LedgerSize); err != nil {
			t.Fatal(err)
		}
		if err := rc.Add(lv.Index, b); err != nil {
			t.Fatalf("recount of leaf %d: %v", i, err)
		}
	}
	if got := rc.Counts(); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("recount %v, want %v", got, want)
	}
	// The log is append-only.
	if _, err := db.Exec(ctx, `update poll_leaves set option = 0 where poll_id = $1 and idx = 1`, p.ID); err == nil {
		t.Fatal("a ballot could be changed")
	}
	if _, err := db.Exec(ctx, `delete from polls`); err == nil {
		t.Fatal("a poll could be deleted")
	}
}

func codeOf(err error) string {
	var c interface{ Code() string }
	if errors.As(err, &c) {
		return c.Code()
	}
	return ringverify.Code(err)
}
