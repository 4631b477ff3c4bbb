package web

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/pgtest"
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
	// An IPv6 client is its /64: new addresses in it are not new clients.
	for i := range 3 {
		if rec := do(fmt.Sprintf("[2001:db8:1:2::%x]", i+1)); rec.Code != http.StatusNoContent {
			t.Fatalf("IPv6 request %d within the burst: %d", i, rec.Code)
		}
	}
	if rec := do("[2001:db8:1:2:ffff::9]"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("a 4th address of the same /64: %d, want 429", rec.Code)
	}
	if rec := do("[2001:db8:1:3::1]"); rec.Code != http.StatusNoContent {
		t.Fatalf("another /64: %d", rec.Code)
	}
}

func TestClientNet(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":              "192.0.2.7",
		"2001:db8:aa:bb:1:2:3:4": "2001:db8:aa:bb::/64",
		"2001:db8:aa:bb::ffff":   "2001:db8:aa:bb::/64",
		"::ffff:192.0.2.7":       "::ffff:192.0.2.7",
		"not an address":         "not an address",
		"fe80::1%eth0":           "fe80::/64",
	} {
		if got := clientNet(in); got != want {
			t.Errorf("clientNet(%q) = %q, want %q", in, got, want)
		}
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

func TestParseRelayKeys(t *testing.T) {
	h := strings.Repeat("ab", 32)
	h2 := strings.Repeat("cd", 32)
	cases := []struct {
		name, text string
		n          int
		err        string // in the error
		want       RelayKey
	}{
		{"empty", "", 0, "", RelayKey{}},
		{"comments and blanks", "# keys\n\n   \n", 0, "", RelayKey{}},
		{"one key", "relay-a sha256:" + h, 1, "", RelayKey{Name: "relay-a"}},
		{"limits", "relay.b sha256:" + h + " rate=2500 burst=4096 inflight=512", 1, "", RelayKey{Name: "relay.b", Limit: RateLimit{PerSecond: 2500, Burst: 4096}, InFlight: 512}},
		{"no rate limit", "r sha256:" + h + " rate=0", 1, "", RelayKey{Name: "r", NoRate: true}},
		{"two keys", "a sha256:" + h + "\nb sha256:" + h2 + "\n", 2, "", RelayKey{}},
		{"no hash", "relay-a", 0, "line 1", RelayKey{}},
		{"short hash", "relay-a sha256:abcd", 0, "64 hex digits", RelayKey{}},
		{"hash without prefix", "relay-a " + h, 0, "sha256:", RelayKey{}},
		{"a key instead of its hash", "relay-a lrk_" + strings.Repeat("A", 43), 0, "sha256:", RelayKey{}},
		{"bad name", "relay/a sha256:" + h, 0, "name", RelayKey{}},
		{"unknown option", "r sha256:" + h + " speed=3", 0, "speed=3", RelayKey{}},
		{"option twice", "r sha256:" + h + " burst=3 burst=4", 0, "at most once", RelayKey{}},
		{"negative rate", "r sha256:" + h + " rate=-1", 0, "rate", RelayKey{}},
		{"NaN rate", "r sha256:" + h + " rate=NaN", 0, "rate", RelayKey{}},
		{"zero burst", "r sha256:" + h + " burst=0", 0, "burst", RelayKey{}},
		{"name twice", "a sha256:" + h + "\na sha256:" + h2, 0, "line 2: the name", RelayKey{}},
		{"hash twice", "a sha256:" + h + "\n# b\nb sha256:" + h, 0, "line 3: the same key", RelayKey{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseRelayKeys([]byte(tc.text))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if keys.Len() != tc.n {
				t.Fatalf("%d keys, want %d", keys.Len(), tc.n)
			}
			if tc.want.Name != "" {
				for _, k := range keys.byHash {
					want := tc.want
					want.Hash = k.Hash
					if *k != want {
						t.Fatalf("key %+v, want %+v", *k, want)
					}
				}
			}
		})
	}
}

// TestNewRelayKey: the line parses, it finds the key by its hash and no
// other, and it holds the hash, never the key.
func TestNewRelayKey(t *testing.T) {
	key, line, err := NewRelayKey("relay-1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, RelayKeyPrefix) || len(key) != len(RelayKeyPrefix)+43 || strings.Contains(line, key[len(RelayKeyPrefix):]) {
		t.Fatalf("key %q, line %q", key, line)
	}
	keys, err := ParseRelayKeys([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if k := keys.lookup(key); k == nil || k.Name != "relay-1" {
		t.Fatalf("lookup of the key: %+v", k)
	}
	other, _, _ := NewRelayKey("relay-1")
	if keys.lookup(other) != nil || keys.lookup("") != nil {
		t.Fatal("another key found")
	}
	if _, _, err := NewRelayKey("no spaces"); err == nil {
		t.Fatal("a name with a space was taken")
	}
}

// FuzzParseRelayKeys: never panics; every key parsed is valid, and each
// parsed file's lines parse again to the same keys.
func FuzzParseRelayKeys(f *testing.F) {
	f.Add([]byte("relay-a sha256:" + strings.Repeat("ab", 32) + " rate=10 burst=20 inflight=5\n# c\n"))
	f.Add([]byte("a sha256:" + strings.Repeat("0", 64) + "\nb sha256:" + strings.Repeat("1", 64)))
	f.Add([]byte("x sha256:zz rate=1e400"))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := ParseRelayKeys(b)
		if err != nil {
			return
		}
		var again strings.Builder
		for _, k := range keys.byHash {
			if !validRelayName(k.Name) || k.Limit.PerSecond < 0 || k.Limit.Burst < 0 || k.InFlight < 0 {
				t.Fatalf("invalid key %+v", *k)
			}
			fmt.Fprintf(&again, "%s sha256:%x", k.Name, k.Hash)
			if k.Limit.PerSecond > 0 || k.NoRate {
				fmt.Fprintf(&again, " rate=%v", k.Limit.PerSecond)
			}
			if k.Limit.Burst > 0 {
				fmt.Fprintf(&again, " burst=%d", k.Limit.Burst)
			}
			if k.InFlight > 0 {
				fmt.Fprintf(&again, " inflight=%d", k.InFlight)
			}
			again.WriteByte('\n')
		}
		keys2, err := ParseRelayKeys([]byte(again.String()))
		if err != nil {
			t.Fatalf("re-parsing %q: %v", again.String(), err)
		}
		for h, k := range keys.byHash {
			if k2 := keys2.byHash[h]; k2 == nil || *k2 != *k {
				t.Fatalf("%+v became %+v", *k, k2)
			}
		}
	})
}

// TestRelayKeyRateZero: rate=0 on a key's line is no rate limit, not the
// default relay rate; a line without limits gets the defaults.
func TestRelayKeyRateZero(t *testing.T) {
	h := strings.Repeat("ab", 32)
	keys, err := ParseRelayKeys([]byte("free sha256:" + h + " rate=0\nplain sha256:" + strings.Repeat("cd", 32) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	g := &admitGate{limits: AdmitLimits{Relay: RateLimit{PerSecond: DefaultRelayRate, Burst: DefaultRelayBurst}, Keys: keys}}
	for _, k := range keys.byHash {
		rl := g.relayLimit(k)
		cl := newClient(k.Name, rl, 0)
		switch k.Name {
		case "free":
			if cl.lim != nil {
				t.Fatalf("rate=0: limited to %v/s", cl.lim.Limit())
			}
		case "plain":
			if cl.lim == nil || float64(cl.lim.Limit()) != DefaultRelayRate {
				t.Fatalf("a line without limits: %+v, want the default relay rate", rl)
			}
		}
	}
}

// TestAdmitClientsBounded: past maxAdmitClients, new anonymous clients
// share their network's limits, so a flood from many addresses cannot grow
// the gate's memory without bound (nor get a fresh bucket per address).
func TestAdmitClientsBounded(t *testing.T) {
	old := maxAdmitClients
	maxAdmitClients = 2
	t.Cleanup(func() { maxAdmitClients = old })
	f := admissiontest.New(t, pgtest.Pool(t), 0)
	url, _ := admitServer(t, f, Config{TrustProxy: true, AdmitLimit: RateLimit{PerSecond: 0.001, Burst: 1}})
	for i, tc := range []struct {
		from string
		want int
	}{
		{"192.0.2.1", 400}, // its own bucket: through the gate, then malformed
		{"192.0.2.2", 400},
		{"192.0.2.3", 400}, // the one token of 192.0.2.0/24, shared
		{"192.0.2.4", 429}, // the same /24, out of tokens
		{"192.0.2.1", 429}, // still its own bucket
	} {
		if status, _, _ := postAs(t, url+"/v1/admit", tc.from, "", []byte(`{}`)); status != tc.want {
			t.Fatalf("request %d from %s: %d, want %d", i, tc.from, status, tc.want)
		}
	}
}
