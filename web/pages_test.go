package web

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"html"
	"html/template"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/reconcile"
)

func TestFormatMoney(t *testing.T) {
	for _, tt := range []struct {
		name     string
		amount   int64
		currency string
		want     string
	}{
		{"cents", 500, "usd", "5.00 USD"},
		{"zero", 0, "eur", "0.00 EUR"},
		{"one cent", 1, "usd", "0.01 USD"},
		{"large", 123456789, "usd", "1234567.89 USD"},
		{"negative", -250, "usd", "-2.50 USD"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatMoney(tt.amount, tt.currency); got != tt.want {
				t.Errorf("formatMoney(%d, %q) = %q, want %q", tt.amount, tt.currency, got, tt.want)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	inv := &Invoice{Address: "bcrt1q", AmountSat: 10000, ExpiresAt: now.Add(10 * time.Minute), Needed: 2}
	partial := &Invoice{Address: "bcrt1q", AmountSat: 10000, PaidSat: 4000, ExpiresAt: now.Add(10 * time.Minute)}
	expired := &Invoice{Address: "bcrt1q", AmountSat: 10000, ExpiresAt: now.Add(-time.Minute)}
	for _, tt := range []struct {
		name      string
		state     payments.State
		flags     payments.Flags
		inv       *Invoice
		title     string
		message   string // a part of the message
		final     bool
		countdown int
	}{
		{"waiting", payments.StateNew, 0, inv, "Waiting for your payment", "before the deadline", false, 600},
		{"partly paid", payments.StateNew, payments.FlagPaidPartial, partial, "Partly paid", "remaining 0.00006 BTC", false, 600},
		{"time is up", payments.StateNew, 0, expired, "Expiring", "Do not send anything", false, 0},
		{"confirming", payments.StateProcessing, 0, &Invoice{Confirmations: 1, Needed: 2}, "waiting for confirmation", "1 of 2 confirmations", false, 0},
		{"settled", payments.StateSettled, 0, inv, "your license is in the ledger", "license tool", true, 0},
		{"settled overpaid", payments.StateSettled, payments.FlagPaidOver, inv, "your license is in the ledger", "more than the amount", true, 0},
		{"settled by hand", payments.StateSettled, payments.FlagPaidLate | payments.FlagMarked, inv, "your license is in the ledger", "operator accepted it", true, 0},
		{"expired", payments.StateExpired, 0, expired, "Expired", "place a new order", true, 0},
		{"paid late", payments.StateExpired, payments.FlagPaidLate, expired, "Paid late", "arrived after the invoice expired", false, 0},
		{"expired partly paid", payments.StateExpired, payments.FlagPaidPartial, expired, "Expired, partly paid", "only part of the amount", true, 0},
		{"failed", payments.StateInvalid, 0, nil, "Payment failed", "Nothing was charged", true, 0},
		{"card processing", payments.StateProcessing, 0, nil, "waiting for confirmation", "turns green", false, 0},
		{"card waiting", payments.StateNew, 0, nil, "Waiting for your payment", "card payment page", false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			method := payments.MethodBTC
			if tt.inv == nil {
				method = payments.MethodCard
			}
			st := describe(&payments.Order{Method: method, State: tt.state, Flags: tt.flags}, tt.inv, now)
			if !strings.Contains(st.Title, tt.title) || !strings.Contains(st.Message, tt.message) {
				t.Errorf("describe = %q / %q, want title with %q and message with %q", st.Title, st.Message, tt.title, tt.message)
			}
			if st.Final != tt.final {
				t.Errorf("final = %v, want %v", st.Final, tt.final)
			}
			if st.SecondsLeft != tt.countdown {
				t.Errorf("seconds left = %d, want %d", st.SecondsLeft, tt.countdown)
			}
			// The page asks for money only while the invoice is new and
			// not past its deadline; it points to the operator exactly
			// where the customer must write, and offers a new order when
			// this one is over.
			wantPay := tt.inv != nil && tt.state == payments.StateNew && tt.countdown > 0
			wantOperator := tt.flags&(payments.FlagPaidOver|payments.FlagPaidPartial) != 0 && tt.state != payments.StateNew ||
				tt.state == payments.StateExpired && tt.flags&payments.FlagPaidLate != 0
			wantNew := (tt.state == payments.StateExpired && tt.flags&payments.FlagPaidLate == 0) || tt.state == payments.StateInvalid
			if st.Pay != wantPay || st.Operator != wantOperator || st.NewOrder != wantNew {
				t.Errorf("pay %v operator %v new order %v; want %v %v %v", st.Pay, st.Operator, st.NewOrder, wantPay, wantOperator, wantNew)
			}
		})
	}
}

func TestLoginDelay(t *testing.T) {
	for _, tt := range []struct {
		name string
		n    int
		want time.Duration
	}{
		{"first failure", 1, 0},
		{"second failure", 2, 0},
		{"third failure", 3, time.Second},
		{"fourth failure", 4, 2 * time.Second},
		{"fifth failure", 5, 4 * time.Second},
		{"tenth failure", 10, 128 * time.Second},
		{"capped", 15, maxLoginDelay},
		{"far past the cap", 1000, maxLoginDelay},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := loginDelay(tt.n, loginFreeFailures); got != tt.want {
				t.Errorf("loginDelay(%d) = %v, want %v", tt.n, got, tt.want)
			}
		})
	}
}

func TestLoginGuard(t *testing.T) {
	g := loginGuard{clients: map[string]*failures{}}
	t0 := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 2; i++ {
		g.fail("a", t0)
		if w := g.check("a", t0); w != 0 {
			t.Fatalf("after %d failures: wait %v, want none", i+1, w)
		}
	}
	g.fail("a", t0)
	if w := g.check("a", t0); w != time.Second {
		t.Fatalf("after 3 failures: wait %v, want 1s", w)
	}
	if w := g.check("b", t0); w != 0 {
		t.Fatalf("another client waits %v, want none", w)
	}
	if w := g.check("a", t0.Add(time.Second)); w != 0 {
		t.Fatalf("after the delay: wait %v, want none", w)
	}
	g.fail("a", t0.Add(time.Second))
	if w := g.check("a", t0.Add(time.Second)); w != 2*time.Second {
		t.Fatalf("after 4 failures: wait %v, want 2s", w)
	}
	if w := g.check("a", t0.Add(time.Second+loginFailureMemory+time.Second)); w != 0 {
		t.Fatalf("failures long ago still count: wait %v", w)
	}
	g.succeed("a")
	if w := g.check("a", t0.Add(time.Second)); w != 0 {
		t.Fatalf("a success does not reset: wait %v", w)
	}
	// Many clients failing slow down each one past its own free failures,
	// but never a client within them: nobody can lock the operator out.
	g = loginGuard{clients: map[string]*failures{}}
	for i := 0; i < globalFreeFailures; i++ {
		g.fail(string(rune('A'+i%26))+string(rune('a'+i/26)), t0)
	}
	if w := g.check("Aa", t0); w != 0 {
		t.Fatalf("after %d failures over all clients, one that failed once waits %v, want none", globalFreeFailures, w)
	}
	for range loginFreeFailures {
		g.fail("guesser", t0)
	}
	// Its own backoff is 1 s; the global one, after 53 failures, 8 s.
	if w := g.check("guesser", t0); w != 8*time.Second {
		t.Fatalf("a client past its free failures waits %v, want the global 8s", w)
	}
	if w := g.check("fresh", t0); w != 0 {
		t.Fatalf("after %d failures over all clients, a new client waits %v, want none", globalFreeFailures, w)
	}
}

func TestCrossSite(t *testing.T) {
	for _, tt := range []struct {
		name    string
		headers map[string]string
		want    bool
	}{
		{"no headers (curl)", nil, false},
		{"same origin fetch", map[string]string{"Sec-Fetch-Site": "same-origin"}, false},
		{"typed address", map[string]string{"Sec-Fetch-Site": "none"}, false},
		{"cross site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, true},
		{"same site other origin", map[string]string{"Sec-Fetch-Site": "same-site"}, true},
		{"origin matches", map[string]string{"Origin": "http://shop.example"}, false},
		{"origin differs", map[string]string{"Origin": "https://evil.example"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://shop.example/ops/login", nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if got := crossSite(r); got != tt.want {
				t.Errorf("crossSite = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSecureCookies(t *testing.T) {
	s := &Server{}
	for _, tt := range []struct {
		name, host string
		want       bool
	}{
		{"localhost", "localhost:8080", true},
		{"ipv4 loopback", "127.0.0.1:8080", true},
		{"ipv6 loopback", "[::1]:8080", true},
		{"plain http elsewhere", "shop.example", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://"+tt.host+"/ops/login", nil)
			c := echo.New().NewContext(r, httptest.NewRecorder())
			if got := s.secureCookies(c); got != tt.want {
				t.Errorf("secureCookies(%s) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}

// svgDoc is enough of SVG to count the chart's bars.
type svgDoc struct {
	XMLName xml.Name `xml:"svg"`
	Rects   []struct {
		Class  string  `xml:"class,attr"`
		Height float64 `xml:"height,attr"`
		Title  string  `xml:"title"`
	} `xml:"rect"`
	Texts []string `xml:"text"`
}

func parseSVG(t testing.TB, b []byte) svgDoc {
	t.Helper()
	var doc svgDoc
	d := xml.NewDecoder(strings.NewReader(string(b)))
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("the chart is not well-formed SVG: %v\n%s", err, b)
	}
	return doc
}

func TestRevenueChart(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }
	rev := []reconcile.Revenue{
		{Day: day(2), Plan: "basic", Currency: "usd", Amount: 500, Orders: 1},
		{Day: day(2), Plan: "pro", Currency: "usd", Amount: 4800, Orders: 1},
		{Day: day(5), Plan: "basic", Currency: "usd", Amount: 1000, Orders: 2},
		{Day: day(5), Plan: "basic", Currency: "eur", Amount: 300, Orders: 1},
		{Day: day(30), Plan: "pro", Currency: "usd", Amount: 4800, Orders: 1}, // outside
	}
	doc := parseSVG(t, RevenueChart(rev, day(1), day(8)))
	var bars []string
	var heights []float64
	for _, r := range doc.Rects {
		if r.Class == "bar" {
			bars = append(bars, r.Title)
			heights = append(heights, r.Height)
		}
	}
	want := []string{"2026-11-02 basic: 5.00 USD", "2026-11-02 pro: 48.00 USD", "2026-11-05 basic: 10.00 USD"}
	if strings.Join(bars, "|") != strings.Join(want, "|") {
		t.Fatalf("bars %q, want %q", bars, want)
	}
	// Heights are proportional: 48.00 is 4.8 times 10.00.
	if r := heights[1] / heights[2]; r < 4.79 || r > 4.81 {
		t.Errorf("bar heights %v are not proportional to the amounts", heights)
	}
	if !strings.Contains(strings.Join(doc.Texts, " "), "other currencies than usd not shown") {
		t.Errorf("the caption does not say the eur revenue is left out: %q", doc.Texts)
	}
	empty := parseSVG(t, RevenueChart(nil, day(1), day(8)))
	for _, r := range empty.Rects {
		if r.Class == "bar" {
			t.Fatalf("bars in an empty chart")
		}
	}
}

// FuzzRevenueChart checks that any plan id and amount give well-formed SVG.
func FuzzRevenueChart(f *testing.F) {
	f.Add("basic-30d", int64(500), 3)
	f.Add("<script>&\"'", int64(1), 0)
	f.Add("", int64(-5), 40)
	f.Fuzz(func(t *testing.T, plan string, amount int64, d int) {
		if !utf8Valid(plan) {
			return
		}
		from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		rev := []reconcile.Revenue{{Day: from.AddDate(0, 0, d%400), Plan: plan, Currency: "usd", Amount: amount}}
		parseSVG(t, RevenueChart(rev, from, from.AddDate(0, 0, 30)))
	})
}

// utf8Valid reports whether s is text XML can carry.
func utf8Valid(s string) bool {
	for _, r := range s {
		if r == 0xFFFD || (r < 0x20 && r != '\t' && r != '\n' && r != '\r') {
			return false
		}
	}
	return true
}

// TestPageTemplates renders every page with representative data: a
// template mistake is a 500 at run time, so each must render here.
func TestPageTemplates(t *testing.T) {
	now := time.Now()
	plan := payments.Plan{ID: "basic-30d", Name: "Basic, 30 days", Price: 500, Currency: "usd", DurationDays: 30, DailyQuota: 100}
	order := &payments.Order{ID: "abcdefghijklmnopqrstuvwxyz", Plan: plan.ID, Method: "btc", Amount: 500, Currency: "usd", State: payments.StateNew, CreatedAt: now}
	inv := &Invoice{Address: "bcrt1qexample", AmountSat: 10000, ExpiresAt: now.Add(time.Minute)}
	row := reconcile.Row{ID: order.ID, Plan: plan.ID, Method: "card", Amount: 500, Currency: "usd", State: payments.StateSettled, License: payments.LicenseActive, MintRound: 3, LedgerIndex: 7, Linked: true, CreatedAt: now, SettledAt: now}
	sess := &opsSession{Label: "abcd", CSRF: "token-123"}
	for _, tt := range []struct {
		name, page string
		ops        bool
		data       any
		want       []string
	}{
		{"storefront", "storefront", false, storefrontView{Plans: []payments.Plan{plan}, Methods: []string{"card", "btc"}, Form: checkoutForm{Plan: plan.ID, Method: "btc", Address: "lic1bad"},
			Errors: map[string]string{"address": "The license address has a typo."}, ErrorCodes: map[string]string{"address": "address_checksum"}},
			[]string{`id="address-error" data-code="address_checksum"`, "The license address has a typo.", `value="lic1bad"`, "5.00 USD", `aria-invalid="true"`}},
		{"invoice waiting", "invoice", false, invoiceView{Order: order, Plan: plan, Invoice: inv, BTC: "0.0001", URI: template.URL(inv.BIP21()), QR: "data:image/png;base64,AA==", SecondsLeft: 60, Status: describe(order, inv, now)},
			[]string{`id="btc-address">bcrt1qexample`, `data-seconds="60"`, "bitcoin:bcrt1qexample?amount=0.0001", "<noscript><meta http-equiv=\"refresh\""}},
		{"invoice paid, confirming", "invoice", false, invoiceView{Order: &payments.Order{ID: order.ID, Method: "btc", State: payments.StateProcessing}, Plan: plan,
			Invoice: &Invoice{Address: "bcrt1qexample", AmountSat: 10000, PaidSat: 10000}, BTC: "0.0001", PaidBTC: "0.0001",
			Status: describe(&payments.Order{Method: "btc", State: payments.StateProcessing}, inv, now)},
			[]string{`id="received"`, "Do not send anything more"}},
		{"invoice paid late", "invoice", false, invoiceView{Order: &payments.Order{ID: order.ID, Method: "btc", State: payments.StateExpired, Flags: payments.FlagPaidLate}, Plan: plan,
			Contact: "refunds@shop.example", Status: describe(&payments.Order{Method: "btc", State: payments.StateExpired, Flags: payments.FlagPaidLate}, inv, now)},
			[]string{`id="contact"`, "refunds@shop.example", order.ID}},
		{"card order unpaid", "invoice", false, invoiceView{Order: &payments.Order{ID: order.ID, Plan: plan.ID, Method: "card", State: payments.StateNew}, Plan: plan, Cancelled: true,
			Status: describe(&payments.Order{Method: "card", State: payments.StateNew}, nil, now)},
			[]string{`id="resume" href="/invoice/` + order.ID + `/pay"`, `id="cancelled"`}},
		{"invoice expired", "invoice", false, invoiceView{Order: &payments.Order{ID: order.ID, Plan: plan.ID, Method: "btc", State: payments.StateExpired}, Plan: plan,
			Status: describe(&payments.Order{Method: "btc", State: payments.StateExpired}, inv, now)},
			[]string{`id="new-order" href="/?plan=basic-30d"`}},
		{"invoice settled", "invoice", false, invoiceView{Order: &payments.Order{ID: order.ID, State: payments.StateSettled}, Plan: plan, Status: describe(&payments.Order{State: payments.StateSettled}, nil, now), ScanCommand: "license scan --server http://x"},
			[]string{"your license is in the ledger", `<pre id="scan-command"><code>license scan --server http://x</code>`}},
		{"login", "ops_login", false, loginView{CSRF: "tok", Error: "Wrong password."}, []string{`name="csrf" value="tok"`, "Wrong password."}},
		{"dashboard", "ops_home", true, homeView{Period: newPeriodView(now, now.AddDate(0, 0, 1)), Queues: []queueCount{{reconcile.PaidNotMinted, 2}}, Total: 2},
			[]string{"paid_not_minted</a>: <strong>2</strong>", "/ops/revenue.svg?from=", `name="csrf" value="token-123"`}},
		{"orders", "ops_orders", true, ordersView{Rows: []reconcile.Row{row}, States: []string{"settled"}, Methods: []string{"card"}, Filter: reconcile.Filter{State: "settled"}, Query: "state=settled"},
			[]string{`data-order="abcdefghijklmnopqrstuvwxyz"`, "<option selected>settled</option>", "/ops/export/orders.csv?state=settled"}},
		{"order", "ops_order", true, opsOrderView{Row: row, CSRF: "token-123", Revocable: true}, []string{`id="revoke-form"`, `name="csrf" value="token-123"`}},
		{"exceptions", "ops_exceptions", true, exceptionsView{Exceptions: []reconcile.Exception{{Kind: reconcile.BTCLate, OrderID: order.ID, Detail: "late"}}}, []string{`<tr id="btc_late">`}},
		{"reconcile", "ops_reconcile", true, reconcileView{Report: &reconcile.Report{Orders: 3, Sources: []string{"database", "ledger"}}}, []string{"3 orders", "database, ledger", "Everything matches."}},
		{"audit", "ops_audit", true, []reconcile.AuditEntry{{At: now, Session: "ab12", Action: "revoke", OrderID: order.ID}}, []string{"revoke", "ab12"}},
		{"explorer", "explorer", false, explorerView{Size: 2, Checkpoint: "origin\n2\nroot\n", Entries: []explorerEntry{{Index: 1, Kind: "revoke", Target: 0, Reason: "operator"}}, Proof: &proofView{Index: 1, Size: 2, Path: []string{"aGFzaA=="}}},
			[]string{`id="ledger-size">2`, "#0 (operator)", "aGFzaA=="}},
		{"not found", "notfound", false, nil, []string{"There is nothing here"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{}
			rec := httptest.NewRecorder()
			c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
			if tt.ops {
				c.Set("ops", sess)
			}
			if err := s.render(c, http.StatusOK, tt.page, "Title", tt.data); err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(rec.Body)
			for _, w := range tt.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("page lacks %q:\n%s", w, body)
				}
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
				t.Errorf("CSP %q", csp)
			}
		})
	}
}

func TestStaticAssets(t *testing.T) {
	s := New(Config{}, Deps{Pages: &Pages{}}, slog.New(slog.DiscardHandler))
	for _, tt := range []struct{ name, path, ctype, want string }{
		{"stylesheet", "/static/site.css", "text/css", "--accent"},
		{"invoice script", "/static/invoice.js", "javascript", "/status"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), tt.ctype) || !strings.Contains(rec.Body.String(), tt.want) {
				t.Fatalf("GET %s: %d %q", tt.path, rec.Code, rec.Header().Get("Content-Type"))
			}
		})
	}
	for _, path := range []string{"/static/", "/static/nothing.css", "/static/../pages.go"} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}
}

func TestScanCommand(t *testing.T) {
	for _, tt := range []struct {
		name string
		l    *LedgerDeps
		want string
	}{
		{"no ledger served", nil, "license scan --server https://shop.example"},
		{"key to pin", &LedgerDeps{VerifierKey: "shop.example/ledger+0a1b2c3d+AbCd"}, "license scan --server https://shop.example --ledger-key shop.example/ledger+0a1b2c3d+AbCd"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := scanCommand("https://shop.example", tt.l); got != tt.want {
				t.Errorf("scanCommand = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzOpsPeriod checks the dashboard's date range reader: any query gives
// either a client error or a non-empty range of whole UTC days.
func FuzzOpsPeriod(f *testing.F) {
	f.Add("2026-11-01", "2026-11-22")
	f.Add("", "")
	f.Add("2026-11-22", "2026-11-01")
	f.Add("22-11-2026", "9999-12-31")
	f.Fuzz(func(t *testing.T, from, to string) {
		q := url.Values{"from": {from}, "to": {to}}
		c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/ops?"+q.Encode(), nil), httptest.NewRecorder())
		f, tt, err := opsPeriod(c, 30)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Status != http.StatusBadRequest || e.Code != "bad_date" {
				t.Fatalf("error %v is not a bad_date client error", err)
			}
			return
		}
		if !f.Before(tt) || f.Location() != time.UTC || tt.Location() != time.UTC || f.Truncate(24*time.Hour) != f || tt.Truncate(24*time.Hour) != tt {
			t.Fatalf("range %v – %v", f, tt)
		}
	})
}

// decodeQR checks that u is a data URL of a 256×256 PNG and returns the PNG.
func decodeQR(t *testing.T, u template.URL) []byte {
	t.Helper()
	b64, ok := strings.CutPrefix(string(u), "data:image/png;base64,")
	if !ok {
		t.Fatalf("QR code %.40q… is not a PNG data URL", u)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("QR code: %v", err)
	}
	if r := img.Bounds(); r.Dx() != 256 || r.Dy() != 256 {
		t.Fatalf("QR code is %v, want 256×256", r)
	}
	return b
}

// TestQRCache: a text is encoded once while it is cached; the least recently
// used text goes when the cache is full; a failed encoding is not kept.
func TestQRCache(t *testing.T) {
	var calls []string
	c := newQRCache(2, func(text string) ([]byte, error) {
		calls = append(calls, text)
		return encodeQR(text)
	})
	a, b, d := "bitcoin:bcrt1qa?amount=0.0001", "bitcoin:bcrt1qb?amount=0.0002", "bitcoin:bcrt1qd?amount=0.0003"
	urls := map[string]template.URL{}
	for i, step := range []struct {
		text  string
		calls int // encodings so far
	}{
		{a, 1}, {a, 1}, // cached
		{b, 2}, {a, 2}, // a is now the most recently used
		{d, 3}, // full: b goes
		{a, 3}, {d, 3},
		{b, 4}, // encoded again; a goes
		{a, 5},
	} {
		u, err := c.dataURL(step.text)
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != step.calls {
			t.Fatalf("step %d (%s): %d encodings %q, want %d", i, step.text, len(calls), calls, step.calls)
		}
		if c.encoded.Load() != int64(len(calls)) {
			t.Fatalf("step %d: the cache counts %d encodings, made %d", i, c.encoded.Load(), len(calls))
		}
		if prev, ok := urls[step.text]; ok && prev != u {
			t.Fatalf("step %d: another code for %s", i, step.text)
		}
		urls[step.text] = u
		if n := c.urls.Len(); n > 2 {
			t.Fatalf("step %d: %d entries; the bound is 2", i, n)
		}
	}
	want, err := encodeQR(a)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeQR(t, urls[a]); !bytes.Equal(got, want) {
		t.Fatal("the cached code of a is not the code of a")
	}
	if urls[a] == urls[b] || urls[b] == urls[d] {
		t.Fatal("two texts share a code")
	}

	// A text too long for a QR code fails every time and is not kept.
	long := "bitcoin:" + strings.Repeat("q", 4000)
	for range 2 {
		if _, err := c.dataURL(long); err == nil {
			t.Fatal("a 4000-character QR code was made")
		}
	}
	if n := c.encoded.Load(); n != 5 || len(calls) != 7 {
		t.Fatalf("after two failures: %d codes counted, %d calls; want 5 and 7", n, len(calls))
	}
	if c.urls.Contains(long) {
		t.Fatal("a failed code is cached")
	}
}

var qrImg = regexp.MustCompile(`<img class="qr" src="([^"]+)"`)

// TestInvoicePageQR: the invoice page of a real Bitcoin order (regtest btcd)
// shows the QR code of the invoice's BIP21 URI, encoded on the first load
// only; another invoice gets its own code.
func TestInvoicePageQR(t *testing.T) {
	s := newShop(t, shopOptions{btc: true})
	c := s.client()
	order := func() string { return c.btcOrder("basic-30d") }
	load := func(id string) template.URL {
		t.Helper()
		a := c.get("/invoice/" + id)
		m := qrImg.FindStringSubmatch(a.body)
		if a.status != http.StatusOK || m == nil {
			t.Fatalf("invoice page %s: %d, no QR code\n%s", id, a.status, a.body)
		}
		return template.URL(html.UnescapeString(m[1]))
	}
	first, second := order(), order()
	qrs := s.srv.deps.Pages.invoiceQRs()
	for i, id := range []string{first, first, second, second, first} {
		u := load(id)
		inv, err := s.srv.deps.Pages.Invoices.Invoice(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		want, err := encodeQR(inv.BIP21())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(decodeQR(t, u), want) {
			t.Fatalf("load %d: the page of %s does not show the code of its URI %s", i, id, inv.BIP21())
		}
	}
	if n := qrs.encoded.Load(); n != 2 {
		t.Fatalf("%d QR codes encoded for 5 loads of 2 invoices, want 2", n)
	}
}

// BenchmarkInvoiceQR is the invoice page's QR code: made on the first load
// of an invoice, then taken from the cache.
func BenchmarkInvoiceQR(b *testing.B) {
	const uri = "bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080?amount=0.0001"
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := newQRCache(1, encodeQR).dataURL(uri); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		c := newQRCache(1, encodeQR)
		if _, err := c.dataURL(uri); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.dataURL(uri); err != nil {
				b.Fatal(err)
			}
		}
		if n := c.encoded.Load(); n != 1 {
			b.Fatalf("%d encodings, want 1", n)
		}
	})
}

// TestPaidInvoiceAsksForNothing: once paid in full, the invoice page shows
// no QR code, address or wallet link, whatever the view holds.
func TestPaidInvoiceAsksForNothing(t *testing.T) {
	now := time.Now()
	plan := payments.Plan{ID: "basic-30d", Name: "Basic", Price: 500, Currency: "usd"}
	inv := &Invoice{Address: "bcrt1qexample", AmountSat: 10000, PaidSat: 10000, ExpiresAt: now.Add(time.Minute)}
	for _, state := range []payments.State{payments.StateProcessing, payments.StateSettled} {
		o := &payments.Order{ID: "abcdefghijklmnopqrstuvwxyz", Method: "btc", State: state}
		v := invoiceView{Order: o, Plan: plan, Invoice: inv, BTC: "0.0001", PaidBTC: "0.0001", QR: "data:image/png;base64,AA==",
			URI: template.URL(inv.BIP21()), Status: describe(o, inv, now)}
		rec := httptest.NewRecorder()
		c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), rec)
		if err := (&Server{}).render(c, http.StatusOK, "invoice", v.Status.Title, v); err != nil {
			t.Fatal(err)
		}
		body := rec.Body.String()
		for _, prompt := range []string{`class="qr"`, `id="btc-address"`, `id="open-wallet"`, "bitcoin:bcrt1q"} {
			if strings.Contains(body, prompt) {
				t.Errorf("%s invoice shows %s", state, prompt)
			}
		}
		if !strings.Contains(body, "<title>"+v.Status.Title) {
			t.Errorf("%s invoice: the title does not say the status", state)
		}
	}
}

// TestInvoicePayResumesCheckout: the invoice page of an unpaid card order
// leads back to its Checkout Session (asked of stripe-mock); once the
// order is settled, back to the invoice.
func TestInvoicePayResumesCheckout(t *testing.T) {
	s := newShop(t, shopOptions{stripe: true})
	c := s.client()
	a := c.post("/checkout", url.Values{"plan": {"basic-30d"}, "address": {paytest.Address(t)}, "method": {"card"}})
	checkout := a.header.Get("Location")
	if a.status != http.StatusSeeOther || checkout == "" {
		t.Fatalf("card checkout: %d %q", a.status, checkout)
	}
	var id string
	if err := s.DB.QueryRow(t.Context(), `select id from orders order by created_at desc limit 1`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	page := c.get("/invoice/" + id + "?cancelled=1")
	if !strings.Contains(page.body, `id="resume"`) || !strings.Contains(page.body, `id="cancelled"`) {
		t.Fatalf("the unpaid card order's page offers no way back to the payment:\n%s", page.body)
	}
	a = c.get("/invoice/" + id + "/pay")
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.header.Get("Location"), "http") {
		t.Fatalf("resume: %d %q, want a redirect to the Checkout Session's page", a.status, a.header.Get("Location"))
	}
	s.Settle(id)
	a = c.get("/invoice/" + id + "/pay")
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/invoice/"+id {
		t.Fatalf("resume a paid order: %d %q, want the invoice", a.status, a.header.Get("Location"))
	}
}
