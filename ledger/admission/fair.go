package admission

import (
	"container/heap"
	"context"
	"sync"
)

// WithClient returns ctx marked as a request of client id: the verifying
// cores are shared fairly between clients (see "Sharing the cores" in the
// package documentation). Package web marks each request with its relay
// key's name or an HMAC of the caller's address; requests without a mark
// share one client.
func WithClient(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, clientKey{}, id)
}

type clientKey struct{}

func clientOf(ctx context.Context) string {
	id, _ := ctx.Value(clientKey{}).(string)
	return id
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
type fairQueue struct {
	mu      sync.Mutex
	free    int
	v       uint64
	seq     uint64
	flows   map[string]*flow
	waiting waiters
}

// flow is one client's state: the finish tag of its last request, and how
// many of its requests hold or wait for a core.
type flow struct {
	finish uint64
	refs   int
}

type waiter struct {
	start, seq uint64
	ready      chan struct{}
	index      int // in the heap; -1 once handed a core
}

func newFairQueue(cores int) *fairQueue {
	return &fairQueue{free: cores, flows: make(map[string]*flow)}
}

// acquire waits for a core for client id, or for ctx to end.
func (q *fairQueue) acquire(ctx context.Context, id string) error {
	q.mu.Lock()
	f := q.flows[id]
	if f == nil {
		f = &flow{}
		q.flows[id] = f
	}
	f.refs++
	start := max(q.v, f.finish)
	f.finish = start + 1
	if q.free > 0 && len(q.waiting) == 0 {
		q.free--
		q.v = start
		q.mu.Unlock()
		return nil
	}
	q.seq++
	w := &waiter{start: start, seq: q.seq, ready: make(chan struct{})}
	heap.Push(&q.waiting, w)
	q.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		q.mu.Lock()
		if w.index < 0 { // handed a core meanwhile: give it on
			q.mu.Unlock()
			q.release(id)
			return ctx.Err()
		}
		heap.Remove(&q.waiting, w.index)
		q.done(id)
		q.mu.Unlock()
		return ctx.Err()
	}
}

// release gives back the core client id held.
func (q *fairQueue) release(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.done(id)
	if len(q.waiting) == 0 {
		q.free++
		return
	}
	w := heap.Pop(&q.waiting).(*waiter)
	w.index = -1
	q.v = w.start
	close(w.ready)
}

// done forgets a request of client id, and the client once it has none
// left: a client's last request was served at v or later, so its next one
// would get the tag v anyway (and one that gave up waiting owes nothing).
// The queue thus holds only clients with requests in it. q.mu is held.
func (q *fairQueue) done(id string) {
	f := q.flows[id]
	if f.refs--; f.refs == 0 {
		delete(q.flows, id)
	}
}

// waiters is a min-heap of waiting requests by (start tag, arrival).
type waiters []*waiter

func (h waiters) Len() int { return len(h) }
func (h waiters) Less(i, j int) bool {
	if h[i].start != h[j].start {
		return h[i].start < h[j].start
	}
	return h[i].seq < h[j].seq
}
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
