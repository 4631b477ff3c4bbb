package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSecurityHeaders: every answer, JSON and HTML alike, carries nosniff and
// refuses framing; HSTS is sent exactly when the request came over https (an
// https public URL, or a trusted proxy's X-Forwarded-Proto).
func TestSecurityHeaders(t *testing.T) {
	for _, tt := range []struct {
		name   string
		cfg    Config
		header map[string]string
		hsts   bool
	}{
		{"plain http", Config{}, nil, false},
		{"X-Forwarded-Proto from an untrusted client", Config{}, map[string]string{"X-Forwarded-Proto": "https"}, false},
		{"X-Forwarded-Proto from a trusted proxy", Config{TrustProxy: true}, map[string]string{"X-Forwarded-Proto": "https"}, true},
		{"https public URL", Config{PublicURL: "https://licenses.example"}, nil, true},
		{"http public URL", Config{PublicURL: "http://licenses.example"}, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.cfg, Deps{}, slog.New(slog.DiscardHandler))
			for _, path := range []string{"/healthz", "/no/such/page"} {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				for k, v := range tt.header {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				s.Handler().ServeHTTP(rec, req)
				h := rec.Header()
				if h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
					h.Get("X-Frame-Options") != "DENY" || h.Get("Permissions-Policy") == "" {
					t.Fatalf("GET %s: headers %v", path, h)
				}
				if got := h.Get("Strict-Transport-Security") != ""; got != tt.hsts {
					t.Fatalf("GET %s: HSTS %v (%q), want %v", path, got, h.Get("Strict-Transport-Security"), tt.hsts)
				}
			}
		})
	}
}

// TestHead: HEAD works on GET routes (monitors and mirrors use it) and
// sends no body over a real connection.
func TestHead(t *testing.T) {
	s := New(Config{}, Deps{}, slog.New(slog.DiscardHandler))
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/no/such/page": 404} {
		resp, err := http.Head(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("HEAD %s: %d, want %d", path, resp.StatusCode, want)
		}
		if path == "/healthz" && resp.Header.Get("Content-Type") == "" {
			t.Fatalf("HEAD %s: no Content-Type, the GET's headers were not sent", path)
		}
	}
}

// TestMetricsOffTheCustomerPort: /metrics is not on the server's own
// handler unless asked; MetricsHandler serves it for a listener of its own.
func TestMetricsOffTheCustomerPort(t *testing.T) {
	s := New(Config{}, Deps{}, slog.New(slog.DiscardHandler))
	get := func(h http.Handler, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	get(s.Handler(), "/healthz")
	if rec := get(s.Handler(), "/metrics"); rec.Code != http.StatusNotFound {
		t.Fatalf("/metrics on the customer port: %d, want 404", rec.Code)
	}
	rec := get(s.MetricsHandler(), "/metrics")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `licensed_http_requests_total{method="GET",route="/healthz",status="200"} 1`) {
		t.Fatalf("metrics handler: %d\n%.500s", rec.Code, rec.Body.String())
	}
	public := New(Config{PublicMetrics: true}, Deps{}, slog.New(slog.DiscardHandler))
	if rec := get(public.Handler(), "/metrics"); rec.Code != http.StatusOK {
		t.Fatalf("/metrics with PublicMetrics: %d", rec.Code)
	}
}

// TestOpsCookieBehindTLSProxy: behind an https public URL the session
// cookie is Secure and __Host- prefixed although this process speaks plain
// http to its proxy (a non-loopback Host, as the proxy forwards it).
func TestOpsCookieBehindTLSProxy(t *testing.T) {
	s := newShop(t, shopOptions{config: func(c *Config) { c.PublicURL = "https://licenses.example" }})
	c := s.client()
	tok := c.csrf("/ops/login")
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/ops/login", strings.NewReader(url.Values{"csrf": {tok}, "password": {opsPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "licenses.example"
	u, _ := url.Parse(s.URL + "/ops/login")
	for _, ck := range c.hc.Jar.Cookies(u) {
		req.AddCookie(ck)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if strings.HasSuffix(ck.Name, "licensed_ops") {
			session = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil {
		t.Fatalf("login: %d, cookies %v", resp.StatusCode, resp.Cookies())
	}
	if !session.Secure || session.Name != "__Host-licensed_ops" || !session.HttpOnly {
		t.Fatalf("session cookie %+v: want Secure, HttpOnly, __Host-", session)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatal("no HSTS behind an https public URL")
	}
}

// TestOpsLoginFloodCannotLockOut: a flood of wrong passwords from one
// client (and from many) slows those clients, but the operator logging in
// from an address with no failures gets in at once, and every failure is in
// the audit log.
func TestOpsLoginFloodCannotLockOut(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newShop(t, shopOptions{opsNow: clock, config: func(c *Config) { c.TrustProxy = true }})
	from := func(ip string) map[string]string { return map[string]string{"X-Forwarded-For": ip} }
	attacker := s.client()
	tok := attacker.csrf("/ops/login")
	var checked, refused int
	// 200 guesses from one address, and one from each of 100 others: more
	// than the global guard's free failures.
	for i := 0; i < 300; i++ {
		ip := "203.0.113.7"
		if i >= 200 {
			ip = "198.51.100." + strconv.Itoa(i-200)
		}
		a := attacker.do(http.MethodPost, "/ops/login", url.Values{"csrf": {tok}, "password": {"guess"}}, from(ip))
		switch a.status {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
			refused++
		default:
			t.Fatalf("guess %d: %d", i, a.status)
		}
		if m := csrfInput.FindStringSubmatch(a.body); m != nil {
			tok = m[1]
		}
	}
	if refused < 190 {
		t.Fatalf("only %d of 300 guesses refused unchecked: the flood is not slowed", refused)
	}
	// The repeat guesser stays slowed.
	if a := attacker.do(http.MethodPost, "/ops/login", url.Values{"csrf": {tok}, "password": {opsPassword}}, from("203.0.113.7")); a.status != http.StatusTooManyRequests {
		t.Fatalf("the flooding client with the right password: %d, want 429", a.status)
	}
	// The operator, from an address with no failures, gets in at once.
	op := s.client()
	opTok := op.csrf("/ops/login")
	a := op.do(http.MethodPost, "/ops/login", url.Values{"csrf": {opTok}, "password": {opsPassword}}, from("192.0.2.1"))
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/ops" {
		t.Fatalf("the operator during the flood: %d %s", a.status, a.header.Get("Location"))
	}
	var failed int
	if err := s.DB.QueryRow(context.Background(), `select count(*) from ops_audit where action = 'login_failed'`).Scan(&failed); err != nil {
		t.Fatal(err)
	}
	if failed != checked {
		t.Fatalf("%d failed logins in the audit log, want the %d checked", failed, checked)
	}
}

// TestErrorPagesForBrowsers: a browser that meets an error gets an HTML page
// with a way on (log in and come back, back to the form, home); an API
// client gets the same error as JSON.
func TestErrorPagesForBrowsers(t *testing.T) {
	s := newShop(t, shopOptions{})
	browser := map[string]string{"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
	c := s.client()
	for _, tt := range []struct {
		name, method, path string
		form               url.Values
		status             int
		action             string // the page's first link, "" for none
	}{
		{"unknown page", http.MethodGet, "/no/such/page", nil, 404, ""},
		{"unknown asset", http.MethodGet, "/static/nope.css", nil, 404, ""},
		{"POST after the session ended", http.MethodPost, "/ops/orders/aaaaaaaaaaaaaaaaaaaaaaaaaa/revoke", url.Values{"csrf": {"x"}}, 401,
			"/ops/login?next=%2Fops%2Forders%2Faaaaaaaaaaaaaaaaaaaaaaaaaa"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := c.do(tt.method, tt.path, tt.form, browser)
			if a.status != tt.status || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
				t.Fatalf("%s %s: %d %s, want %d HTML", tt.method, tt.path, a.status, a.header.Get("Content-Type"), tt.status)
			}
			if !strings.Contains(a.body, `id="error-message"`) || !strings.Contains(a.body, `href="/"`) {
				t.Fatalf("the error page has no message or no way home:\n%s", a.body)
			}
			if tt.action != "" && !strings.Contains(a.body, `id="error-action" href="`+tt.action+`"`) {
				t.Fatalf("the error page does not lead to %s:\n%s", tt.action, a.body)
			}
			// An API client gets JSON.
			j := c.do(tt.method, tt.path, tt.form, nil)
			if j.status != tt.status || !strings.HasPrefix(j.header.Get("Content-Type"), "application/json") {
				t.Fatalf("API client: %d %s, want %d JSON", j.status, j.header.Get("Content-Type"), tt.status)
			}
		})
	}
	// Logged in: a bad date and a double submit land on pages that lead
	// back to the form.
	c.login()
	for _, tt := range []struct {
		name, method, path string
		form               url.Values
		status             int
		action             string
	}{
		{"bad date", http.MethodGet, "/ops/orders?from=2026-13-45", nil, 400, `/ops/orders"`},
		{"dates reversed", http.MethodGet, "/ops/orders?from=2026-12-02&to=2026-12-01", nil, 400, `/ops/orders"`},
		{"double submit", http.MethodPost, "/ops/orders/" + s.CardOrder("basic-30d") + "/settle", nil, 409, "/ops/orders/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			form := tt.form
			if tt.method == http.MethodPost {
				form = url.Values{"csrf": {c.csrf("/ops")}, "note": {"again"}, "confirm": {"yes"}}
			}
			a := c.do(tt.method, tt.path, form, browser)
			if a.status != tt.status || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") ||
				!strings.Contains(a.body, `id="error-action" href="`+tt.action) {
				t.Fatalf("%s %s: %d %s, want %d HTML leading to %s:\n%s", tt.method, tt.path, a.status, a.header.Get("Content-Type"), tt.status, tt.action, a.body)
			}
		})
	}
	// After logging in from the error page, the operator is back where the
	// session ended.
	c = s.client()
	next := "/ops/orders?state=settled"
	a := c.get("/ops/login?next=" + url.QueryEscape(next))
	m := csrfInput.FindStringSubmatch(a.body)
	if m == nil || !strings.Contains(a.body, `name="next" value="/ops/orders?state=settled"`) {
		t.Fatalf("the login page does not carry next:\n%s", a.body)
	}
	a = c.post("/ops/login", url.Values{"csrf": {m[1]}, "password": {opsPassword}, "next": {next}})
	if a.status != http.StatusSeeOther || a.header.Get("Location") != next {
		t.Fatalf("login with next: %d → %q, want %q", a.status, a.header.Get("Location"), next)
	}
}

func TestLoginNextIsNoOpenRedirect(t *testing.T) {
	for in, want := range map[string]string{
		"/ops/orders?x=1":       "/ops/orders?x=1",
		"":                      "/ops",
		"https://evil.example/": "/ops",
		"//evil.example/ops":    "/ops",
		"/\\evil.example":       "/ops",
		"/opsx/../../evil":      "/ops",
		"/ops/../evil":          "/ops",
		"/ops/login":            "/ops",
		"/shop":                 "/ops",
	} {
		if got := loginNext(in); got != want {
			t.Errorf("loginNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStorefront429IsAPage: a browser that orders too fast gets a page that
// says how long to wait and leads back, not raw JSON.
func TestStorefront429IsAPage(t *testing.T) {
	s := newShop(t, shopOptions{config: func(c *Config) { c.OrderLimit = RateLimit{PerSecond: 0.001, Burst: 1} }})
	c := s.client()
	browser := map[string]string{"Accept": "text/html"}
	form := url.Values{"plan": {"basic-30d"}, "address": {"lic1typo"}, "method": {"card"}}
	c.do(http.MethodPost, "/checkout", form, browser)
	a := c.do(http.MethodPost, "/checkout", form, browser)
	if a.status != http.StatusTooManyRequests || !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(a.body, "Wait ") || !strings.Contains(a.body, `id="error-action" href="/"`) {
		t.Fatalf("storefront 429: %d %s\n%s", a.status, a.header.Get("Content-Type"), a.body)
	}
}
