package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// FuzzLoginNextStaysOnTheDashboard: whatever next an attacker puts in the
// login link, the redirect after the login is a path of this server's
// dashboard (no scheme, no host, no "//" a browser reads as a host, no
// backslash, no control character).
func FuzzLoginNextStaysOnTheDashboard(f *testing.F) {
	for _, s := range []string{"/ops", "/ops/orders?x=1", "//evil.example", "/ops//evil.example", "/ops/%2F%2Fevil.example",
		"/ops/..%2F..%2F%2Fevil", "/ops\\evil", "/ops/\t/evil", "/ops?next=//evil", "/ops#//evil", "/ops/%0d%0aSet-Cookie:x",
		"/ops/.%2e/%2e%2e//evil", "/ops/;//evil", "/ops/@evil.example", " /ops", "/ops%00", "/ops/orders/%2e%2e%2f%2e%2e%2fshop", "/ops%2F0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := loginNext(next)
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" {
			t.Fatalf("loginNext(%q) = %q: not a path of this server", next, got)
		}
		if !strings.HasPrefix(got, "/ops") || (u.Path != "/ops" && !strings.HasPrefix(u.Path, "/ops/")) {
			t.Fatalf("loginNext(%q) = %q: not under /ops", next, got)
		}
		if strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\r\n\t\x00") {
			t.Fatalf("loginNext(%q) = %q: a browser may read a host or a header in it", next, got)
		}
		// What the browser resolves against the server's own origin stays on it.
		base, _ := url.Parse("https://shop.example/ops/login")
		if r := base.ResolveReference(u); r.Host != "shop.example" || r.Scheme != "https" {
			t.Fatalf("loginNext(%q) = %q resolves to %s", next, got, r)
		}
	})
}

// TestHeadOfPostOnlyRoutesChangesNothing: HEAD is answered as GET, so a
// route that only takes POST answers 405 to HEAD and its handler never runs.
func TestHeadOfPostOnlyRoutesChangesNothing(t *testing.T) {
	e := echo.New()
	ran := false
	e.POST("/ops/orders/:id/revoke", func(c echo.Context) error { ran = true; return nil })
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		he, _ := err.(*echo.HTTPError)
		c.NoContent(he.Code)
	}
	for _, p := range []string{"/ops/orders/X/revoke"} {
		rec := httptest.NewRecorder()
		headAsGet(e).ServeHTTP(rec, httptest.NewRequest(http.MethodHead, p, nil))
		if ran || rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("HEAD %s: %d, handler ran %v", p, rec.Code, ran)
		}
	}
}

// TestLoginGuardIgnoresClientHeadersWithoutTrustProxy: without
// --trust-proxy the client a failed login is counted against is the
// connection's address, whatever X-Forwarded-For or X-Real-IP say, so a
// guesser cannot pick a fresh client for each attempt by header.
func TestLoginGuardIgnoresClientHeadersWithoutTrustProxy(t *testing.T) {
	s := &Server{echo: echo.New()}
	s.echo.IPExtractor = echo.ExtractIPDirect()
	ids := map[string]bool{}
	for i, h := range []map[string]string{{}, {"X-Forwarded-For": "198.51.100.7"}, {"X-Real-IP": "198.51.100.8"},
		{"X-Forwarded-For": "198.51.100.9, 203.0.113.1", "X-Real-IP": "::1"}} {
		r := httptest.NewRequest(http.MethodPost, "/ops/login", nil)
		r.RemoteAddr = "203.0.113.50:4000"
		for k, v := range h {
			r.Header.Set(k, v)
		}
		c := s.echo.NewContext(r, httptest.NewRecorder())
		ids[s.clientID(c)] = true
		if len(ids) != 1 {
			t.Fatalf("request %d (%v) counted as another client", i, h)
		}
	}
}
