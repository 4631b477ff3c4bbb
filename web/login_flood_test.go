package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// TestOpsLoginFloodCannotTakeEveryCheck: guessers at 30 addresses, six
// connections each, send wrong passwords as fast as they are answered, and
// every round their backoff runs out (the clock jumps 16 min) so that they
// all come back at once. Each time, the operator logging in from an address
// with no failure gets in at once: the guessers fill the queue for password
// checks (bcrypt at the default cost, as in production), but a login with
// fewer failures goes first, and each guesser holds at most one check past
// its free failures however many connections it opens. In the last rounds,
// the guessers past their free failures, the operator first mistypes: a
// login after one failure still goes before theirs. Before, the operator
// queued behind every guess and got 503 or got in at the last moment of
// loginQueueWait.
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
	// idOf is the guard's name of the client at ip, as the handler finds it.
	idOf := func(ip string) string {
		req := httptest.NewRequest(http.MethodPost, "/ops/login", nil)
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("X-Forwarded-For", ip)
		return s.srv.clientID(s.srv.echo.NewContext(req, httptest.NewRecorder()))
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
					time.Sleep(50 * time.Millisecond) // refused: try again soon
				}
			}
		})
	}
	defer func() { stop(); wg.Wait() }()

	for round := range 4 {
		if round > 0 {
			if round == 1 {
				// The guessers go on failing, as they would over
				// minutes: each is past its free failures.
				for i := range addresses {
					for range loginFreeFailures {
						ops.logins.fail(idOf(guesser(i)), clock())
					}
				}
			}
			mu.Lock()
			now = now.Add(16 * time.Minute) // every backoff is over
			mu.Unlock()
		}
		time.Sleep(300 * time.Millisecond) // the guessers queue up
		op := s.client()
		from := map[string]string{"X-Forwarded-For": fmt.Sprintf("192.0.2.%d", round+1)}
		login := func(password string, want int) {
			t.Helper()
			tok := op.csrf("/ops/login")
			start := time.Now()
			a := op.do(http.MethodPost, "/ops/login", url.Values{"csrf": {tok}, "password": {password}}, from)
			took := time.Since(start)
			countMu.Lock()
			seen := fmt.Sprint(counts)
			countMu.Unlock()
			if a.status != want {
				t.Fatalf("round %d: the operator during the flood: %d after %v, want %d (guessers' answers so far %s)", round, a.status, took, want, seen)
			}
			// Queued behind the guessers, a login is let in just as
			// the ones before it give up, at loginQueueWait: one
			// scheduling hiccup from 503. The operator's must not
			// wait for more than the checks running.
			if took > loginQueueWait/2 {
				t.Fatalf("round %d: the operator's login answered after %v, queued behind the guessers (answers so far %s)", round, took, seen)
			}
			t.Logf("round %d: the operator's login answered %d after %v (guessers' answers so far %s)", round, want, took.Round(time.Millisecond), seen)
		}
		if round >= 2 {
			// A typo first: the guessers have failed more often.
			login("correct horse battery stapel", http.StatusUnauthorized)
		}
		login(opsPassword, http.StatusSeeOther)
	}
}

// TestLoginGuardPending: a password being checked counts as a failure until
// it is known not to be one, so one address cannot hold more checks by
// sending its guesses at once; a client's rank is its failures and checks
// pending, and a check that was never made leaves nothing behind.
func TestLoginGuardPending(t *testing.T) {
	g := loginGuard{clients: map[string]*failures{}}
	t0 := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	type step struct {
		wait time.Duration
		busy bool
		rank int // after
	}
	admit := func(at time.Time, want step) {
		t.Helper()
		wait, busy := g.admit("a", at)
		if got := (step{wait, busy, g.rank("a", at)}); got != want {
			t.Fatalf("admit: %+v, want %+v", got, want)
		}
	}
	admit(t0, step{rank: 1})
	admit(t0, step{rank: 2})
	admit(t0, step{rank: 3})
	admit(t0, step{wait: loginBusy, busy: true, rank: 3}) // three pending: its free failures
	for range 3 {
		g.end("a", t0, true, false)
	}
	admit(t0, step{wait: time.Second, rank: 3}) // three failures: its backoff
	t1 := t0.Add(time.Second)
	admit(t1, step{rank: 4})
	admit(t1, step{wait: loginBusy, busy: true, rank: 4}) // one pending past the free failures
	g.end("a", t1, false, true)
	if rank := g.rank("b", t1); rank != 0 {
		t.Fatalf("an unknown client's rank %d, want 0", rank)
	}
	g.admit("b", t1)
	g.end("b", t1, false, false) // busy: no check made
	if len(g.clients) != 0 {
		t.Fatalf("%d clients kept after a success and a check never made", len(g.clients))
	}
}

// TestCheckSlotsByRank: a freed check goes to the waiting login whose
// client has the lowest rank when it frees, then to the earliest; a waiter
// that gives up leaves the queue.
func TestCheckSlotsByRank(t *testing.T) {
	var mu sync.Mutex
	ranks := map[string]int{"a": 3, "b": 1, "c": 3, "d": 0}
	cs := newCheckSlots(1, func(client string) int { mu.Lock(); defer mu.Unlock(); return ranks[client] })
	if err := cs.acquire(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 4)
	var wg sync.WaitGroup
	wait := func(client string) {
		wg.Go(func() {
			if err := cs.acquire(context.Background(), client); err != nil {
				t.Error(err)
				return
			}
			order <- client
			cs.release()
		})
	}
	queued := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			cs.mu.Lock()
			got := len(cs.waiters)
			cs.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d waiters, want %d", got, n)
			}
		}
	}
	for i, client := range []string{"a", "b", "c"} {
		wait(client)
		queued(i + 1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gaveUp := make(chan error)
	go func() { gaveUp <- cs.acquire(ctx, "d") }()
	queued(4)
	cancel()
	if err := <-gaveUp; err == nil {
		t.Fatal("a cancelled waiter got a slot")
	}
	queued(3)
	wait("d")
	queued(4)
	mu.Lock()
	ranks["b"] = 5 // b failed meanwhile: it now goes last
	mu.Unlock()
	cs.release()
	wg.Wait()
	close(order)
	var got []string
	for client := range order {
		got = append(got, client)
	}
	if fmt.Sprint(got) != "[d a c b]" {
		t.Fatalf("served %v, want [d a c b]: rank 0, then rank 3 in order, then rank 5", got)
	}
	if cs.free != 1 {
		t.Fatalf("%d slots free at the end, want 1", cs.free)
	}
}
