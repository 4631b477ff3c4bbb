package relay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/relay"
	"github.com/licensed/licensed/migrations/pgtest"
	"github.com/licensed/licensed/ringverify"
	"github.com/licensed/licensed/web"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testLog is a real ledger on its own database, served by a real server.
type testLog struct {
	lg  *ledger.Ledger
	url string
}

func newLog(t *testing.T, signer note.Signer, vkey string) *testLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db := pgtest.Pool(t)
	lg := ledger.New(db, ledger.Config{Signer: signer, Period: 20 * time.Millisecond})
	seq := make(chan struct{})
	go func() { lg.RunSequencer(ctx); close(seq) }()
	srv := httptest.NewServer(web.New(web.Config{}, web.Deps{DB: db, Ledger: &web.LedgerDeps{Store: lg.Store(), VerifierKey: vkey}}, slog.New(slog.DiscardHandler)).Handler())
	t.Cleanup(func() { srv.Close(); cancel(); <-seq })
	return &testLog{lg: lg, url: srv.URL}
}

func (l *testLog) appendLicenses(t *testing.T, n int, plan string, today time.Time) []uint64 {
	t.Helper()
	acct, err := issuer.NewAccount(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idx := make([]uint64, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			out, err := issuer.Mint(rand.Reader, acct.Address(), issuer.Payload{Plan: plan, NotBefore: today, NotAfter: today.AddDate(0, 0, 30), DailyQuota: 5})
			if err == nil {
				idx[i], err = l.lg.Append(context.Background(), &ledger.LicenseEntry{Plan: plan, NotBefore: today, NotAfter: today.AddDate(0, 0, 30), R: out.R, P: out.P, ViewTag: out.ViewTag, Sealed: out.Sealed})
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	return idx
}

func keys(t *testing.T, name string) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

// TestMirrorSync follows a growing ledger across partial and full tiles and
// a revocation, and agrees with the server's own index at every step.
func TestMirrorSync(t *testing.T) {
	ctx := context.Background()
	signer, vkey := keys(t, "relay.test/ledger")
	l := newLog(t, signer, vkey)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	c := &relay.Client{URL: l.url}
	m, err := relay.NewMirror(c, vkey)
	if err != nil {
		t.Fatal(err)
	}
	index := ledger.NewIndex()
	var all []uint64
	for step, n := range []int{3, 250, 10, 300} {
		all = append(all, l.appendLicenses(t, n, "basic", today)...)
		if step == 2 {
			if _, err := l.lg.Append(ctx, &ledger.RevokeEntry{Target: all[5], Reason: ledger.RevokeRefund}); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Sync(ctx); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if err := index.Sync(ctx, l.lg.Store()); err != nil {
			t.Fatal(err)
		}
		if got, want := m.Checkpoint().Size, int64(index.Size()); got != want {
			t.Fatalf("step %d: mirror at %d, ledger at %d", step, got, want)
		}
		if got, want := m.Valid("basic", today), index.Valid("basic", today); !equal(got, want) {
			t.Fatalf("step %d: %d valid in the mirror, %d in the ledger", step, len(got), len(want))
		}
		for _, i := range []uint64{all[0], all[len(all)/2], all[len(all)-1]} {
			got, err1 := m.Member(i)
			want, err2 := index.Member(i)
			if err1 != nil || err2 != nil || got != want {
				t.Fatalf("step %d member %d: %+v %v, want %+v %v", step, i, got, err1, want, err2)
			}
		}
	}
	if mm, _ := m.Member(all[5]); mm.State != ringverify.Revoked {
		t.Fatalf("revoked member is %v", mm.State)
	}
	if _, err := m.Member(1 << 30); !errors.Is(err, ringverify.ErrUnknownMember) {
		t.Fatalf("unknown member: %v", err)
	}
	// Nothing new: Sync is a no-op.
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Follow picks up what comes next.
	fctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { m.Follow(fctx, 20*time.Millisecond, nil); close(done) }()
	more := l.appendLicenses(t, 2, "basic", today)
	deadline := time.Now().Add(10 * time.Second)
	for m.Checkpoint().Size <= int64(max(more[0], more[1])) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	if _, err := m.Member(max(more[0], more[1])); err != nil {
		t.Fatalf("Follow did not pick up new entries: %v", err)
	}
}

// TestMirrorAudit refuses a checkpoint under another key, a rewritten log
// (a fork signed with the right key) and a tampered entry bundle.
func TestMirrorAudit(t *testing.T) {
	ctx := context.Background()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	signer, vkey := keys(t, "relay.test/ledger")
	a := newLog(t, signer, vkey)
	a.appendLicenses(t, 20, "basic", today)

	t.Run("other key", func(t *testing.T) {
		_, other := keys(t, "relay.test/ledger")
		m, _ := relay.NewMirror(&relay.Client{URL: a.url}, other)
		if err := m.Sync(ctx); err == nil || !strings.Contains(err.Error(), "signature") {
			t.Fatalf("Sync under another key: %v", err)
		}
	})
	t.Run("fork", func(t *testing.T) {
		b := newLog(t, signer, vkey) // same key, other history
		b.appendLicenses(t, 30, "basic", today)
		c := &relay.Client{URL: a.url}
		m, _ := relay.NewMirror(c, vkey)
		if err := m.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		before := m.Checkpoint()
		c.URL = b.url
		if err := m.Sync(ctx); !errors.Is(err, relay.ErrFork) {
			t.Fatalf("Sync across a fork: %v", err)
		}
		if m.Checkpoint() != before {
			t.Fatal("a refused Sync changed the mirror")
		}
	})
	t.Run("tampered bundle", func(t *testing.T) {
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			resp, err := http.Get(a.url + r.URL.Path)
			if err != nil {
				http.Error(w, err.Error(), 502)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.HasPrefix(r.URL.Path, "/ledger/tile/entries/") {
				body = bytes.Clone(body)
				body[len(body)-1] ^= 1 // the last entry's sealed payload
			}
			w.WriteHeader(resp.StatusCode)
			w.Write(body)
		}))
		defer proxy.Close()
		m, _ := relay.NewMirror(&relay.Client{URL: proxy.URL}, vkey)
		if err := m.Sync(ctx); err == nil || !strings.Contains(err.Error(), "does not match the signed tree") {
			t.Fatalf("Sync of a tampered bundle: %v", err)
		}
		if m.Checkpoint().Size != 0 {
			t.Fatal("a refused Sync changed the mirror")
		}
	})
}

// TestClientErrors maps the server's refusals to *relay.Error.
func TestClientErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/admit":
			w.WriteHeader(409)
			w.Write([]byte(`{"code":"tag_used","message":"used"}`))
		default:
			w.WriteHeader(502)
			w.Write([]byte(`<html>bad gateway</html>`))
		}
	}))
	defer srv.Close()
	c := &relay.Client{URL: srv.URL}
	cases := []struct {
		name   string
		call   func() error
		status int
		code   string
	}{
		{"coded refusal", func() error { _, err := c.Admit(context.Background(), nil); return err }, 409, "tag_used"},
		{"not JSON", func() error { _, err := c.Valid(context.Background(), "basic"); return err }, 502, "http_502"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e *relay.Error
			if err := tc.call(); !errors.As(err, &e) || e.Status != tc.status || e.Code != tc.code {
				t.Fatalf("%v, want %d %s", err, tc.status, tc.code)
			}
		})
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
