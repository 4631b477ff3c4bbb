package relay_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/ledger/relay"
	"github.com/licensed/licensed/ringverify"
	"github.com/licensed/licensed/web"
)

// TestLocalSuspensions: a Local verifier refuses a ring with a suspended
// member (member_suspended) after one Sync, and admits the same proof once
// the suspension is lifted and synced, as the server does.
func TestLocalSuspensions(t *testing.T) {
	ctx := context.Background()
	f := admissiontest.New(t, pgtest.Pool(t), 30)
	srv := httptest.NewServer(web.New(web.Config{}, web.Deps{DB: f.DB, Ledger: &web.LedgerDeps{Store: f.Ledger.Store(), VerifierKey: f.VerifierKey}}, slog.New(slog.DiscardHandler)).Handler())
	t.Cleanup(srv.Close)
	m, err := relay.NewMirror(&relay.Client{URL: srv.URL}, f.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	local, err := relay.NewLocal(m, admission.Config{Network: admissiontest.Network, Quota: admissiontest.Quota})
	if err != nil {
		t.Fatal(err)
	}
	sus := f.Special["suspended"]
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	ring[(pi+1)%len(ring)] = sus
	req := f.Prove(t, c, ring, pi, admissiontest.Scope(time.Now()), 0, []byte("a block"))
	if _, err := local.Admit(ctx, req); admission.Code(err) != "member_suspended" {
		t.Fatalf("a ring with a suspended member, after one Sync: %v, want member_suspended", err)
	}

	// Lifted on the server: the next Sync after the sequencer published
	// the lift admits the same proof.
	_, before, err := f.Ledger.Store().LatestSuspensions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, f.DB, func(tx pgx.Tx) error { return pgledger.Unsuspend(ctx, tx, sus) }); err != nil {
		t.Fatal(err)
	}
	waitFeedSize(t, f.Ledger.Store(), before+1)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if res, err := local.Admit(ctx, req); err != nil || !res.Admitted {
		t.Fatalf("the same proof after the lift: %+v, %v", res, err)
	}
}

// waitFeedSize waits for the sequencer to publish a feed of at least size
// entries.
func waitFeedSize(t *testing.T, s *pgledger.Store, size int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, n, err := s.LatestSuspensions(context.Background()); err == nil && n >= size {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the feed did not reach size %d within 10 s", size)
		}
	}
}

// TestMirrorFeedRefusals: a mirror that has synced refuses a feed
// checkpoint signed by another key, one with another origin (the ledger's
// own checkpoint served as the feed's), an older one (a rollback: ErrFork),
// and a server without the feed (404) is an error, not an empty feed. In
// each case the suspensions it holds stay as they were.
func TestMirrorFeedRefusals(t *testing.T) {
	ctx := context.Background()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	signer, vkey := keys(t, "relay.test/ledger")
	l := newLog(t, signer, vkey)
	idx := l.appendLicenses(t, 3, "basic", today)
	for n, i := range idx[:2] {
		if err := pgx.BeginFunc(ctx, l.db, func(tx pgx.Tx) error { return pgledger.Suspend(ctx, tx, i) }); err != nil {
			t.Fatal(err)
		}
		waitFeedSize(t, l.lg.Store(), int64(n+1))
	}
	notes, err := l.lg.Store().SuspensionCheckpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	var older []byte // the signed checkpoint of size 1
	for _, n := range notes {
		if cp, err := ledger.OpenSuspensionCheckpoint(n, verifier); err == nil && cp.Size == 1 {
			older = n
		}
	}
	if older == nil {
		t.Fatalf("no feed checkpoint of size 1 among %d", len(notes))
	}
	otherSigner, _ := keys(t, "relay.test/ledger") // same name, another key
	otherNote, err := ledger.SignSuspensionCheckpoint(ledger.SuspensionCheckpoint{Origin: ledger.SuspensionOrigin(otherSigner.Name()), Size: 2}, otherSigner)
	if err != nil {
		t.Fatal(err)
	}
	ledgerNote, err := l.lg.Store().Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}

	c := &relay.Client{URL: l.url}
	m, _ := relay.NewMirror(c, vkey)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(idx[:2]))
	held := func(name string) {
		t.Helper()
		n, sus := m.Suspensions()
		if slices.Sort(sus); n != 2 || !slices.Equal(sus, want) {
			t.Fatalf("%s: the mirror holds a feed of size %d with %v suspended, want 2 with %v", name, n, sus, want)
		}
		if s, _ := m.Member(idx[0]); s.State != ringverify.Suspended {
			t.Fatalf("%s: license %d is %v to the mirror", name, idx[0], s.State)
		}
	}
	held("first sync")

	serving := func(checkpoint []byte, status int) string {
		return newStatusProxy(t, l.url, func(path string) ([]byte, int, bool) {
			if path == "/ledger/suspensions/checkpoint" {
				return checkpoint, status, true
			}
			if status == http.StatusNotFound && strings.HasPrefix(path, "/ledger/suspensions/") {
				return []byte(`{"code":"not_found"}`), status, true
			}
			return nil, 0, false
		})
	}
	for _, tc := range []struct {
		name   string
		url    string
		check  func(error) bool
		expect string
	}{
		{"another key", serving(otherNote, 200), func(err error) bool {
			return errors.Is(err, ledger.ErrBadSuspensionFeed) && !errors.Is(err, relay.ErrFork)
		}, "ErrBadSuspensionFeed"},
		{"the ledger's checkpoint", serving(ledgerNote.Note, 200), func(err error) bool { return errors.Is(err, ledger.ErrBadSuspensionFeed) }, "ErrBadSuspensionFeed"},
		{"a rollback", serving(older, 200), func(err error) bool { return errors.Is(err, relay.ErrFork) }, "ErrFork"},
		{"no feed (404)", serving(nil, http.StatusNotFound), func(err error) bool {
			var re *relay.Error
			return errors.As(err, &re) && re.Status == http.StatusNotFound
		}, "a *relay.Error of status 404"},
	} {
		c.URL = tc.url
		if err := m.Sync(ctx); !tc.check(err) {
			t.Errorf("%s: Sync returned %v, want %s", tc.name, err, tc.expect)
		}
		held(tc.name)
	}

	// A new mirror whose server has no feed is not silently empty either.
	fresh, _ := relay.NewMirror(&relay.Client{URL: serving(nil, http.StatusNotFound)}, vkey)
	if err := fresh.Sync(ctx); err == nil {
		t.Fatal("a server without the feed synced")
	}
	if n, _ := fresh.Suspensions(); n != 0 {
		t.Fatalf("a mirror that read no feed holds a feed of size %d", n)
	}

	// The real server again: the mirror carries on.
	c.URL = l.url
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	held("back on the real server")
}

// newStatusProxy serves target's answers, except where replace returns
// ok: then its body and status.
func newStatusProxy(t *testing.T, target string, replace func(path string) ([]byte, int, bool)) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body, status, ok := replace(r.URL.Path); ok {
			w.WriteHeader(status)
			w.Write(body)
			return
		}
		resp, err := http.Get(target + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	t.Cleanup(s.Close)
	return s.URL
}
