package web

import (
	"context"
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

	"golang.org/x/crypto/bcrypt"

	"github.com/licensed/licensed/internal/btcdtest"
	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/bitcoin"
	"github.com/licensed/licensed/payments/reconcile"
)

// The operator password of the test servers.
const opsPassword = "correct horse battery staple"

// usdRate prices a bitcoin at $50,000: the $5.00 plan costs 10,000 sats.
const usdRate = 5_000_000

// shop is a real server: Postgres, a running ledger sequencer, the payments
// service with the card method (on stripe-mock when asked) and, when asked,
// the Bitcoin method on its own regtest btcd with its watcher running.
type shop struct {
	*paytest.Env
	t    testing.TB
	btc  *bitcoin.Bitcoin
	node *btcdtest.Node
	srv  *Server
	hs   *httptest.Server
	URL  string
}

type shopOptions struct {
	stripe bool // card on stripe-mock (otherwise webhooks only)
	btc    bool
	// devWallet serves the regtest dev wallet pages (with btc).
	devWallet bool
	// opsNow is the dashboard's clock (default time.Now).
	opsNow func() time.Time
	// config changes the server's Config before New.
	config func(*Config)
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
	s := &shop{t: t}
	db := pgtest.Pool(t)
	var methods []payments.Method
	if o.btc {
		s.node = btcdtest.Start(t)
		acct, err := bitcoin.ParseAccount(btcdtest.TestKeys().AccountTpub, s.node.Params())
		if err != nil {
			t.Fatal(err)
		}
		s.btc, err = bitcoin.New(db, bitcoin.Config{
			Params: s.node.Params(), Account: acct, Rates: bitcoin.StaticRate{"usd": usdRate}, RPC: s.node.ConnConfig(true),
			Tick: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		methods = append(methods, s.btc)
	}
	// The explorer tests read the origin in the checkpoint.
	s.Env = paytest.New(t, paytest.Options{Stripe: o.stripe, Methods: methods, DB: db, Origin: "pages.test/ledger"})
	if s.btc != nil {
		ctx, cancel := context.WithCancel(context.Background())
		runDone := make(chan struct{})
		go func() { defer close(runDone); s.btc.Run(ctx, s.Service) }()
		t.Cleanup(func() { cancel(); <-runDone })
	}
	ops, err := NewOps(OpsConfig{PasswordHash: opsHash, Now: o.opsNow})
	if err != nil {
		t.Fatal(err)
	}
	books := reconcile.NewBooks(s.DB)
	pages := &Pages{Ops: ops, Books: books, Explorer: s.Ledger.Store(),
		Reconciler: &reconcile.Reconciler{Books: books, Ledger: reconcile.LedgerStore(s.Ledger.Store())}}
	if s.btc != nil {
		pages.Invoices = BitcoinInvoices(s.btc)
	}
	log := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	deps := Deps{DB: s.DB, Payments: s.Service, Pages: pages}
	if o.devWallet {
		deps.BitcoinDev = &BitcoinDev{Bitcoin: s.btc, Pay: s.node.Wallet.PayTo, Mine: s.node.Mine}
	}
	cfg := Config{OrderLimit: RateLimit{PerSecond: 100, Burst: 100}}
	if o.config != nil {
		o.config(&cfg)
	}
	s.srv = New(cfg, deps, log)
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

// revokes returns the targets of the revoke entries on the ledger.
func (s *shop) revokes() []uint64 {
	s.t.Helper()
	var out []uint64
	for _, e := range s.Entries() {
		if r, ok := e.(*ledger.RevokeEntry); ok {
			out = append(out, r.Target)
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

// btcOrder orders a plan with Bitcoin through the storefront's form, as a
// customer does, and returns the order id from the invoice it leads to.
func (c *client) btcOrder(plan string) string {
	c.t.Helper()
	a := c.post("/checkout", url.Values{"plan": {plan}, "address": {paytest.Address(c.t)}, "method": {"btc"}})
	id, ok := strings.CutPrefix(a.header.Get("Location"), "/invoice/")
	if a.status != http.StatusSeeOther || !ok {
		c.t.Fatalf("btc checkout: %d %q", a.status, a.header.Get("Location"))
	}
	return id
}

// login logs the client in as the operator.
func (c *client) login() {
	c.t.Helper()
	a := c.post("/ops/login", url.Values{"csrf": {c.csrf("/ops/login")}, "password": {opsPassword}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/ops" {
		c.t.Fatalf("login: %d %q\n%s", a.status, a.header.Get("Location"), a.body)
	}
}
