package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// floodRoute serves POST /limited behind mw on a server that takes client
// addresses from X-Forwarded-For, as behind a proxy, and returns a function
// posting as the client at an address.
func floodRoute(t *testing.T, s *Server, mw echo.MiddlewareFunc) func(from string) int {
	t.Helper()
	s.echo.POST("/limited", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, mw)
	return func(from string) int {
		req := httptest.NewRequest(http.MethodPost, "/limited", nil)
		req.RemoteAddr = "127.0.0.1:40000" // the proxy
		req.Header.Set("X-Forwarded-For", from)
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
}

// attackerAddress is the i-th address of an attacker holding 2001:db8::/32:
// each in a /64 and a /48 of its own.
func attackerAddress(i int) string { return fmt.Sprintf("2001:db8:%x:%x::1", i, i) }

// TestAdmitFloodOfSlash64s: an attacker with a /32 fills the admission
// gate's table with its /64s (one request each, so each has spent its one
// token). A newcomer from another /32, and one over IPv4, still get a
// bucket of their own or their network's, not the one every flooding /64
// past the bound shares; the attacker's further /64s do share one; and the
// table stays bounded.
func TestAdmitFloodOfSlash64s(t *testing.T) {
	old := maxAdmitClients
	maxAdmitClients = 40
	t.Cleanup(func() { maxAdmitClients = old })
	s := New(Config{TrustProxy: true}, Deps{}, slog.New(slog.DiscardHandler))
	g := newAdmitGate(s, RateLimit{PerSecond: 0.001, Burst: 1}, AdmitLimits{InFlight: 4})
	post := floodRoute(t, s, g.middleware)

	const flood = 2000
	served := 0
	for i := range flood {
		if post(attackerAddress(i)) == http.StatusNoContent {
			served++
		}
	}
	// Its own 40, 10 /48s, then its /32's one token.
	if max := maxAdmitClients + maxAdmitClients/4 + 1; served > max {
		t.Fatalf("%d of the flood's requests served, want at most %d", served, max)
	}
	for _, from := range []string{"2001:db9:1:2::5", "192.0.2.7"} {
		if code := post(from); code != http.StatusNoContent {
			t.Fatalf("a newcomer at %s after the flood: %d, want 204 (a bucket not shared with the flood)", from, code)
		}
		if code := post(from); code != http.StatusTooManyRequests {
			t.Fatalf("the newcomer at %s again: %d, want 429 (its bucket's one token spent)", from, code)
		}
	}
	if code := post(attackerAddress(flood)); code != http.StatusTooManyRequests {
		t.Fatalf("another /64 of the flood: %d, want 429 (the flood's shared bucket)", code)
	}
	g.mu.Lock()
	kept := len(g.clients)
	g.mu.Unlock()
	if bound := maxAdmitClients + 2*(maxAdmitClients/4) + 1; kept > bound {
		t.Fatalf("%d clients kept after a flood of %d, want at most %d", kept, flood, bound)
	}
}

// TestAdmitGateForgetsIdleClients: past the bound, clients idle long enough
// for their buckets to be full again are forgotten before a newcomer is
// made to share, and the count of clients by tier stays that of the table.
func TestAdmitGateForgetsIdleClients(t *testing.T) {
	old := maxAdmitClients
	maxAdmitClients = 8
	t.Cleanup(func() { maxAdmitClients = old })
	s := New(Config{TrustProxy: true}, Deps{}, slog.New(slog.DiscardHandler))
	g := newAdmitGate(s, RateLimit{PerSecond: 1000, Burst: 1}, AdmitLimits{})
	post := floodRoute(t, s, g.middleware)
	for i := range 30 {
		post(attackerAddress(i))
	}
	count := func() (kept, counted int) {
		g.mu.Lock()
		defer g.mu.Unlock()
		for _, n := range g.counts {
			counted += n
		}
		return len(g.clients), counted
	}
	if kept, counted := count(); kept != counted || g.counts[tierOwn] != maxAdmitClients {
		t.Fatalf("%d clients kept, %d counted (%v)", kept, counted, g.counts)
	}
	// A minute later every bucket is full again: the next newcomer finds
	// room of its own.
	g.mu.Lock()
	for _, cl := range g.clients {
		cl.seen = cl.seen.Add(-2 * time.Minute)
	}
	g.lastSweep = time.Time{}
	g.mu.Unlock()
	post("192.0.2.7")
	if kept, counted := count(); kept != 1 || counted != 1 || g.counts[tierOwn] != 1 {
		t.Fatalf("after the idle were forgotten: %d clients kept, %d counted (%v), want the newcomer alone", kept, counted, g.counts)
	}
}

// TestRateLimiterBounded: the rate limits of orders and ballots keep their
// clients bounded as the admission gate does: a flood of /64s from one /32
// fills its own share, a newcomer from elsewhere still has a limit not
// shared with the flood, and idle clients are forgotten.
func TestRateLimiterBounded(t *testing.T) {
	old := maxLimitedClients
	maxLimitedClients = 40
	t.Cleanup(func() { maxLimitedClients = old })
	s := New(Config{TrustProxy: true}, Deps{}, slog.New(slog.DiscardHandler))
	mw, store := s.rateLimiterStore("test", RateLimit{PerSecond: 0.001, Burst: 1})
	post := floodRoute(t, s, mw)

	const flood = 2000
	for i := range flood {
		post(attackerAddress(i))
	}
	store.mu.Lock()
	kept := len(store.clients)
	store.mu.Unlock()
	if bound := maxLimitedClients + 2*(maxLimitedClients/4) + 1; kept > bound {
		t.Fatalf("%d clients kept after a flood of %d, want at most %d", kept, flood, bound)
	}
	for _, from := range []string{"2001:db9:1:2::5", "192.0.2.7"} {
		if code := post(from); code != http.StatusNoContent {
			t.Fatalf("a newcomer at %s after the flood: %d, want 204", from, code)
		}
		if code := post(from); code != http.StatusTooManyRequests {
			t.Fatalf("the newcomer at %s again: %d, want 429", from, code)
		}
	}
	if code := post(attackerAddress(flood)); code != http.StatusTooManyRequests {
		t.Fatalf("another /64 of the flood: %d, want 429 (the flood's shared limit)", code)
	}
	// Once every bucket is full again, the table empties.
	store.mu.Lock()
	for _, cl := range store.clients {
		cl.seen = cl.seen.Add(-store.idle - time.Second)
	}
	store.lastSweep = time.Time{}
	store.mu.Unlock()
	post("198.51.100.1")
	store.mu.Lock()
	kept, counts := len(store.clients), store.counts
	store.mu.Unlock()
	if kept != 1 || counts != [tiers]int{tierOwn: 1} {
		t.Fatalf("after the idle were forgotten: %d clients kept (%v), want the newcomer alone", kept, counts)
	}
}

func TestWiderNet(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		tier int
		want string
	}{
		{"192.0.2.7", tierNet, "192.0.2.0/24"},
		{"192.0.2.7", tierWide, "192.0.0.0/16"},
		{"::ffff:192.0.2.7", tierNet, "192.0.2.0/24"},
		{"2001:db8:aa:bb:1:2:3:4", tierNet, "2001:db8:aa::/48"},
		{"2001:db8:aa:bb:1:2:3:4", tierWide, "2001:db8::/32"},
		{"fe80::1%eth0", tierNet, "fe80::/48"},
		{"not an address", tierNet, "not an address"},
	} {
		if got := widerNet(tc.ip, tc.tier); got != tc.want {
			t.Errorf("widerNet(%q, %d) = %q, want %q", tc.ip, tc.tier, got, tc.want)
		}
	}
}
