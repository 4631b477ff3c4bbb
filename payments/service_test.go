package payments_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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
		{"not an address", "basic-30d", "bc1qxyz", "card", "address_malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, pay, err := e.svc.CreateOrder(ctx, tt.plan, tt.address, tt.method)
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
			if err := e.db.QueryRow(ctx, `select stripe_session, address from orders where id = $1`, o.ID).Scan(&session, &stored); err != nil {
				t.Fatal(err)
			}
			if session == "" || stored != addr {
				t.Fatalf("stored session %q, address %q; want the session and the canonical address", session, stored)
			}
		})
	}
	var n int
	e.db.QueryRow(ctx, `select count(*) from orders`).Scan(&n)
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
	o, _, err := e.svc.CreateOrder(ctx, "pro-365d", acct.Address().String(), "card")
	if err != nil {
		t.Fatal(err)
	}
	// Someone else's order in the same round.
	other := e.insertOrder(newAccount(t).Address(), "pro-365d")
	paidAt := time.Now()
	e.settle(o.ID)
	e.settle(other)
	e.waitSequenced()

	entries := e.entries()
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
	idx, ok := e.link(o.ID)
	if !ok || idx != uint64(found[0].Position) {
		t.Fatalf("link = %d, %v; want %d", idx, ok, found[0].Position)
	}
	m, err := e.index.Member(idx)
	if err != nil || m.State != ringverify.Active {
		t.Fatalf("index member %+v, %v", m, err)
	}
	got := e.order(o.ID)
	if got.State != payments.StateSettled || got.License != payments.LicenseActive || !got.Minted() || got.Address != "" {
		t.Fatalf("order after minting: %+v", got)
	}
	// No license address is left anywhere in the orders table.
	var n int
	if err := e.db.QueryRow(ctx, `select count(*) from orders where address is not null`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d orders still hold an address (%v)", n, err)
	}
	e.balanced()
	e.fsck()
}

// TestTransitionExactlyOnce settles one order from many goroutines and
// events at once: one license entry.
func TestTransitionExactlyOnce(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	id := e.insertOrder(newAccount(t).Address(), "basic-30d")
	var wg sync.WaitGroup
	var mu sync.Mutex
	changed := 0
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
				c, err := e.svc.Transition(ctx, tx, id, payments.StateSettled, 0, "test")
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
	e.waitSequenced()
	if changed != 1 {
		t.Fatalf("%d transitions to settled, want 1", changed)
	}
	if n := len(e.entries()); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
	idx, ok := e.link(id)
	if !ok {
		t.Fatal("no link after minting")
	}

	// A Bitcoin-style reorg: settled → processing suspends the license,
	// processing → settled restores it, and mints nothing new.
	step := func(to payments.State, want payments.LicenseState, wantMember ringverify.State) {
		t.Helper()
		if err := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
			c, err := e.svc.Transition(ctx, tx, id, to, 0, "reorg test")
			if err == nil && !c {
				t.Errorf("transition to %s refused", to)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		e.waitSequenced()
		if o := e.order(id); o.State != to || o.License != want {
			t.Fatalf("after %s: order %s, license %s; want license %s", to, o.State, o.License, want)
		}
		if m, err := e.index.Member(idx); err != nil || m.State != wantMember {
			t.Fatalf("after %s: index member %+v, %v; want %v", to, m, err, wantMember)
		}
	}
	step(payments.StateProcessing, payments.LicenseSuspended, ringverify.Suspended)
	step(payments.StateSettled, payments.LicenseActive, ringverify.Active)
	if n := len(e.entries()); n != 1 {
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
			id := e.insertOrder(newAccount(t).Address(), "basic-30d")
			var last bool
			for i, to := range tt.path {
				var flags payments.Flags
				if i == len(tt.path)-1 {
					flags = tt.flags
				}
				err := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
					var err error
					last, err = e.svc.Transition(ctx, tx, id, to, flags, "test")
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			o := e.order(id)
			if last != tt.changed || o.State != tt.final || (o.License != payments.LicenseNone) != tt.minted {
				t.Fatalf("changed %v, order %s license %q; want %v, %s, minted %v", last, o.State, o.License, tt.changed, tt.final, tt.minted)
			}
			if o.Flags&tt.flags != tt.flags {
				t.Fatalf("flags %s, want %s set", o.Flags, tt.flags)
			}
		})
	}
	err := pgx.BeginFunc(ctx, e.db, func(tx pgx.Tx) error {
		_, err := e.svc.Transition(ctx, tx, "aaaaaaaaaaaaaaaaaaaaaaaaaa", payments.StateSettled, 0, "test")
		return err
	})
	if !errors.Is(err, payments.ErrOrderNotFound) {
		t.Fatalf("unknown order: %v", err)
	}
}
