package bitcoin_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/wire"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/licensed/licensed/internal/btcdtest"
	"github.com/licensed/licensed/internal/launch/regtest"
	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/bitcoin"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// usdRate is the static price of a bitcoin in the tests: $50,000, so the
// sample plan "basic-30d" ($5.00) costs 10,000 sats.
const usdRate = 5_000_000

const planPrice = 10_000 // sats for basic-30d

// env is a payments service with the Bitcoin method on its own database, a
// running ledger sequencer, and its own btcd. db and svc are the Env's, by
// the names the tests use.
type env struct {
	*paytest.Env
	t    testing.TB
	db   *pgxpool.Pool
	svc  *payments.Service
	node *btcdtest.Node
	cfg  bitcoin.Config

	mu      sync.Mutex
	btc     *bitcoin.Bitcoin
	stopRun func()

	ahead atomic.Int64 // how far the watcher's clock runs ahead (see passExpiry)
}

// passExpiry moves the watcher's clock past the invoice of order id's
// expiry, instead of a test sleeping through a short expiry that a loaded
// machine might not record the payment within.
func (e *env) passExpiry(id string) {
	e.t.Helper()
	inv, err := e.btc.Invoice(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	e.ahead.Store(int64(time.Until(inv.ExpiresAt) + time.Second))
}

type envOptions struct {
	net           string
	confirmations int
	reorgDepth    int
	expiry        time.Duration
	gapLimit      int
	rates         bitcoin.RateSource
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if tt, ok := t.(*testing.T); ok {
		tt.Parallel() // each test has its own btcd and database
	}
	db := pgtest.Pool(t)
	e := &env{t: t, db: db}
	e.node = btcdtest.Start(t, btcdtest.Options{Net: o.net})
	acct, err := bitcoin.ParseAccount(btcdtest.TestKeys().AccountTpub, e.node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if o.rates == nil {
		o.rates = bitcoin.StaticRate{"usd": usdRate}
	}
	e.cfg = bitcoin.Config{
		Params: e.node.Params(), Account: acct, Rates: o.rates, RPC: e.node.ConnConfig(true),
		Expiry: o.expiry, Confirmations: o.confirmations, ReorgDepth: o.reorgDepth, GapLimit: o.gapLimit, Tick: 100 * time.Millisecond,
		Now: func() time.Time { return time.Now().Add(time.Duration(e.ahead.Load())) },
	}
	e.btc, err = bitcoin.New(db, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Env = paytest.New(t, paytest.Options{DB: db, NoCard: true, Methods: []payments.Method{e.btc}})
	e.svc = e.Service
	e.startWatcher()
	t.Cleanup(e.stopWatcher)
	return e
}

// newService returns a payments service on e's database offering btc.
func (e *env) newService(btc *bitcoin.Bitcoin) *payments.Service {
	return paytest.NewService(e.t, e.db, btc)
}

// startWatcher runs the current Bitcoin method's watcher and waits until it
// has recorded a chain tip.
func (e *env) startWatcher() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	btc := e.btc
	go func() { done <- btc.Run(ctx, e.svc) }()
	e.mu.Lock()
	e.stopRun = func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}
	e.mu.Unlock()
	e.waitFor("the watcher records the tip", func() bool {
		var n int
		e.db.QueryRow(context.Background(), `select count(*) from btc_chain`).Scan(&n)
		return n == 1
	})
}

func (e *env) stopWatcher() {
	e.mu.Lock()
	stop := e.stopRun
	e.stopRun = nil
	e.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// restartServer replaces the Bitcoin method by a new one on the same
// database, as a restarted server process would have.
func (e *env) newMethod() {
	e.t.Helper()
	btc, err := bitcoin.New(e.db, e.cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.btc = btc
}

// order creates a btc order and returns its id and invoice fields.
func (e *env) order() (string, map[string]any) {
	e.t.Helper()
	o, pay, err := e.svc.CreateOrder(context.Background(), "basic-30d", paytest.Address(e.t), "btc")
	if err != nil {
		e.t.Fatal(err)
	}
	if pay["amount_sats"] != int64(planPrice) {
		e.t.Fatalf("invoice amount %v, want %d", pay["amount_sats"], planPrice)
	}
	return o.ID, pay
}

func (e *env) pay(inv map[string]any, sats int64) *wire.MsgTx {
	e.t.Helper()
	addr, err := btcutil.DecodeAddress(inv["address"].(string), e.node.Params())
	if err != nil {
		e.t.Fatal(err)
	}
	tx, err := e.node.Wallet.Pay(regtest.Output{Address: addr, Sats: sats})
	if err != nil {
		e.t.Fatal(err)
	}
	return tx
}

// get, waitFor, waitMinted and newAddress are paytest's, by the names the
// tests use.
func (e *env) get(id string) *payments.Order         { return e.Order(id) }
func (e *env) waitFor(what string, cond func() bool) { e.WaitFor(what, cond) }
func (e *env) waitMinted(id string)                  { e.WaitMinted(id) }
func newAddress(t testing.TB) string                 { return paytest.Address(t) }

// waitOrder waits until order id is in state with exactly flags.
func (e *env) waitOrder(id string, state payments.State, flags payments.Flags) *payments.Order {
	e.t.Helper()
	var o *payments.Order
	e.waitFor(string(state)+" "+flags.String(), func() bool {
		o = e.get(id)
		return o.State == state && o.Flags == flags
	})
	return o
}

// stays checks that order id is still in state with flags after a while
// (for "nothing more happens").
func (e *env) stays(id string, state payments.State, flags payments.Flags) {
	e.t.Helper()
	time.Sleep(500 * time.Millisecond)
	if o := e.get(id); o.State != state || o.Flags != flags {
		e.t.Fatalf("order moved to %s %s, want it to stay %s %s", o.State, o.Flags, state, flags)
	}
}

// licenses counts the license entries on the ledger plus those pending.
func (e *env) licenses() int {
	e.t.Helper()
	var n int
	if err := e.db.QueryRow(context.Background(), `select count(*) from ledger_pending`).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	for _, en := range e.Entries() {
		if _, ok := en.(*ledger.LicenseEntry); ok {
			n++
		}
	}
	return n
}

func (e *env) tip() int32 {
	var h int32
	if err := e.db.QueryRow(context.Background(), `select height from btc_chain`).Scan(&h); err != nil {
		e.t.Fatal(err)
	}
	return h
}

func isCode(err error, code string) bool {
	var c interface{ Code() string }
	return errors.As(err, &c) && c.Code() == code
}

func btcdtest_height(e *env) int64 { return btcdtest.Height("") }

func gauge(t *testing.T, b *bitcoin.Bitcoin, name string) float64 {
	t.Helper()
	for _, c := range b.Collectors() {
		ch := make(chan prometheus.Metric, 10)
		c.Collect(ch)
		close(ch)
		for m := range ch {
			if !strings.Contains(m.Desc().String(), `"`+name+`"`) {
				continue
			}
			var pb dto.Metric
			m.Write(&pb)
			return pb.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
