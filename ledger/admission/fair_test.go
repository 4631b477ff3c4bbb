package admission

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitQueued waits until q has n requests waiting.
func waitQueued(t *testing.T, q *fairQueue, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		q.mu.Lock()
		got := len(q.waiting[0]) + len(q.waiting[1])
		q.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests waiting, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFairQueueServesALightClientFirst: with one core held and a busy
// client's 8 requests waiting, a request of another client is served next,
// not ninth; then the busy client's in their order.
func TestFairQueueServesALightClientFirst(t *testing.T) {
	q := newFairQueue(1)
	ctx := context.Background()
	if err := q.acquire(ctx, client{id: "busy"}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	start := func(id string, k int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := q.acquire(ctx, client{id: id}); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, fmt.Sprintf("%s%d", id, k))
			mu.Unlock()
			q.release(client{id: id})
		}()
	}
	for k := range 8 {
		start("busy", k)
		waitQueued(t, q, k+1)
	}
	start("light", 0)
	waitQueued(t, q, 9)
	q.release(client{id: "busy"})
	wg.Wait()
	if order[0] != "light0" {
		t.Fatalf("served %v: the light client's request should come first", order)
	}
	for k, got := range order[1:] {
		if want := fmt.Sprintf("busy%d", k); got != want {
			t.Fatalf("served %v: the busy client's requests out of their order", order)
		}
	}
	if len(q.flows) != 0 || q.free != 1 {
		t.Fatalf("after all: %d flows, %d free cores; want 0 and 1", len(q.flows), q.free)
	}
}

// TestFairQueueAlternates: two clients, each with many requests waiting,
// are served in turn.
func TestFairQueueAlternates(t *testing.T) {
	q := newFairQueue(1)
	ctx := context.Background()
	if err := q.acquire(ctx, client{id: "hold"}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	var wg sync.WaitGroup
	started := 0
	for k := range 6 {
		for _, id := range []string{"a", "b"} {
			if id == "b" && k < 3 {
				continue // b comes later, with a already 3 ahead
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := q.acquire(ctx, client{id: id}); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, id)
				mu.Unlock()
				q.release(client{id: id})
			}()
			started++
			waitQueued(t, q, started)
		}
	}
	q.release(client{id: "hold"})
	wg.Wait()
	// a's tags are 0..5, b's 0..2 after the 3rd a (v was 0): a0 b0 a1 b1 a2 b2 …
	got := fmt.Sprint(order)
	if want := "[a b a b a b a a a]"; got != want {
		t.Fatalf("served %s, want %s", got, want)
	}
}

// TestFairQueueCancel: a request that gives up waiting leaves the queue,
// and a core handed to it as it gives up is passed on.
func TestFairQueueCancel(t *testing.T) {
	q := newFairQueue(1)
	if err := q.acquire(context.Background(), client{id: "x"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- q.acquire(ctx, client{id: "y"}) }()
	waitQueued(t, q, 1)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("acquire after cancel: %v", err)
	}
	q.release(client{id: "x"})
	if len(q.waiting[0])+len(q.waiting[1]) != 0 || len(q.flows) != 0 || q.free != 1 {
		t.Fatalf("after cancel: %d waiting, %d flows, %d free", len(q.waiting[0])+len(q.waiting[1]), len(q.flows), q.free)
	}
}

// TestFairQueueConcurrent: many clients acquiring, releasing and giving up
// at once never hold more cores than there are, and leave the queue empty.
func TestFairQueueConcurrent(t *testing.T) {
	const cores = 3
	q := newFairQueue(cores)
	var held, most, anonHeld, anonMost atomic.Int64
	var wg sync.WaitGroup
	for c := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := client{id: fmt.Sprint(c % 7), anon: c%7 >= 3}
			for k := range 200 {
				ctx, cancel := context.WithCancel(context.Background())
				if k%5 == 0 {
					go cancel()
				}
				if q.acquire(ctx, id) == nil {
					raise(&most, held.Add(1))
					if id.anon {
						raise(&anonMost, anonHeld.Add(1))
						anonHeld.Add(-1)
					}
					held.Add(-1)
					q.release(id)
				}
				cancel()
			}
		}()
	}
	wg.Wait()
	if most.Load() > cores {
		t.Fatalf("%d cores held at once, want at most %d", most.Load(), cores)
	}
	if anonMost.Load() > cores-1 {
		t.Fatalf("%d cores held by anonymous clients at once, want at most %d", anonMost.Load(), cores-1)
	}
	if len(q.waiting[0])+len(q.waiting[1]) != 0 || len(q.flows) != 0 || q.free != cores {
		t.Fatalf("after all: %d waiting, %d flows, %d free", len(q.waiting[0])+len(q.waiting[1]), len(q.flows), q.free)
	}
}

func raise(m *atomic.Int64, n int64) {
	for {
		old := m.Load()
		if n <= old || m.CompareAndSwap(old, n) {
			return
		}
	}
}

// TestFairQueueAnonymousCap: with two cores, anonymous clients together
// hold one, however many of their requests wait; a known client's request
// takes the other at once, and the anonymous ones are served one at a time.
func TestFairQueueAnonymousCap(t *testing.T) {
	q := newFairQueue(2)
	ctx := context.Background()
	a := client{id: "a/1", anon: true}
	if err := q.acquire(ctx, a); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 10)
	for k := range 3 {
		go func() {
			c := client{id: fmt.Sprint("a/", 2+k), anon: true}
			if q.acquire(ctx, c) == nil {
				got <- c.id
			}
		}()
	}
	waitQueued(t, q, 3)
	q.mu.Lock()
	free := q.free
	q.mu.Unlock()
	if free != 1 {
		t.Fatalf("%d cores free with one anonymous request served and three waiting, want 1 (kept spare)", free)
	}
	// A relay's request takes the spare core at once.
	if err := q.acquire(ctx, client{id: "r/relay"}); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-got:
		t.Fatalf("%s served while an anonymous request holds the anonymous core", id)
	default:
	}
	q.release(client{id: "r/relay"})
	q.release(a)
	first := <-got
	select {
	case id := <-got:
		t.Fatalf("%s served beside %s: anonymous requests past their cap", id, first)
	case <-time.After(20 * time.Millisecond):
	}
	q.release(client{id: first, anon: true})
	second := <-got
	q.release(client{id: second, anon: true})
	third := <-got
	q.release(client{id: third, anon: true})
	if q.free != 2 || q.anonRun != 0 || len(q.flows) != 0 {
		t.Fatalf("after all: %d free, %d anonymous running, %d flows", q.free, q.anonRun, len(q.flows))
	}
}

// TestOnCoreSharesTheQueue: work run through Service.OnCore (the ballots
// of polls) waits in the admissions' queue: with two cores and the
// anonymous one taken, an anonymous caller waits (here until its context
// ends) while a known one runs at once.
func TestOnCoreSharesTheQueue(t *testing.T) {
	s := &Service{cores: newFairQueue(2)}
	anon := WithClient(context.Background(), "a/1", true)
	holding, release := make(chan struct{}), make(chan struct{})
	go s.OnCore(anon, func() { close(holding); <-release })
	<-holding
	ctx, cancel := context.WithTimeout(WithClient(context.Background(), "a/2", true), 50*time.Millisecond)
	defer cancel()
	ran := false
	if err := s.OnCore(ctx, func() { ran = true }); err != context.DeadlineExceeded || ran {
		t.Fatalf("a second anonymous caller past the cap: ran %v, err %v; want it to wait", ran, err)
	}
	if err := s.OnCore(WithClient(context.Background(), "r/relay", false), func() { ran = true }); err != nil || !ran {
		t.Fatalf("a known caller with a core free: ran %v, err %v", ran, err)
	}
	close(release)
}
