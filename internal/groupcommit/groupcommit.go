// Package groupcommit merges concurrent calls into one round trip: each
// call's items join the next round, and the caller that finds no round in
// progress runs rounds until none is pending. Under load the cost of a
// round trip (a database statement, an HTTP request) is shared by every
// call waiting for it, so the cost per item falls as the load rises; a
// lone call is never delayed. Admission's tag store (one SQL statement per
// round) and a relay's tag registry client (one HTTP request per round) use
// it.
package groupcommit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Group merges calls of Do. Set Do (and optionally the bounds) before the
// first call; a Group must not be copied after first use.
type Group[T, R any] struct {
	// Do runs one round: it returns one result per item, in order. It is
	// called from one goroutine at a time.
	Do func(ctx context.Context, items []T) ([]R, error)
	// Max bounds the items of one round (default 2048); a call with more
	// items is a round of its own.
	Max int
	// Linger is how long a round waits for more calls to join it when
	// fewer than LingerBelow calls are pending and the previous round had
	// just ended with calls waiting (default 0: never). The first round
	// never waits, so a lone call is not delayed.
	Linger      time.Duration
	LingerBelow int
	// Timeout bounds one round (default 10 s): a round, once started,
	// completes whatever the callers' contexts.
	Timeout time.Duration

	mu       sync.Mutex
	pending  []*call[T, R]
	flushing bool
}

type call[T, R any] struct {
	items []T
	out   []R
	err   error
	done  chan struct{}
}

// Submit adds items to the next round and waits for their results. ctx
// bounds only the wait.
func (g *Group[T, R]) Submit(ctx context.Context, items []T) ([]R, error) {
	if len(items) == 0 {
		return nil, nil
	}
	if g.Do == nil {
		return nil, errors.New("groupcommit: Group.Do is not set")
	}
	c := &call[T, R]{items: items, done: make(chan struct{})}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	lead := !g.flushing
	if lead {
		g.flushing = true
	}
	g.mu.Unlock()
	if lead {
		go g.flushLoop()
	}
	select {
	case <-c.done:
		return c.out, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *Group[T, R]) flushLoop() {
	limit := g.Max
	if limit <= 0 {
		limit = 2048
	}
	timeout := g.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	for round := 0; ; round++ {
		if g.Linger > 0 && round > 0 {
			g.mu.Lock()
			few := len(g.pending) < max(g.LingerBelow, 1)
			g.mu.Unlock()
			if few {
				time.Sleep(g.Linger)
			}
		}
		g.mu.Lock()
		var calls []*call[T, R]
		n := 0
		for len(g.pending) > 0 && (n == 0 || n+len(g.pending[0].items) <= limit) {
			n += len(g.pending[0].items)
			calls = append(calls, g.pending[0])
			g.pending = g.pending[1:]
		}
		if len(calls) == 0 {
			g.flushing = false
			g.pending = nil
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		all := calls[0].items
		if len(calls) > 1 {
			all = make([]T, 0, n)
			for _, c := range calls {
				all = append(all, c.items...)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		out, err := g.Do(ctx, all)
		cancel()
		if err == nil && len(out) != len(all) {
			err = errors.New("groupcommit: a round returned the wrong number of results")
		}
		off := 0
		for _, c := range calls {
			if err != nil {
				c.err = err
			} else {
				c.out = out[off : off+len(c.items) : off+len(c.items)]
			}
			off += len(c.items)
			close(c.done)
		}
	}
}
