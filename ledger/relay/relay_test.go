package relay_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/ledger/relay"
	"github.com/licensed/licensed/ledger/tlogclient"
	"github.com/licensed/licensed/ringverify"
	"github.com/licensed/licensed/web"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testLog is a real ledger on its own database, served by a real server.
type testLog struct {
	db  *pgxpool.Pool
	lg  *pgledger.Ledger
	url string
}

func newLog(t *testing.T, signer note.Signer, vkey string) *testLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db := pgtest.Pool(t)
	lg := pgledger.New(db, pgledger.Config{Signer: signer, Period: 20 * time.Millisecond})
	seq := make(chan struct{})
	go func() { lg.RunSequencer(ctx); close(seq) }()
	srv := httptest.NewServer(web.New(web.Config{}, web.Deps{DB: db, Ledger: &web.LedgerDeps{Store: lg.Store(), VerifierKey: vkey}}, slog.New(slog.DiscardHandler)).Handler())
	t.Cleanup(func() { srv.Close(); cancel(); <-seq })
	return &testLog{db: db, lg: lg, url: srv.URL}
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
		proxy := newProxy(t, a.url, func(path string, body []byte) []byte {
			if strings.HasPrefix(path, "/ledger/tile/entries/") {
				body[len(body)-1] ^= 1 // the last entry's sealed payload
			}
			return body
		})
		m, _ := relay.NewMirror(&relay.Client{URL: proxy}, vkey)
		var ee *tlogclient.EntryError
		if err := m.Sync(ctx); !errors.As(err, &ee) || ee.Index != 19 || !errors.Is(err, tlogclient.ErrMismatch) {
			t.Fatalf("Sync of a tampered bundle: %v, want entry 19 refused", err)
		}
		if m.Checkpoint().Size != 0 || m.Valid("basic", today) != nil {
			t.Fatal("a refused Sync changed the mirror")
		}
	})
	t.Run("tampered hash tile after a good sync", func(t *testing.T) {
		var tamper atomic.Bool
		proxy := newProxy(t, a.url, func(path string, body []byte) []byte {
			if tamper.Load() && strings.HasPrefix(path, "/ledger/tile/0/") {
				body[len(body)-1] ^= 1
			}
			return body
		})
		m, _ := relay.NewMirror(&relay.Client{URL: proxy}, vkey)
		if err := m.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		before, valid := m.Checkpoint(), m.Valid("basic", today)
		a.appendLicenses(t, 3, "basic", today)
		tamper.Store(true)
		if err := m.Sync(ctx); !errors.Is(err, tlogclient.ErrMismatch) {
			t.Fatalf("Sync over a tampered hash tile: %v", err)
		}
		if m.Checkpoint() != before || !equal(m.Valid("basic", today), valid) {
			t.Fatal("a refused Sync changed the mirror")
		}
		tamper.Store(false)
		if err := m.Sync(ctx); err != nil || m.Checkpoint().Size != before.Size+3 {
			t.Fatalf("Sync once the tiles are right again: %v, size %d", err, m.Checkpoint().Size)
		}
	})
	t.Run("server error", func(t *testing.T) {
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}))
		defer proxy.Close()
		m, _ := relay.NewMirror(&relay.Client{URL: proxy.URL}, vkey)
		var e *relay.Error
		if err := m.Sync(ctx); !errors.As(err, &e) || e.Status != http.StatusServiceUnavailable || e.Code != "http_503" {
			t.Fatalf("Sync against a failing server: %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		arrived := make(chan struct{}, 1)
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/ledger/tile/entries/") {
				arrived <- struct{}{}
				<-r.Context().Done() // held until the relay gives up
				return
			}
			http.Redirect(w, r, a.url+r.URL.Path, http.StatusFound)
		}))
		defer proxy.Close()
		m, _ := relay.NewMirror(&relay.Client{URL: proxy.URL}, vkey)
		sctx, cancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- m.Sync(sctx) }()
		<-arrived
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Sync after cancelling: %v", err)
		}
		if m.Checkpoint().Size != 0 {
			t.Fatal("a cancelled Sync changed the mirror")
		}
	})
}

// TestMirrorSuspensions: the mirror follows the server's suspension feed:
// a suspended license is Suspended and out of the valid list after one
// Sync, active again after its suspension is lifted, as in the server's own
// index; a revocation (a ledger entry) as before. A feed tile changed on the
// way, or a feed rewritten, stops the sync.
func TestMirrorSuspensions(t *testing.T) {
	ctx := context.Background()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	signer, vkey := keys(t, "relay.test/ledger")
	l := newLog(t, signer, vkey)
	idx := l.appendLicenses(t, 3, "basic", today)
	feedSize := func() int64 {
		_, n, err := l.lg.Store().LatestSuspensions(ctx)
		if err != nil {
			return -1
		}
		return n
	}
	suspend := func(f func(context.Context, pgx.Tx, uint64) error, i uint64) {
		t.Helper()
		before := feedSize()
		if err := pgx.BeginFunc(ctx, l.db, func(tx pgx.Tx) error { return f(ctx, tx, i) }); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); feedSize() == before; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the sequencer did not publish the change in the feed within 10 s")
			}
		}
	}
	suspend(pgledger.Suspend, idx[0])
	if _, err := l.lg.Append(ctx, &ledger.RevokeEntry{Target: idx[1], Reason: ledger.RevokeRefund}); err != nil {
		t.Fatal(err)
	}
	index := ledger.NewIndex()
	if err := index.Sync(ctx, l.lg.Store()); err != nil {
		t.Fatal(err)
	}
	m, _ := relay.NewMirror(&relay.Client{URL: l.url}, vkey)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, i := range idx {
		got, _ := m.Member(i)
		want, _ := index.Member(i)
		if got.State != want.State {
			t.Fatalf("license %d: the mirror has it %v, the server's index %v", i, got.State, want.State)
		}
	}
	if s, _ := m.Member(idx[0]); s.State != ringverify.Suspended {
		t.Fatalf("the mirror has the suspended license as %v", s.State)
	}
	if s, _ := m.Member(idx[1]); s.State != ringverify.Revoked {
		t.Fatalf("the mirror has the revoked license as %v", s.State)
	}
	if v := m.Valid("basic", today); !equal(v, idx[2:]) {
		t.Fatalf("the mirror's valid list is %v, want %v", v, idx[2:])
	}
	if n, sus := m.Suspensions(); n != 1 || !equal(sus, idx[:1]) {
		t.Fatalf("the mirror's feed: size %d, %v", n, sus)
	}

	// A tile changed on the way: the sync fails and the mirror keeps its
	// state; the lift reaches it through the real server.
	suspend(pgledger.Unsuspend, idx[0])
	suspend(pgledger.Suspend, idx[2])
	tampered := newProxy(t, l.url, func(path string, body []byte) []byte {
		if strings.HasPrefix(path, "/ledger/suspensions/tile/") && len(body) > 0 {
			body = append([]byte(nil), body...)
			body[len(body)-1] ^= 1
		}
		return body
	})
	mt, _ := relay.NewMirror(&relay.Client{URL: tampered}, vkey)
	if err := mt.Sync(ctx); err == nil {
		t.Fatal("a changed feed tile passed")
	}
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s, _ := m.Member(idx[0]); s.State != ringverify.Active {
		t.Fatalf("after the lift the mirror has the license as %v", s.State)
	}
	if v := m.Valid("basic", today); len(v) != 1 || v[0] != idx[0] {
		t.Fatalf("after the lift and a new suspension, valid %v, want [%d]", v, idx[0])
	}

	// A server that shows another feed history of the same size (signed
	// with the ledger's key, as a compromised server could): a fork.
	forged := newProxy(t, l.url, func(path string, body []byte) []byte {
		if path == "/ledger/suspensions/checkpoint" {
			b, _ := ledger.SignSuspensionCheckpoint(ledger.SuspensionCheckpoint{Origin: ledger.SuspensionOrigin(signer.Name()), Size: 3}, signer)
			return b
		}
		return body
	})
	c := &relay.Client{URL: l.url}
	mf, _ := relay.NewMirror(c, vkey)
	if err := mf.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	c.URL = forged
	if err := mf.Sync(ctx); !errors.Is(err, relay.ErrFork) {
		t.Fatalf("a rewritten feed of the same size: %v, want ErrFork", err)
	}
}

// newProxy serves target's answers, each body changed by change, and
// returns its URL.
func newProxy(t *testing.T, target string, change func(path string, body []byte) []byte) string {
	t.Helper()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(target + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		w.Write(change(r.URL.Path, body))
	}))
	t.Cleanup(proxy.Close)
	return proxy.URL
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
