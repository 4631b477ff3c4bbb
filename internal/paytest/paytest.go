// Package paytest builds the payments service as the server wires it, for
// the tests of payments, its sub-packages and web: a fresh migrated database
// (pgtest), the sample plans, the card method (on its own stripe-mock, or
// taking webhooks only), any other methods, a minter, and a ledger whose
// sequencer rounds call the service's hook.
//
//	e := paytest.New(t, paytest.Options{})
//	id := e.CardOrder("basic-30d")
//	e.Settle(id)
//	e.WaitMinted(id)
//
// A package whose tests use it declares TestMain with pgtest.Main (see
// pgtest). HTTP servers, pages and btcd stay with the tests that need them;
// Options.DB and Options.Methods let a test add a method built on the same
// database.
package paytest

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

	"github.com/licensed/licensed/internal/fakestripe"
	"github.com/licensed/licensed/internal/launch/stripemock"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/reconcile"
)

// Defaults of Options.
const (
	// Origin is the ledger's origin, the name of its checkpoint signer.
	Origin = "test.example/ledger"
	// WebhookSecret is the card method's webhook signing secret.
	WebhookSecret = "whsec_paytest"
	// SuccessURL and CancelURL are where Checkout would send the customer
	// back; no test follows them.
	SuccessURL = "http://127.0.0.1/done/{ORDER_ID}"
	CancelURL  = "http://127.0.0.1/cancel/{ORDER_ID}"
)

// webhooksOnly is a Stripe API URL that refuses connections: a card method
// on it takes webhooks but cannot make a Checkout Session.
const webhooksOnly = "http://127.0.0.1:1"

// Options say how New builds the environment. The zero Options are a card
// method taking webhooks only, on a fresh database, with the sequencer
// running.
type Options struct {
	// Stripe runs the card method against its own stripe-mock
	// (stripemock.Start). Without it the card method takes webhooks only:
	// its Stripe API calls go to a port that refuses them.
	Stripe bool
	// NoCard leaves the card method out; Methods then offer the others.
	NoCard bool
	// CheckoutURL is the card method's CardConfig.CheckoutURL.
	CheckoutURL string
	// WebhookSecret signs the card method's webhooks (default
	// WebhookSecret).
	WebhookSecret string
	// Methods are offered after the card method.
	Methods []payments.Method
	// DB is the database (default: a fresh pgtest.Pool), for a test that
	// builds a method on it before calling New.
	DB *pgxpool.Pool
	// Origin is the ledger's origin (default Origin).
	Origin string
	// ManualRounds runs no sequencer: the test calls Env.Round.
	ManualRounds bool
	// Config, if set, changes the service's configuration before
	// payments.New.
	Config func(*payments.Config)
}

// Env is a payments service on its own database with a ledger and a
// license index. Its methods fail the test given to New.
type Env struct {
	DB      *pgxpool.Pool
	Service *payments.Service
	Ledger  *pgledger.Ledger
	// Index is the license index; Round and WaitSequenced bring it up to
	// date.
	Index *ledger.Index
	// Verifier checks the ledger's checkpoints.
	Verifier note.Verifier
	// WebhookSecret signs the card method's webhooks.
	WebhookSecret string

	t   testing.TB
	mu  sync.Mutex
	now time.Time // the service's clock; zero means time.Now
}

// New builds the environment of o. A running sequencer is stopped when the
// test ends.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	if o.DB == nil {
		o.DB = pgtest.Pool(t)
	}
	if o.Origin == "" {
		o.Origin = Origin
	}
	if o.WebhookSecret == "" {
		o.WebhookSecret = WebhookSecret
	}
	e := &Env{t: t, DB: o.DB, Index: ledger.NewIndex(), WebhookSecret: o.WebhookSecret}
	skey, vkey, err := note.GenerateKey(rand.Reader, o.Origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	if e.Verifier, err = note.NewVerifier(vkey); err != nil {
		t.Fatal(err)
	}
	var methods []payments.Method
	if !o.NoCard {
		cc := payments.CardConfig{WebhookSecret: o.WebhookSecret, CheckoutURL: o.CheckoutURL}
		if o.Stripe {
			cc.APIURL = stripemock.Start(t)
		}
		methods = append(methods, NewCard(t, cc))
	}
	cfg := config(t, append(methods, o.Methods...))
	cfg.Now = e.Now
	if o.Config != nil {
		o.Config(&cfg)
	}
	if e.Service, err = payments.New(e.DB, cfg); err != nil {
		t.Fatal(err)
	}
	e.Ledger = pgledger.New(e.DB, pgledger.Config{Signer: signer, Period: 20 * time.Millisecond, OnSequenced: e.Service.OnSequenced})
	if !o.ManualRounds {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); e.Ledger.RunSequencer(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return e
}

// NewCard returns a card method with test keys. Empty fields of c are
// filled in: a test secret key, WebhookSecret, SuccessURL and CancelURL,
// and an API URL that refuses connections (webhooks only).
func NewCard(t testing.TB, c payments.CardConfig) *payments.Card {
	t.Helper()
	if c.SecretKey == "" {
		c.SecretKey = "sk_test_123"
	}
	if c.WebhookSecret == "" {
		c.WebhookSecret = WebhookSecret
	}
	if c.SuccessURL == "" {
		c.SuccessURL = SuccessURL
	}
	if c.CancelURL == "" {
		c.CancelURL = CancelURL
	}
	if c.APIURL == "" {
		c.APIURL = webhooksOnly
	}
	card, err := payments.NewCard(c)
	if err != nil {
		t.Fatal(err)
	}
	return card
}

// config returns the service configuration the server would have with
// methods: the sample plans, a fresh minter and its address check.
func config(t testing.TB, methods []payments.Method) payments.Config {
	t.Helper()
	plans, err := payments.ParsePlans([]byte(payments.SamplePlans))
	if err != nil {
		t.Fatal(err)
	}
	minter := issuer.NewMinter(nil)
	return payments.Config{Plans: plans, Methods: methods, Minter: payments.NewLedgerMinter(minter), ParseAddress: minter.CheckAddress}
}

// NewService returns a payments service on db offering methods, with the
// sample plans and a fresh minter, but no ledger: for a second server
// process on the same database, or a test that sequences nothing.
func NewService(t testing.TB, db *pgxpool.Pool, methods ...payments.Method) *payments.Service {
	t.Helper()
	svc, err := payments.New(db, config(t, methods))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// OrderID returns a random valid order id.
func OrderID(t testing.TB) string {
	t.Helper()
	var b [16]byte
	rand.Read(b[:])
	id := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding).EncodeToString(b[:])
	if !payments.ValidOrderID(id) {
		t.Fatalf("made an invalid order id %q", id)
	}
	return id
}

// Address returns the license address of a fresh account.
func Address(t testing.TB) string {
	t.Helper()
	acct, err := issuer.NewAccount(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return acct.Address().String()
}

// Now is the service's clock: the time SetNow set, or time.Now.
func (e *Env) Now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.now.IsZero() {
		return time.Now()
	}
	return e.now
}

// SetNow sets the service's clock to t; the zero time gives it back to
// time.Now.
func (e *Env) SetNow(t time.Time) {
	e.mu.Lock()
	e.now = t
	e.mu.Unlock()
}

// Round runs one sequencer round (with Options.ManualRounds), brings the
// index up to date and returns the number of entries sequenced.
func (e *Env) Round() int {
	e.t.Helper()
	n, err := e.Ledger.Round(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.Index.Sync(context.Background(), e.Ledger.Store()); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// WaitSequenced waits until no entry is pending and brings the index up to
// date.
func (e *Env) WaitSequenced() {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := e.DB.QueryRow(ctx, `select count(*) from ledger_pending`).Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%d entries still pending after 30 s", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.Index.Sync(ctx, e.Ledger.Store()); err != nil {
		e.t.Fatal(err)
	}
}

// Entries returns every sequenced ledger entry, parsed.
func (e *Env) Entries() []ledger.Entry {
	e.t.Helper()
	ctx := context.Background()
	cp, err := e.Ledger.Store().Latest(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if cp.Size == 0 {
		return nil
	}
	raw, err := e.Ledger.Store().ReadEntries(ctx, 0, int(cp.Size))
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

// Fsck checks the whole ledger against its checkpoints.
func (e *Env) Fsck() {
	e.t.Helper()
	rep, err := ledger.Fsck(context.Background(), e.Ledger.Store(), e.Verifier)
	if err != nil {
		e.t.Fatal(err)
	}
	if !rep.OK() {
		e.t.Fatalf("fsck: %v", rep.Problems)
	}
}

// Balanced checks that every sequencer round has one license entry per
// order minted in it, and returns the rounds.
func (e *Env) Balanced() []reconcile.RoundBalance {
	e.t.Helper()
	r := &reconcile.Reconciler{Books: reconcile.NewBooks(e.DB), Ledger: reconcile.LedgerStore(e.Ledger.Store())}
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

// Order returns order id.
func (e *Env) Order(id string) *payments.Order {
	e.t.Helper()
	o, err := e.Service.Order(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

// Link returns the ledger index of order id's license while the service
// keeps the link.
func (e *Env) Link(id string) (uint64, bool) {
	e.t.Helper()
	var idx int64
	err := e.DB.QueryRow(context.Background(), `select ledger_index from order_links where order_id = $1`, id).Scan(&idx)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return uint64(idx), true
}

// CardOrder stores a new card order of plan for a fresh license address
// straight in the database, as CreateOrder would without the Stripe call,
// and returns its id.
func (e *Env) CardOrder(plan string) string {
	e.t.Helper()
	id := OrderID(e.t)
	if _, err := e.DB.Exec(context.Background(), `insert into orders (id, plan, method, amount, currency, address, stripe_session)
		values ($1, $2, 'card', 500, 'usd', $3, 'cs_test_' || $1)`, id, plan, Address(e.t)); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// Deliver hands a Stripe event to the service, signed as Stripe would.
func (e *Env) Deliver(payload []byte) error {
	return e.Service.HandleStripe(context.Background(), payload, fakestripe.SignEvent(payload, e.WebhookSecret, time.Time{}))
}

// MustDeliver is Deliver; a refused delivery fails the test.
func (e *Env) MustDeliver(payload []byte) {
	e.t.Helper()
	if err := e.Deliver(payload); err != nil {
		e.t.Fatalf("delivery refused: %v", err)
	}
}

// Settle delivers a paid checkout.session.completed for card order id.
func (e *Env) Settle(id string) {
	e.t.Helper()
	e.MustDeliver(e.CheckoutEvent("checkout.session.completed", id, true))
}

// CheckoutEvent returns a checkout.session.* event of type typ (with a fresh
// event id) about card order id's own session, as Stripe sends it: the
// session stored with the order, its amount and currency, payment_status paid
// or unpaid, and the PaymentIntent fakestripe.DevPaymentIntent(id).
func (e *Env) CheckoutEvent(typ, id string, paid bool) []byte {
	e.t.Helper()
	return CheckoutEvent(e.t, e.DB, typ, id, paid)
}

// CheckoutEvent is Env.CheckoutEvent for a test that has only the database.
func CheckoutEvent(t testing.TB, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, typ, id string, paid bool) []byte {
	t.Helper()
	o := payments.Order{ID: id}
	if err := db.QueryRow(context.Background(), `select coalesce(stripe_session, ''), amount, currency from orders where id = $1`, id).
		Scan(&o.StripeSession, &o.Amount, &o.Currency); err != nil {
		t.Fatalf("order %s: %v", id, err)
	}
	c := fakestripe.CheckoutOf(o.ID, o.StripeSession, o.Amount, o.Currency)
	c.Paid = paid
	return fakestripe.CheckoutSessionEvent(fakestripe.NewEventID(), typ, c)
}

// WaitMinted waits until order id's license entry is sequenced.
func (e *Env) WaitMinted(id string) {
	e.t.Helper()
	e.WaitFor("order "+id+" minted", func() bool { return e.Order(id).Minted() })
}

// WaitFor waits until cond holds, for 20 s at the most.
func (e *Env) WaitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
