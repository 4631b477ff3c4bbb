package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestOpsLoginFloodCannotTakeEveryCheck: guessers at 30 addresses, six
// connections each, send wrong passwords as fast as they are answered, and
// every few rounds their backoff runs out (the clock jumps 16 min) so that
// they all come back at once. Each time, the operator logging in from an
// address with no failure gets in at once: the guessers can hold the shared
// password checks (bcrypt at the default cost, as in production) but not the
// one reserved for clients with no recent failure, and each of them holds at
// most one check past its free failures however many connections it opens.
// Before, the operator queued behind every guess and got 503 or got in at
// the last moment of loginQueueWait.
func TestOpsLoginFloodCannotTakeEveryCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("a login flood at the real bcrypt cost takes seconds")
	}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := newShop(t, shopOptions{opsNow: clock, config: func(c *Config) { c.TrustProxy = true }})
	hash, err := bcrypt.GenerateFromPassword([]byte(opsPassword), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := NewOps(OpsConfig{PasswordHash: string(hash), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	s.srv.deps.Pages.Ops = ops // before any request

	const addresses, conns = 30, 6
	guesser := func(i int) string { return fmt.Sprintf("198.51.100.%d", i+1) }
	// guess posts a wrong password from ip with the client's login form;
	// it returns the status and the next form's token.
	guess := func(ctx context.Context, c *client, ip, tok string) (int, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/ops/login",
			strings.NewReader(url.Values{"csrf": {tok}, "password": {"hunter2"}}.Encode()))
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", ip)
		resp, err := c.hc.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if m := csrfInput.FindSubmatch(b); m != nil {
			tok = string(m[1])
		}
		return resp.StatusCode, tok, nil
	}
	// Each guesser has failed once already.
	clients := make([]*client, addresses*conns)
	tokens := make([]string, len(clients))
	for i := range clients {
		clients[i] = s.client()
		tokens[i] = clients[i].csrf("/ops/login")
	}
	for i := range addresses {
		status, tok, err := guess(context.Background(), clients[i*conns], guesser(i), tokens[i*conns])
		if err != nil || status != http.StatusUnauthorized {
			t.Fatalf("first guess from %s: %d %v", guesser(i), status, err)
		}
		tokens[i*conns] = tok
	}

	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var countMu sync.Mutex
	counts := map[int]int{}
	for i := range clients {
		wg.Go(func() {
			tok := tokens[i]
			for ctx.Err() == nil {
				status, next, err := guess(ctx, clients[i], guesser(i/conns), tok)
				if err != nil {
					continue // cancelled at the end
				}
				tok = next
				countMu.Lock()
				counts[status]++
				countMu.Unlock()
				if status != http.StatusUnauthorized {
					time.Sleep(20 * time.Millisecond) // refused: try again soon
				}
			}
		})
	}
	defer func() { stop(); wg.Wait() }()

	for round := range 4 {
		if round > 0 {
			mu.Lock()
			now = now.Add(16 * time.Minute) // every backoff is over
			mu.Unlock()
		}
		time.Sleep(300 * time.Millisecond) // the guessers queue up
		op := s.client()
		tok := op.csrf("/ops/login")
		start := time.Now()
		a := op.do(http.MethodPost, "/ops/login", url.Values{"csrf": {tok}, "password": {opsPassword}},
			map[string]string{"X-Forwarded-For": fmt.Sprintf("192.0.2.%d", round+1)})
		took := time.Since(start)
		countMu.Lock()
		seen := fmt.Sprint(counts)
		countMu.Unlock()
		if a.status != http.StatusSeeOther || a.header.Get("Location") != "/ops" {
			t.Fatalf("round %d: the operator during the flood: %d after %v, want 303 to /ops (guessers' answers so far %s)", round, a.status, took, seen)
		}
		// Queued behind the guessers, a login is let in just as the
		// ones before it give up, at loginQueueWait: one scheduling
		// hiccup from 503. The operator's must not queue at all.
		if took > loginQueueWait/2 {
			t.Fatalf("round %d: the operator got in after %v, queued behind the guessers (answers so far %s)", round, took, seen)
		}
		t.Logf("round %d: the operator got in after %v (guessers' answers so far %s)", round, took.Round(time.Millisecond), seen)
	}
}

// TestLoginGuardPending: a password being checked counts as a failure until
// it is known not to be one, so one address cannot hold more check slots by
// sending its guesses at once; only a client with no failure and nothing
// pending is fresh, and a check that was never made leaves nothing behind.
func TestLoginGuardPending(t *testing.T) {
	g := loginGuard{clients: map[string]*failures{}}
	t0 := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	type step struct {
		fresh, busy bool
		wait        time.Duration
	}
	admit := func(want step) {
		t.Helper()
		fresh, wait, busy := g.admit("a", t0)
		if (step{fresh, busy, wait}) != want {
			t.Fatalf("admit: fresh %v, wait %v, busy %v; want %+v", fresh, wait, busy, want)
		}
	}
	admit(step{fresh: true})
	admit(step{})
	admit(step{})
	admit(step{busy: true, wait: loginBusy}) // three pending: its free failures
	for range 3 {
		g.end("a", t0, true, false)
	}
	admit(step{wait: time.Second}) // three failures: its backoff
	t1 := t0.Add(time.Second)
	if fresh, wait, busy := g.admit("a", t1); fresh || wait != 0 || busy {
		t.Fatalf("after the backoff: fresh %v, wait %v, busy %v", fresh, wait, busy)
	}
	if _, wait, busy := g.admit("a", t1); !busy || wait != loginBusy {
		t.Fatalf("a second check past the free failures: wait %v, busy %v; want busy", wait, busy)
	}
	g.end("a", t1, false, true)
	if fresh, _, _ := g.admit("b", t1); !fresh {
		t.Fatal("another client is not fresh")
	}
	g.end("b", t1, false, false) // busy: no check made
	if len(g.clients) != 0 {
		t.Fatalf("%d clients kept after a success and a check never made", len(g.clients))
	}
}
