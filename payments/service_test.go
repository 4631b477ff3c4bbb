package payments_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/internal/launch/stripemock"
	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/ringverify"
)

func TestCreateOrder(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	addr := newAccount(t).Address().String()
	// Another valid bech32 character at the end: the checksum fails.
	typo := []byte(addr)
	if typo[len(typo)-1] == 'q' {
		typo[len(typo)-1] = 'p'
	} else {
		typo[len(typo)-1] = 'q'
	}
	tests := []struct {
		name                  string
		plan, address, method string
		code                  string // "" for success
	}{
		{"ok", "basic-30d", addr, "card", ""},
		{"ok, upper case address", "pro-365d", stringsToUpper(addr), "card", ""},
		{"unknown plan", "gold", addr, "card", "plan_unknown"},
		{"method not offered", "basic-30d", addr, "btc", "method_unavailable"},
		{"unknown method", "basic-30d", addr, "cash", "method_unavailable"},
		{"no address", "basic-30d", " ", "card", "address_missing"},
		{"address typo", "basic-30d", string(typo), "card", "address_checksum"},
		{"not an address", "basic-30d", "bc1qxyz", "card", "address_is_bitcoin"},
		{"not an address at all", "basic-30d", "hello", "card", "address_malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, pay, err := e.Service.CreateOrder(ctx, tt.plan, tt.address, tt.method)
			if tt.code != "" {
				var c interface{ Code() string }
				if !errors.As(err, &c) || c.Code() != tt.code {
					t.Fatalf("err = %v, want code %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !payments.ValidOrderID(o.ID) || o.State != payments.StateNew || o.Plan != tt.plan {
				t.Fatalf("order %+v", o)
			}
			if u, _ := pay["checkout_url"].(string); u == "" {
				t.Fatalf("no checkout_url in %v", pay)
			}
			var session string
			var stored string
			if err := e.DB.QueryRow(ctx, `select stripe_session, address from orders where id = $1`, o.ID).Scan(&session, &stored); err != nil {
				t.Fatal(err)
			}
			if session == "" || stored != addr {
				t.Fatalf("stored session %q, address %q; want the session and the canonical address", session, stored)
			}
		})
	}
	var n int
	e.DB.QueryRow(ctx, `select count(*) from orders`).Scan(&n)
	if n != 2 {
		t.Fatalf("%d orders stored, want 2 (refused requests store nothing)", n)
	}
}

func stringsToUpper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// TestSettleOpenScan is the customer's end to end: a new account orders,
// pays, and finds exactly its license on the ledger by scanning, and opens it.
func TestSettleOpenScan(t *testing.T) {
	e := newEnv(t, true)
	ctx := context.Background()
	acct := newAccount(t)
	o, _, err := e.Service.CreateOrder(ctx, "pro-365d", acct.Address().String(), "card")
	if err != nil {
		t.Fatal(err)
	}
	// Someone else's order in the same round.
	other := e.CardOrder("pro-365d")
	paidAt := time.Now()
	e.Settle(o.ID)
	e.Settle(other)
	e.WaitSequenced()

	entries := e.Entries()
	if len(entries) != 2 {
		t.Fatalf("%d entries, want 2", len(entries))
	}
	var outs []issuer.Output
	for _, en := range entries {
		le := en.(*ledger.LicenseEntry)
		outs = append(outs, issuer.Output{R: le.R, P: le.P, ViewTag: le.ViewTag, Sealed: le.Sealed})
	}
	found := acct.ScanOutputs(outs, 1)
	if len(found) != 1 || found[0].Err != nil {
		t.Fatalf("scan found %+v, want exactly one license", found)
	}
	lic := found[0].License
	nb, na := issuer.Validity(paidAt, 365)
	if lic.Payload.Plan != "pro-365d" || lic.Payload.DailyQuota != 1000 || !lic.Payload.NotBefore.Equal(nb) || !lic.Payload.NotAfter.Equal(na) {
		t.Fatalf("payload %+v, want pro-365d, quota 1000, %v–%v", lic.Payload, nb, na)
	}
	le := entries[found[0].Position].(*ledger.LicenseEntry)
	if !le.NotBefore.Equal(nb) || !le.NotAfter.Equal(na) || le.Plan != "pro-365d" {
		t.Fatalf("entry public fields %+v", le)
	}
	idx, ok := e.Link(o.ID)
	if !ok || idx != uint64(found[0].Position) {
		t.Fatalf("link = %d, %v; want %d", idx, ok, found[0].Position)
	}
	m, err := e.Index.Member(idx)
	if err != nil || m.State != ringverify.Active {
		t.Fatalf("index member %+v, %v", m, err)
	}
	got := e.Order(o.ID)
	if got.State != payments.StateSettled || got.License != payments.LicenseActive || !got.Minted() || got.Address != "" {
		t.Fatalf("order after minting: %+v", got)
	}
	// No license address is left anywhere in the orders table.
	var n int
	if err := e.DB.QueryRow(ctx, `select count(*) from orders where address is not null`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d orders still hold an address (%v)", n, err)
	}
	e.Balanced()
	e.Fsck()
}

// TestTransitionExactlyOnce settles one order from many goroutines and
// events at once: one license entry.
func TestTransitionExactlyOnce(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	id := e.CardOrder("basic-30d")
	var wg sync.WaitGroup
	var mu sync.Mutex
	changed := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := pgx.BeginFunc(ctx, e.DB, func(tx pgx.Tx) error {
				c, err := e.Service.Transition(ctx, tx, id, payments.StateSettled, 0, "test")
				if c {
					mu.Lock()
					changed++
					mu.Unlock()
				}
				return err
			})
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	e.WaitSequenced()
	if changed != 1 {
		t.Fatalf("%d transitions to settled, want 1", changed)
	}
	if n := len(e.Entries()); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
	idx, ok := e.Link(id)
	if !ok {
		t.Fatal("no link after minting")
	}

	// A Bitcoin-style reorg: settled → processing suspends the license,
	// processing → settled restores it, and mints nothing new.
	step := func(to payments.State, want payments.LicenseState, wantMember ringverify.State) {
		t.Helper()
		if err := pgx.BeginFunc(ctx, e.DB, func(tx pgx.Tx) error {
			c, err := e.Service.Transition(ctx, tx, id, to, 0, "reorg test")
			if err == nil && !c {
				t.Errorf("transition to %s refused", to)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		e.WaitSequenced()
		if o := e.Order(id); o.State != to || o.License != want {
			t.Fatalf("after %s: order %s, license %s; want license %s", to, o.State, o.License, want)
		}
		if m, err := e.Index.Member(idx); err != nil || m.State != wantMember {
			t.Fatalf("after %s: index member %+v, %v; want %v", to, m, err, wantMember)
		}
	}
	step(payments.StateProcessing, payments.LicenseSuspended, ringverify.Suspended)
	step(payments.StateSettled, payments.LicenseActive, ringverify.Active)
	if n := len(e.Entries()); n != 1 {
		t.Fatalf("%d entries after the reorg, want 1", n)
	}
}

func TestTransitionRules(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	tests := []struct {
		name    string
		path    []payments.State
		flags   payments.Flags // set on the last step
		changed bool           // of the last step
		final   payments.State
		minted  bool
	}{
		{"new to expired", []payments.State{payments.StateExpired}, 0, true, payments.StateExpired, false},
		{"expired to settled refused", []payments.State{payments.StateExpired, payments.StateSettled}, 0, false, payments.StateExpired, false},
		{"expired to settled marked", []payments.State{payments.StateExpired, payments.StateSettled}, payments.FlagMarked | payments.FlagPaidLate, true, payments.StateSettled, true},
		{"settled to expired ignored", []payments.State{payments.StateSettled, payments.StateExpired}, 0, false, payments.StateSettled, true},
		{"processing to invalid", []payments.State{payments.StateProcessing, payments.StateInvalid}, 0, true, payments.StateInvalid, false},
		{"invalid is final", []payments.State{payments.StateProcessing, payments.StateInvalid, payments.StateSettled}, 0, false, payments.StateInvalid, false},
		{"same state adds flags", []payments.State{payments.StateProcessing, payments.StateProcessing}, payments.FlagPaidPartial, true, payments.StateProcessing, false},
		{"same state, same flags", []payments.State{payments.StateProcessing, payments.StateProcessing}, 0, false, payments.StateProcessing, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := e.CardOrder("basic-30d")
			var last bool
			for i, to := range tt.path {
				var flags payments.Flags
				if i == len(tt.path)-1 {
					flags = tt.flags
				}
				err := pgx.BeginFunc(ctx, e.DB, func(tx pgx.Tx) error {
					var err error
					last, err = e.Service.Transition(ctx, tx, id, to, flags, "test")
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			o := e.Order(id)
			if last != tt.changed || o.State != tt.final || (o.License != payments.LicenseNone) != tt.minted {
				t.Fatalf("changed %v, order %s license %q; want %v, %s, minted %v", last, o.State, o.License, tt.changed, tt.final, tt.minted)
			}
			if o.Flags&tt.flags != tt.flags {
				t.Fatalf("flags %s, want %s set", o.Flags, tt.flags)
			}
		})
	}
	err := pgx.BeginFunc(ctx, e.DB, func(tx pgx.Tx) error {
		_, err := e.Service.Transition(ctx, tx, "aaaaaaaaaaaaaaaaaaaaaaaaaa", payments.StateSettled, 0, "test")
		return err
	})
	if !errors.Is(err, payments.ErrOrderNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
}

// stripeProxy stands between the card method and stripe-mock. On every call
// it records the idempotency key, runs during (the test's look at the
// database while the call is in flight), and then either answers with a
// Stripe error (the first fail calls, or all when fail < 0) or forwards to
// stripe-mock and records the session id stripe-mock created.
type stripeProxy struct {
	during func(ctx context.Context) error
	status int // of the errors
	fail   int

	mu       sync.Mutex
	keys     []string
	sessions []string
	errs     []error
	proxy    *httputil.ReverseProxy
}

func newStripeProxy(t *testing.T, stripeMock string) (*stripeProxy, string) {
	t.Helper()
	u, err := url.Parse(stripeMock)
	if err != nil {
		t.Fatal(err)
	}
	p := &stripeProxy{proxy: httputil.NewSingleHostReverseProxy(u)}
	p.proxy.ModifyResponse = func(resp *http.Response) error {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		var sess struct{ ID string }
		json.Unmarshal(b, &sess)
		p.mu.Lock()
		p.sessions = append(p.sessions, sess.ID)
		p.mu.Unlock()
		return nil
	}
	hs := httptest.NewServer(p)
	t.Cleanup(hs.Close)
	return p, hs.URL
}

func (p *stripeProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.keys = append(p.keys, r.Header.Get("Idempotency-Key"))
	fail := p.fail != 0
	if p.fail > 0 {
		p.fail--
	}
	p.mu.Unlock()
	if p.during != nil {
		if err := p.during(r.Context()); err != nil {
			p.mu.Lock()
			p.errs = append(p.errs, err)
			p.mu.Unlock()
		}
	}
	if fail {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(p.status)
		io.WriteString(w, `{"error":{"type":"api_error","message":"the test's Stripe fails"}}`)
		return
	}
	p.proxy.ServeHTTP(w, r)
}

// TestCardOrderStripeCall: the card method's call to Stripe (stripe-mock,
// behind a proxy that can fail it) is made while the service holds no
// database connection and the database has no open transaction, whether
// Stripe answers, fails or needs a retry; retries carry the order's
// idempotency key; a failure stores nothing and answers card_unavailable.
func TestCardOrderStripeCall(t *testing.T) {
	stripeMock := stripemock.Start(t)
	ctx := context.Background()
	tests := []struct {
		name     string
		status   int // of the proxy's errors
		fail     int // how many calls fail, -1 all
		attempts int
		ok       bool
	}{
		{"stripe answers", 0, 0, 1, true},
		{"stripe unavailable once, retried", http.StatusServiceUnavailable, 1, 2, true},
		{"stripe unavailable", http.StatusServiceUnavailable, -1, 3, false},
		{"stripe refuses", http.StatusBadRequest, -1, 1, false},
		{"stripe fails, not retried", http.StatusInternalServerError, -1, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dbURL := pgtest.URL(t)
			// The service gets one connection: a call to Stripe made while
			// it holds it leaves none for anyone else.
			pc, err := pgxpool.ParseConfig(dbURL)
			if err != nil {
				t.Fatal(err)
			}
			pc.MaxConns = 1
			db, err := pgxpool.NewWithConfig(ctx, pc)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(db.Close)
			watcher, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { watcher.Close(context.Background()) })

			proxy, apiURL := newStripeProxy(t, stripeMock)
			proxy.status, proxy.fail = tt.status, tt.fail
			// Each look would fail on its own if the call were made inside
			// the order's transaction.
			proxy.during = func(ctx context.Context) error {
				var errs []error
				if n := db.Stat().AcquiredConns(); n != 0 {
					errs = append(errs, fmt.Errorf("the service holds %d connection(s) during the Stripe call", n))
				}
				actx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				if c, err := db.Acquire(actx); err != nil {
					errs = append(errs, fmt.Errorf("no connection of the service's pool is free during the Stripe call: %v", err))
				} else {
					c.Release()
				}
				var open int
				if err := watcher.QueryRow(ctx, `select count(*) from pg_stat_activity
					where datname = current_database() and pid <> pg_backend_pid() and xact_start is not null`).Scan(&open); err != nil {
					errs = append(errs, err)
				} else if open != 0 {
					errs = append(errs, fmt.Errorf("%d transaction(s) open in the database during the Stripe call", open))
				}
				return errors.Join(errs...)
			}
			svc := paytest.NewService(t, db, paytest.NewCard(t, payments.CardConfig{APIURL: apiURL}))

			o, pay, err := svc.CreateOrder(ctx, "basic-30d", newAccount(t).Address().String(), "card")

			proxy.mu.Lock()
			defer proxy.mu.Unlock()
			for _, err := range proxy.errs {
				t.Error(err)
			}
			if len(proxy.keys) != tt.attempts {
				t.Fatalf("%d calls to Stripe, want %d", len(proxy.keys), tt.attempts)
			}
			key := proxy.keys[0]
			id, _ := strings.CutPrefix(key, "licensed-order-")
			if !strings.HasPrefix(key, "licensed-order-") || !payments.ValidOrderID(id) {
				t.Fatalf("idempotency key %q, want licensed-order-<order id>", key)
			}
			for _, k := range proxy.keys {
				if k != key {
					t.Fatalf("idempotency keys %q: a retry must repeat the first", proxy.keys)
				}
			}
			var stored int
			var session string
			if err := watcher.QueryRow(ctx, `select count(*), coalesce(max(stripe_session), '') from orders`).Scan(&stored, &session); err != nil {
				t.Fatal(err)
			}
			if !tt.ok {
				var c interface{ Code() string }
				if !errors.As(err, &c) || c.Code() != "card_unavailable" {
					t.Fatalf("err = %v, want card_unavailable", err)
				}
				if stored != 0 {
					t.Fatalf("%d orders stored after Stripe failed, want none", stored)
				}
				if _, err := svc.Order(ctx, id); !errors.Is(err, payments.ErrOrderNotFound) {
					t.Fatalf("Order(%s) after Stripe failed: %v, want not found", id, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.ID != id {
				t.Fatalf("order %s, idempotency key %q", o.ID, key)
			}
			if u, _ := pay["checkout_url"].(string); u == "" {
				t.Fatalf("no checkout_url in %v", pay)
			}
			if len(proxy.sessions) != 1 || proxy.sessions[0] == "" || stored != 1 || session != proxy.sessions[0] {
				t.Fatalf("%d orders stored with session %q; Stripe created %q", stored, session, proxy.sessions)
			}
			if got, err := svc.Order(ctx, o.ID); err != nil || got.State != payments.StateNew {
				t.Fatalf("stored order %+v, %v; want state new", got, err)
			}
		})
	}
}
