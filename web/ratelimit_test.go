package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestRateLimit(t *testing.T) {
	s := New(Config{}, Deps{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.echo.POST("/limited", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) },
		s.rateLimiter("test", RateLimit{PerSecond: 0.5, Burst: 3}))
	do := func(addr string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/limited", nil)
		req.RemoteAddr = addr + ":1234"
		req.Header.Set("X-Forwarded-For", "203.0.113.9") // not trusted by default
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec
	}
	for i := 0; i < 3; i++ {
		if rec := do("192.0.2.1"); rec.Code != http.StatusNoContent {
			t.Fatalf("request %d within the burst: %d %s", i, rec.Code, rec.Body)
		}
	}
	rec := do("192.0.2.1")
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("request past the burst: %d, want 429", rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "2" {
		t.Fatalf("Retry-After %q, want 2 (one token every 2 s)", got)
	}
	if body := rec.Body.String(); !strings.Contains(body, `"code":"rate_limited"`) {
		t.Fatalf("body %s lacks the rate_limited code", body)
	}
	// Another client is not affected, whatever X-Forwarded-For says.
	if rec := do("192.0.2.2"); rec.Code != http.StatusNoContent {
		t.Fatalf("another client: %d", rec.Code)
	}
}

func TestRateLimitDisabled(t *testing.T) {
	s := New(Config{}, Deps{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.echo.POST("/open", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) },
		s.rateLimiter("test", RateLimit{}))
	for i := 0; i < 50; i++ {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/open", nil))
		if rec.Code != http.StatusNoContent {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
}
