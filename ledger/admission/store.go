package admission

import (
	"context"
	"sync"
	"time"
)

// Use is one admission to record: the tag used under (Scope, Counter), or
// for the free tier (Free) the message alone, with the SHA-256 of the
// message.
type Use struct {
	Scope   string
	Day     time.Time // the scope's UTC day, for pruning
	Counter uint32
	Tag     [TagSize]byte
	Free    bool
	MsgHash [32]byte
	// Proof is set on a registration (Service.Register): the proof a
	// relay verified, EncodeProof's bytes, kept by a Registry until the
	// use is verified here. nil on a use this Service verified.
	Proof []byte
	// Request is the request that made the use (nil when read back from a
	// store): what a relay's registry client sends the server.
	Request *Request
}

// A TagStore records uses. Record reports for each use whether it is
// admitted: it is the first use of its key ((Scope, Counter, Tag), or
// (Scope, MsgHash) when Free), or a repeat of that first use with the same
// MsgHash. It must be atomic across every process sharing the store: of
// concurrent uses of one key with different messages exactly one is
// admitted. Record must be safe for concurrent use.
type TagStore interface {
	Record(ctx context.Context, uses []Use) (admitted []bool, err error)
	// Prune forgets the uses of days before day; those scopes are no
	// longer current, so their tags are never looked up again.
	Prune(ctx context.Context, day time.Time) (int64, error)
}

// MemoryTags is a TagStore in memory, for a single relay process that
// verifies locally (package ledger/relay). Uses are lost when it stops.
type MemoryTags struct {
	mu   sync.Mutex
	tags map[tagKey]memUse
	free map[freeKey]time.Time
}

type tagKey struct {
	scope   string
	counter uint32
	tag     [TagSize]byte
}

type freeKey struct {
	scope string
	hash  [32]byte
}

type memUse struct {
	hash [32]byte
	day  time.Time
}

// NewMemoryTags returns an empty store.
func NewMemoryTags() *MemoryTags {
	return &MemoryTags{tags: make(map[tagKey]memUse), free: make(map[freeKey]time.Time)}
}

// Record implements TagStore.
func (m *MemoryTags) Record(_ context.Context, uses []Use) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	admitted := make([]bool, len(uses))
	for i, u := range uses {
		if u.Free {
			k := freeKey{u.Scope, u.MsgHash}
			if _, ok := m.free[k]; !ok {
				m.free[k] = u.Day
			}
			admitted[i] = true
			continue
		}
		k := tagKey{u.Scope, u.Counter, u.Tag}
		got, ok := m.tags[k]
		if !ok {
			m.tags[k] = memUse{u.MsgHash, u.Day}
			admitted[i] = true
			continue
		}
		admitted[i] = got.hash == u.MsgHash
	}
	return admitted, nil
}

// Prune implements TagStore.
func (m *MemoryTags) Prune(_ context.Context, day time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	for k, u := range m.tags {
		if u.day.Before(day) {
			delete(m.tags, k)
			n++
		}
	}
	for k, d := range m.free {
		if d.Before(day) {
			delete(m.free, k)
			n++
		}
	}
	return n, nil
}
