package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// TestLoginGuardOneTypoDuringAFlood: an attacker spreads wrong passwords
// over many addresses (one each, as IPv6 gives any guesser), keeping the
// global counter high. The operator mistypes once, then types the right
// password a minute later: its own backoff is none (one failure is below
// loginFreeFailures), so it must not wait.
func TestLoginGuardOneTypoDuringAFlood(t *testing.T) {
	g := loginGuard{clients: map[string]*failures{}}
	t0 := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 200; i++ {
		g.fail(fmt.Sprintf("2001:db8::%x", i), t0.Add(time.Duration(i)*time.Second))
	}
	typo := t0.Add(200 * time.Second)
	g.fail("operator", typo)
	// The flood goes on: one fresh address every 10 seconds.
	for i := 0; i < 6; i++ {
		g.fail(fmt.Sprintf("2001:db8::1:%x", i), typo.Add(time.Duration(i)*10*time.Second))
	}
	if w := g.check("operator", typo.Add(time.Minute)); w != 0 {
		t.Fatalf("the operator, after one typo during a flood, must wait %v before the right password is even checked", w)
	}
}

// TestOpsNoteStaysUTF8: the reason of a revoke or mark-settled is cut to 200
// bytes; a reason in a language written outside ASCII must still be text,
// or the audit insert fails and the action is refused as bad_encoding.
func TestOpsNoteStaysUTF8(t *testing.T) {
	for name, note := range map[string]string{
		"french":   strings.Repeat("é", 150),
		"japanese": strings.Repeat("返金", 40),
		"emoji":    "refund " + strings.Repeat("💸", 60),
	} {
		form := url.Values{"note": {note}, "confirm": {"yes"}}
		r := httptest.NewRequest(http.MethodPost, "/ops/orders/X/revoke", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		n, err := opsNote(echo.New().NewContext(r, httptest.NewRecorder()))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !utf8.ValidString(n) {
			t.Errorf("%s: the kept reason is not UTF-8 (ends %q)", name, n[len(n)-3:])
		}
	}
}
