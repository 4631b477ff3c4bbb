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
