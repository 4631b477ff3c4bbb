package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/licensed/licensed/ringverify"
)

// Index is the in-memory index of the licenses on the ledger: for every
// ledger index, its key P, plan, validity, and whether it was revoked (by a
// revoke entry) or is suspended (license_suspensions). It answers the
// admission checks (Member, which implements ringverify.Members) and the
// decoy lists (Valid).
//
// It is stored as flat arrays indexed by ledger index, about 42 bytes per
// entry (P 32, plan 2, validity 2×4, revoked 1 bit), so a million licenses
// take about 45 MB; see BenchmarkIndexMemory. Revoke entries take a slot
// too. The set of suspensions is small (open disputes) and kept in a map.
//
// Sync (or Follow, which calls it periodically) brings it up to the latest
// checkpoint and the current suspensions, in every process, whichever
// process sequences. A relay's mirror (package ledger/relay) fills one with
// Append from the public tiles instead, and its suspensions with
// SetSuspended from the suspension feed. It is safe for concurrent use.
type Index struct {
	mu        sync.RWMutex
	keys      [][KeySize]byte
	plan      []uint16 // plan id + 1; 0 for a slot that is not a license
	nb, na    []uint32 // validity, days since 1970-01-01
	revoked   []uint64 // bitset by ledger index
	suspended map[uint64]bool
	plans     []string
	planIDs   map[string]uint16
	bad       int // entries that did not parse (see Sync)

	// version counts changes; valid caches Valid's answers for it.
	version uint64
	cacheMu sync.Mutex
	valid   map[validKey]validAnswer
}

type validKey struct {
	plan string
	day  uint32
}

type validAnswer struct {
	version uint64
	indices []uint64
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{suspended: map[uint64]bool{}, planIDs: map[string]uint16{}}
}

// Size is the number of ledger entries the index has seen.
func (ix *Index) Size() uint64 {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return uint64(len(ix.plan))
}

// Member returns the license at index, or an error wrapping
// ringverify.ErrUnknownMember if there is none (no entry yet, or a revoke
// entry).
func (ix *Index) Member(index uint64) (ringverify.Member, error) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if index >= uint64(len(ix.plan)) || ix.plan[index] == 0 {
		return ringverify.Member{}, fmt.Errorf("%w: %d", ringverify.ErrUnknownMember, index)
	}
	m := ringverify.Member{
		Key:       ix.keys[index],
		Plan:      ix.plans[ix.plan[index]-1],
		NotBefore: Day(ix.nb[index]),
		NotAfter:  Day(ix.na[index]),
		State:     ringverify.Active,
	}
	switch {
	case ix.revoked[index/64]&(1<<(index%64)) != 0:
		m.State = ringverify.Revoked
	case ix.suspended[index]:
		m.State = ringverify.Suspended
	}
	return m, nil
}

var _ ringverify.Members = (*Index)(nil)

// Valid returns, sorted, the indices of the licenses of plan that are valid
// at time at: NotBefore ≤ at < NotAfter, not revoked, not suspended. The
// answer is computed once per (plan, day) and index change, and the caller
// gets its own copy.
func (ix *Index) Valid(plan string, at time.Time) []uint64 {
	sec := at.Unix()
	if sec < 0 {
		return nil
	}
	key := validKey{plan, uint32(sec / 86400)}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	ix.cacheMu.Lock()
	a, ok := ix.valid[key]
	ix.cacheMu.Unlock()
	if ok && a.version == ix.version {
		return slices.Clone(a.indices)
	}
	out := ix.scanValid(key.plan, key.day)
	ix.cacheMu.Lock()
	if ix.valid == nil || len(ix.valid) > 64 {
		ix.valid = map[validKey]validAnswer{}
	}
	ix.valid[key] = validAnswer{ix.version, out}
	ix.cacheMu.Unlock()
	return slices.Clone(out)
}

// scanValid is Valid without the cache; ix.mu is held for reading.
func (ix *Index) scanValid(plan string, day uint32) []uint64 {
	id, ok := ix.planIDs[plan]
	if !ok {
		return nil
	}
	var out []uint64
	for i, p := range ix.plan {
		if p != id+1 || ix.nb[i] > day || day >= ix.na[i] {
			continue
		}
		u := uint64(i)
		if ix.revoked[u/64]&(1<<(u%64)) != 0 || ix.suspended[u] {
			continue
		}
		out = append(out, u)
	}
	return out
}

// Append adds entries from ledger index start on, which must be ix's size.
// It is for entries the caller has proven to be the log's, such as a
// relay's mirror that reads them from the public tiles (package
// ledger/relay); the server's own index uses Sync. Unlike Sync, Append
// decodes every license key (ParseEntry), as entries from outside the
// server's database were not checked at enqueue: an entry that does not
// parse takes a slot that holds no license. It adds every entry or, on
// error, none.
func (ix *Index) Append(start uint64, entries [][]byte) error {
	return ix.apply(start, entries, true)
}

// apply adds entries starting at ledger index start (= ix's size), all or
// none; checkP is parseEntry's.
func (ix *Index) apply(start uint64, entries [][]byte, checkP bool) (err error) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.version++
	if start != uint64(len(ix.plan)) {
		return fmt.Errorf("ledger: index at %d cannot apply entries from %d", len(ix.plan), start)
	}
	n0, words0, plans0, bad0 := len(ix.plan), len(ix.revoked), len(ix.plans), ix.bad
	var revoked []uint64 // the bits this call set
	defer func() {
		if err == nil {
			return
		}
		ix.keys, ix.plan, ix.nb, ix.na = ix.keys[:n0], ix.plan[:n0], ix.nb[:n0], ix.na[:n0]
		for _, t := range revoked {
			ix.revoked[t/64] &^= 1 << (t % 64)
		}
		ix.revoked = ix.revoked[:words0]
		for _, p := range ix.plans[plans0:] {
			delete(ix.planIDs, p)
		}
		ix.plans, ix.bad = ix.plans[:plans0], bad0
	}()
	n := len(ix.plan) + len(entries)
	ix.keys = slices.Grow(ix.keys, len(entries))
	ix.plan = slices.Grow(ix.plan, len(entries))
	ix.nb = slices.Grow(ix.nb, len(entries))
	ix.na = slices.Grow(ix.na, len(entries))
	for len(ix.revoked)*64 < n {
		ix.revoked = append(ix.revoked, 0)
	}
	for i, data := range entries {
		idx := start + uint64(i)
		e, _ := parseEntry(data, checkP) // nil when it does not parse: the default case
		var key [KeySize]byte
		var plan uint16
		var nb, na uint32
		switch e := e.(type) {
		case *LicenseEntry:
			id, ok := ix.planIDs[e.Plan]
			if !ok {
				if len(ix.plans) == 1<<16-1 {
					return fmt.Errorf("ledger: more than %d plans", 1<<16-1)
				}
				id = uint16(len(ix.plans))
				ix.plans = append(ix.plans, e.Plan)
				ix.planIDs[e.Plan] = id
			}
			key, plan = e.P, id+1
			nb, na = uint32(e.NotBefore.Unix()/86400), uint32(e.NotAfter.Unix()/86400)
		case *RevokeEntry:
			t := e.Target
			if t < idx && ix.plan[t] != 0 && ix.revoked[t/64]&(1<<(t%64)) == 0 {
				ix.revoked[t/64] |= 1 << (t % 64)
				revoked = append(revoked, t)
			}
		default:
			// A stored entry that does not parse means the database was
			// tampered with; fsck says where. The slot holds no license.
			ix.bad++
		}
		ix.keys = append(ix.keys, key)
		ix.plan = append(ix.plan, plan)
		ix.nb = append(ix.nb, nb)
		ix.na = append(ix.na, na)
	}
	return nil
}

// Sync brings the index up to the store's latest checkpoint and its current
// suspensions.
func (ix *Index) Sync(ctx context.Context, s Store) error {
	c, err := s.Latest(ctx)
	if err != nil {
		return err
	}
	for size := ix.Size(); size < uint64(c.Size); size = ix.Size() {
		count := min(uint64(c.Size)-size, 20000)
		es, err := s.ReadEntries(ctx, int64(size), int(count))
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return fmt.Errorf("ledger: entries from %d are missing", size)
		}
		if err := ix.apply(size, es, false); err != nil {
			return err
		}
	}
	sus, err := s.Suspended(ctx)
	if err != nil {
		return err
	}
	ix.SetSuspended(sus)
	return nil
}

// SetSuspended makes indices the set of suspended licenses (a relay's
// mirror sets what the suspension feed says; the server's Sync reads its
// database).
func (ix *Index) SetSuspended(indices []uint64) {
	m := make(map[uint64]bool, len(indices))
	for _, i := range indices {
		m[i] = true
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if !maps.Equal(ix.suspended, m) {
		ix.suspended = m
		ix.version++
	}
}

// Follow calls Sync every period (default 500 ms) until ctx is done, so the
// index is current within about a second in every process.
func (ix *Index) Follow(ctx context.Context, s Store, period time.Duration, log *slog.Logger) {
	if period <= 0 {
		period = 500 * time.Millisecond
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := ix.Sync(ctx, s); err != nil && ctx.Err() == nil {
			log.Warn("ledger: couldn't update the license index", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
