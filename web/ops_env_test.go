package web

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/migrations/pgtest"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/bitcoin"
	"github.com/licensed/licensed/payments/bitcoin/btcdtest"
	"github.com/licensed/licensed/payments/reconcile"
	"github.com/licensed/licensed/payments/stripemock"
)

// The operator password of the test servers.
const opsPassword = "correct horse battery staple"

const shopWebhookSecret = "whsec_pages_test"

// usdRate prices a bitcoin at $50,000: the $5.00 plan costs 10,000 sats.
const usdRate = 5_000_000

// shop is a real server: Postgres, a running ledger sequencer, the payments
// service with the card method (on stripe-mock when asked) and, when asked,
// the Bitcoin method on its own regtest btcd with its watcher running.
type shop struct {
	t      testing.TB
	db     *pgxpool.Pool
	svc    *payments.Service
	ledger *ledger.Ledger
	btc    *bitcoin.Bitcoin
	node   *btcdtest.Node
	srv    *Server
	hs     *httptest.Server
	URL    string
}

type shopOptions struct {
	stripe bool // card on stripe-mock (otherwise webhooks only)
	btc    bool
	// devWallet serves the regtest dev wallet pages (with btc).
	devWallet bool
	expiry    time.Duration // of Bitcoin invoices
	// opsNow is the dashboard's clock (default time.Now).
	opsNow func() time.Time
}

// opsHash is computed once: bcrypt at MinCost keeps the tests fast.
var opsHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(opsPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

func newShop(t testing.TB, o shopOptions) *shop {
	t.Helper()
	s := &shop{t: t, db: pgtest.Pool(t)}
	skey, _, err := note.GenerateKey(rand.Reader, "pages.test/ledger")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	plans, err := payments.ParsePlans([]byte(payments.SamplePlans))
	if err != nil {
		t.Fatal(err)
	}
	cardCfg := payments.CardConfig{SecretKey: "sk_test_123", WebhookSecret: shopWebhookSecret,
		SuccessURL: "http://127.0.0.1/invoice/{ORDER_ID}", CancelURL: "http://127.0.0.1/", APIURL: "http://127.0.0.1:1"}
	if o.stripe {
		cardCfg.APIURL = stripemock.Start(t)
	}
	card, err := payments.NewCard(cardCfg)
	if err != nil {
		t.Fatal(err)
	}
	methods := []payments.Method{card}
	if o.btc {
		s.node = btcdtest.Start(t)
		acct, err := bitcoin.ParseAccount(btcdtest.TestKeys().AccountTpub, s.node.Params())
		if err != nil {
			t.Fatal(err)
		}
		s.btc, err = bitcoin.New(s.db, bitcoin.Config{
			Params: s.node.Params(), Account: acct, Rates: bitcoin.StaticRate{"usd": usdRate}, RPC: s.node.ConnConfig(true),
			Expiry: o.expiry, Tick: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		methods = append(methods, s.btc)
	}
	minter := issuer.NewMinter(nil)
	s.svc, err = payments.New(s.db, payments.Config{Plans: plans, Methods: methods, Minter: minter, ParseAddress: minter.CheckAddress})
	if err != nil {
		t.Fatal(err)
	}
	s.ledger = ledger.New(s.db, ledger.Config{Signer: signer, Period: 20 * time.Millisecond, OnSequenced: s.svc.OnSequenced})
	ctx, cancel := context.WithCancel(context.Background())
	seqDone := make(chan struct{})
	go func() { defer close(seqDone); s.ledger.RunSequencer(ctx) }()
	t.Cleanup(func() { cancel(); <-seqDone })
	if s.btc != nil {
		s.btc.SetOrders(s.svc)
		runDone := make(chan struct{})
		go func() { defer close(runDone); s.btc.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-runDone })
	}
	ops, err := NewOps(OpsConfig{PasswordHash: opsHash, Now: o.opsNow})
	if err != nil {
		t.Fatal(err)
	}
	books := reconcile.NewBooks(s.db)
	pages := &Pages{Ops: ops, Books: books, Explorer: s.ledger.Store(),
		Reconciler: &reconcile.Reconciler{Books: books, Ledger: reconcile.LedgerStore(s.ledger.Store())}}
	if s.btc != nil {
		pages.Invoices = BitcoinInvoices(s.btc)
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	deps := Deps{DB: s.db, Payments: s.svc, Pages: pages}
	if o.devWallet {
		deps.BitcoinDev = &BitcoinDev{Bitcoin: s.btc, Wallet: s.node.Wallet, Mine: s.node.Mine}
	}
	s.srv = New(Config{OrderLimit: RateLimit{PerSecond: 100, Burst: 100}}, deps, log)
	s.hs = httptest.NewServer(s.srv.Handler())
	t.Cleanup(s.hs.Close)
	s.URL = s.hs.URL
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// newAddress returns the license address of a fresh account.
func newAddress(t testing.TB) string {
	t.Helper()
	acct, err := issuer.NewAccount(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return acct.Address().String()
}

// cardOrder makes a card order straight in the database (no Stripe call)
// and returns its id.
func (s *shop) cardOrder(plan string) string {
	s.t.Helper()
	id := newOrderIDForTest(s.t)
	if _, err := s.db.Exec(context.Background(), `insert into orders (id, plan, method, amount, currency, address) values ($1, $2, 'card', 500, 'usd', $3)`,
		id, plan, newAddress(s.t)); err != nil {
		s.t.Fatal(err)
	}
	return id
}

func newOrderIDForTest(t testing.TB) string {
	var b [16]byte
	rand.Read(b[:])
	id := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding).EncodeToString(b[:])
	if !payments.ValidOrderID(id) {
		t.Fatalf("made an invalid order id %q", id)
	}
	return id
}

// settleCard delivers a signed checkout.session.completed for id.
func (s *shop) settleCard(id string) {
	s.t.Helper()
	ev := payments.CheckoutSessionEvent(payments.NewEventID(), "checkout.session.completed", id, payments.DevPaymentIntent(id), true)
	if err := s.svc.HandleStripe(context.Background(), ev, payments.SignEvent(ev, shopWebhookSecret, time.Time{})); err != nil {
		s.t.Fatalf("webhook refused: %v", err)
	}
}

func (s *shop) order(id string) *payments.Order {
	s.t.Helper()
	o, err := s.svc.Order(context.Background(), id)
	if err != nil {
		s.t.Fatal(err)
	}
	return o
}

func (s *shop) waitFor(what string, cond func() bool) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *shop) waitMinted(id string) {
	s.t.Helper()
	s.waitFor("order "+id+" minted", func() bool { return s.order(id).Minted() })
}

// revokes returns the targets of the revoke entries on the ledger.
func (s *shop) revokes() []uint64 {
	s.t.Helper()
	ctx := context.Background()
	cp, err := s.ledger.Store().Latest(ctx)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []uint64
	if cp.Size == 0 {
		return nil
	}
	raw, err := s.ledger.Store().ReadEntries(ctx, 0, int(cp.Size))
	if err != nil {
		s.t.Fatal(err)
	}
	for _, b := range raw {
		if e, err := ledger.ParseEntry(b); err == nil {
			if r, ok := e.(*ledger.RevokeEntry); ok {
				out = append(out, r.Target)
			}
		}
	}
	return out
}

// client is a browser without JavaScript: a cookie jar, no redirects
// followed unless asked.
type client struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func (s *shop) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: s.t, base: s.URL, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(method, path string, form url.Values, header map[string]string) answer {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func (c *client) get(path string) answer { return c.do(http.MethodGet, path, nil, nil) }

func (c *client) post(path string, form url.Values) answer {
	return c.do(http.MethodPost, path, form, nil)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the form on page path.
func (c *client) csrf(path string) string {
	c.t.Helper()
	a := c.get(path)
	m := csrfInput.FindStringSubmatch(a.body)
	if m == nil {
		c.t.Fatalf("GET %s (%d): no CSRF token in the page", path, a.status)
	}
	return m[1]
}

// login logs the client in as the operator.
func (c *client) login() {
	c.t.Helper()
	a := c.post("/ops/login", url.Values{"csrf": {c.csrf("/ops/login")}, "password": {opsPassword}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/ops" {
		c.t.Fatalf("login: %d %q\n%s", a.status, a.header.Get("Location"), a.body)
	}
}
