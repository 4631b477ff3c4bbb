package payments_test

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/migrations/pgtest"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/reconcile"
	"github.com/licensed/licensed/payments/stripemock"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const webhookSecret = "whsec_payments_test"

// env is a payments service on its own database with a running ledger
// sequencer, a license index and (if asked) a stripe-mock.
type env struct {
	t        *testing.T
	db       *pgxpool.Pool
	svc      *payments.Service
	ledger   *ledger.Ledger
	index    *ledger.Index
	verifier note.Verifier

	mu  sync.Mutex
	now time.Time // the service's clock; zero means time.Now
}

func newEnv(t *testing.T, withStripe bool) *env {
	return newEnvOpts(t, withStripe, true)
}

// newEnvOpts is newEnv; without run, no sequencer runs: the test calls
// e.round().
func newEnvOpts(t *testing.T, withStripe, run bool, mods ...func(*payments.Config)) *env {
	t.Helper()
	e := &env{t: t, db: pgtest.Pool(t), index: ledger.NewIndex()}
	skey, vkey, err := note.GenerateKey(rand.Reader, "test.example/ledger")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	e.verifier, _ = note.NewVerifier(vkey)
	plans, err := payments.ParsePlans([]byte(payments.SamplePlans))
	if err != nil {
		t.Fatal(err)
	}
	var methods []payments.Method
	cardCfg := payments.CardConfig{SecretKey: "sk_test_123", WebhookSecret: webhookSecret,
		SuccessURL: "http://127.0.0.1/done/{ORDER_ID}", CancelURL: "http://127.0.0.1/cancel/{ORDER_ID}"}
	if withStripe {
		cardCfg.APIURL = stripemock.Start(t)
	} else {
		// Webhooks only: no Stripe API call is made.
		cardCfg.APIURL = "http://127.0.0.1:1"
	}
	card, err := payments.NewCard(cardCfg)
	if err != nil {
		t.Fatal(err)
	}
	methods = append(methods, card)
	minter := issuer.NewMinter(nil)
	cfg := payments.Config{
		Plans: plans, Methods: methods, Minter: minter, ParseAddress: minter.CheckAddress,
		Now: e.clock,
	}
	for _, mod := range mods {
		mod(&cfg)
	}
	e.svc, err = payments.New(e.db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.ledger = ledger.New(e.db, ledger.Config{Signer: signer, Period: 20 * time.Millisecond, OnSequenced: e.svc.OnSequenced})
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); e.ledger.RunSequencer(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return e
}

// round runs one sequencer round and brings the index up to date.
func (e *env) round() int {
	e.t.Helper()
	n, err := e.ledger.Round(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.index.Sync(context.Background(), e.ledger.Store()); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.now.IsZero() {
		return time.Now()
	}
	return e.now
}

func (e *env) setClock(t time.Time) {
	e.mu.Lock()
	e.now = t
	e.mu.Unlock()
}

// insertOrder stores a new card order for addr directly (no Stripe call), as
// CreateOrder would.
func (e *env) insertOrder(addr issuer.Address, plan string) string {
	e.t.Helper()
	id := newTestOrderID(e.t)
	if _, err := e.db.Exec(context.Background(), `insert into orders (id, plan, method, amount, currency, address)
		values ($1, $2, 'card', 500, 'usd', $3)`, id, plan, addr.String()); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func newTestOrderID(t *testing.T) string {
	var b [16]byte
	rand.Read(b[:])
	id := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding).EncodeToString(b[:])
	if !payments.ValidOrderID(id) {
		t.Fatalf("made an invalid order id %q", id)
	}
	return id
}

// deliver sends a signed event to the service as Stripe would.
func (e *env) deliver(payload []byte) error {
	return e.svc.HandleStripe(context.Background(), payload, payments.SignEvent(payload, webhookSecret, time.Time{}))
}

func (e *env) mustDeliver(payload []byte) {
	e.t.Helper()
	if err := e.deliver(payload); err != nil {
		e.t.Fatalf("delivery refused: %v", err)
	}
}

// settle delivers a paid checkout.session.completed for order id.
func (e *env) settle(id string) {
	e.t.Helper()
	e.mustDeliver(payments.CheckoutSessionEvent(payments.NewEventID(), "checkout.session.completed", id, payments.DevPaymentIntent(id), true))
}

// waitSequenced waits until nothing is pending and the index is current.
func (e *env) waitSequenced() {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var n int
		if err := e.db.QueryRow(ctx, `select count(*) from ledger_pending`).Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d entries still pending after 20 s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.index.Sync(ctx, e.ledger.Store()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) order(id string) *payments.Order {
	e.t.Helper()
	o, err := e.svc.Order(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// link returns the order's ledger index while the link is kept.
func (e *env) link(id string) (uint64, bool) {
	e.t.Helper()
	var idx int64
	err := e.db.QueryRow(context.Background(), `select ledger_index from order_links where order_id = $1`, id).Scan(&idx)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return uint64(idx), true
}

// entries returns every ledger entry, parsed.
func (e *env) entries() []ledger.Entry {
	e.t.Helper()
	ctx := context.Background()
	cp, err := e.ledger.Store().Latest(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if cp.Size == 0 {
		return nil
	}
	raw, err := e.ledger.Store().ReadEntries(ctx, 0, int(cp.Size))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []ledger.Entry
	for _, b := range raw {
		en, err := ledger.ParseEntry(b)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, en)
	}
	return out
}

func (e *env) fsck() {
	e.t.Helper()
	rep, err := ledger.Fsck(context.Background(), e.ledger.Store(), e.verifier)
	if err != nil {
		e.t.Fatal(err)
	}
	if !rep.OK() {
		e.t.Fatalf("fsck: %v", rep.Problems)
	}
}

// balanced checks that every sequencer round has one license entry per
// order minted in it.
func (e *env) balanced() []reconcile.RoundBalance {
	e.t.Helper()
	r := &reconcile.Reconciler{Books: reconcile.NewBooks(e.db), Ledger: reconcile.LedgerStore(e.ledger.Store())}
	bs, err := r.Rounds(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, b := range bs {
		if !b.Balanced() {
			e.t.Fatalf("round %d: %d orders, %d license entries", b.Round, b.Orders, b.Licenses)
		}
	}
	return bs
}

func newAccount(t *testing.T) *issuer.Account {
	t.Helper()
	a, err := issuer.NewAccount(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
