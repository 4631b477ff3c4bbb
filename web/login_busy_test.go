package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestOpsLoginPasswordChecksBounded: while every bounded password check is
// taken (a flood of guesses from many addresses), a login waits, then is
// answered 503 with Retry-After, not counted as a failure and without a
// bcrypt compare; once a check is free, the right password logs in.
func TestOpsLoginPasswordChecksBounded(t *testing.T) {
	s := newShop(t, shopOptions{})
	ops := s.srv.deps.Pages.Ops
	slots := ops.compares.free
	if slots < 1 {
		t.Fatalf("%d password checks at once", slots)
	}
	for range slots {
		if err := ops.compares.acquire(context.Background(), "busy"); err != nil {
			t.Fatal(err)
		}
	}
	c := s.client()
	a := c.post("/ops/login", url.Values{"csrf": {c.csrf("/ops/login")}, "password": {opsPassword}})
	if a.status != http.StatusServiceUnavailable || a.header.Get("Retry-After") == "" || !strings.Contains(a.body, "many passwords at once") {
		t.Fatalf("login while every check is busy: %d (Retry-After %q), want 503 with Retry-After", a.status, a.header.Get("Retry-After"))
	}
	ops.logins.mu.Lock()
	counted := len(ops.logins.clients)
	ops.logins.mu.Unlock()
	if counted != 0 {
		t.Fatalf("a busy answer counted as a failed login (%d clients)", counted)
	}
	for range slots {
		ops.compares.release()
	}
	a = c.post("/ops/login", url.Values{"csrf": {c.csrf("/ops/login")}, "password": {opsPassword}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("login once a check is free: %d, want 303", a.status)
	}
}
