package admission

import (
	"container/heap"
	"context"
	"sync"
)

// WithClient returns ctx marked as a request of client id, anonymous or
// not: the verifying cores are shared fairly between clients, and
// anonymous ones together never hold them all (see "Sharing the cores" in
// the package documentation). Package web marks each request with its
// relay key's name (not anonymous) or an HMAC of the caller's address
// (anonymous). Requests without a mark are one client, not anonymous.
func WithClient(ctx context.Context, id string, anonymous bool) context.Context {
	return context.WithValue(ctx, clientKey{}, client{id, anonymous})
}

type clientKey struct{}

type client struct {
	id   string
	anon bool
}

func clientOf(ctx context.Context) client {
	c, _ := ctx.Value(clientKey{}).(client)
	return c
}

// fairQueue hands out the verifying cores by start-time fair queuing
// (Goyal, Vin and Cheng, SIGCOMM 1996) with one verification as the unit:
// each client's requests get start tags max(v, the client's last finish),
// and a free core goes to the waiting request with the smallest tag, the
// earliest come among equals. v is the tag of the request served last. A
// client that sends now and then gets the tag v, ahead of every request of
// a client that keeps the cores busy, which waits behind its own earlier
// requests; so an honest request waits for at most one verification per
// other busy client, not for everything queued before it.
//
// Anonymous clients together hold at most anonCap cores (one fewer than
// there are, when there are two or more): with every Go processor
// verifying, the scheduler would learn of network readiness only from its
// monitor thread, every 10 ms, so every request in the process, an
// honest one's answer from the database included, would wait behind
// verifications handed from one to the next.
type fairQueue struct {
	mu      sync.Mutex
	free    int
	anonCap int
	anonRun int // cores held by anonymous clients
	v       uint64
	seq     uint64
	flows   map[string]flow
	waiting [2]waiters // [0] known clients, [1] anonymous ones
}

// flow is one client's state: the finish tag of its last request, and how
// many of its requests hold or wait for a core.
type flow struct {
	finish uint64
	refs   int
}

type waiter struct {
	start, seq uint64
	anon       bool
	ready      chan struct{}
	index      int // in its heap; -1 once handed a core
}

func newFairQueue(cores int) *fairQueue {
	return &fairQueue{free: cores, anonCap: max(1, cores-1), flows: make(map[string]flow)}
}

func class(anon bool) int {
	if anon {
		return 1
	}
	return 0
}

// acquire waits for a core for client c, or for ctx to end.
func (q *fairQueue) acquire(ctx context.Context, c client) error {
	q.mu.Lock()
	f := q.flows[c.id]
	f.refs++
	start := max(q.v, f.finish)
	f.finish = start + 1
	q.flows[c.id] = f
	if q.free > 0 && len(q.waiting[0]) == 0 && len(q.waiting[1]) == 0 && (!c.anon || q.anonRun < q.anonCap) {
		// Nobody waits: served at once, without a waiter.
		q.free--
		if c.anon {
			q.anonRun++
		}
		q.v = max(q.v, start)
		q.mu.Unlock()
		return nil
	}
	q.seq++
	w := &waiter{start: start, seq: q.seq, anon: c.anon, ready: make(chan struct{})}
	heap.Push(&q.waiting[class(c.anon)], w)
	q.dispatch()
	q.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		if w.index < 0 { // handed a core meanwhile: give it on
			q.mu.Unlock()
			q.release(c)
			return ctx.Err()
		}
		heap.Remove(&q.waiting[class(c.anon)], w.index)
		q.done(c.id)
		q.mu.Unlock()
		return ctx.Err()
	}
}

// release gives back the core client c held.
func (q *fairQueue) release(c client) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.free++
	if c.anon {
		q.anonRun--
	}
	q.done(c.id)
	q.dispatch()
}

// dispatch hands the free cores to the waiting requests with the smallest
// tags, anonymous ones only within anonCap. q.mu is held.
func (q *fairQueue) dispatch() {
	for q.free > 0 {
		known, anon := &q.waiting[0], &q.waiting[1]
		var from *waiters
		switch {
		case len(*anon) > 0 && q.anonRun < q.anonCap && (len(*known) == 0 || anon.Less2((*anon)[0], (*known)[0])):
			from = anon
		case len(*known) > 0:
			from = known
		default:
			return
		}
		w := heap.Pop(from).(*waiter)
		w.index = -1
		q.free--
		if w.anon {
			q.anonRun++
		}
		q.v = max(q.v, w.start)
		close(w.ready)
	}
}

// done forgets a request of client id, and the client once it has none
// left: a client's last request was served at v or later, so its next one
// would get the tag v anyway (and one that gave up waiting owes nothing).
// The queue thus holds only clients with requests in it. q.mu is held.
func (q *fairQueue) done(id string) {
	f := q.flows[id]
	if f.refs--; f.refs == 0 {
		delete(q.flows, id)
	} else {
		q.flows[id] = f
	}
}

// waiters is a min-heap of waiting requests by (start tag, arrival).
type waiters []*waiter

// Less2 orders two waiters, of this heap or another.
func (waiters) Less2(a, b *waiter) bool {
	if a.start != b.start {
		return a.start < b.start
	}
	return a.seq < b.seq
}

func (h waiters) Len() int           { return len(h) }
func (h waiters) Less(i, j int) bool { return h.Less2(h[i], h[j]) }
func (h waiters) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waiters) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waiters) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return w
}

// OnCore runs fn once a verifying core is free for ctx's client (see
// WithClient), in the same fair queue as admissions and within the same
// cap for anonymous clients; it returns ctx's error if ctx ends first.
// Other costly ring verifications of the server (package web: the ballots
// of polls) run through it, so that they cannot take the cores the
// admissions share.
func (s *Service) OnCore(ctx context.Context, fn func()) error {
	c := clientOf(ctx)
	if err := s.cores.acquire(ctx, c); err != nil {
		return err
	}
	defer s.cores.release(c)
	fn()
	return nil
}
