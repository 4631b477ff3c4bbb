package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/tlogclient"
	"github.com/licensed/licensed/ringverify"
)

// ErrFork is returned by Sync when the server's checkpoint is not
// consistent with one the mirror verified before: the log was rewritten, or
// the server shows different logs to different clients. Stop trusting it.
var ErrFork = errors.New("relay: the ledger's new checkpoint is not consistent with the last one verified (the log was rewritten)")

// Mirror is a relay's copy of the license ledger's index: every license's
// key, plan and validity, and the revocations. It implements
// admission.Licenses, so a Local verifier checks rings against it. It is safe
// for concurrent use; Sync may run while proofs are verified.
type Mirror struct {
	c     *Client
	v     note.Verifier
	tiles *tlogclient.Client // hash tiles, kept once verified

	syncMu sync.Mutex // one Sync at a time

	mu      sync.RWMutex
	cp      ledger.Checkpoint // last verified
	members []mirrorEntry     // by ledger index
	plans   []string
	planIDs map[string]uint16
}

type mirrorEntry struct {
	key     [ringverify.ElementSize]byte
	plan    uint16 // plan id + 1; 0: not a license
	nb, na  uint32 // days since 1970-01-01
	revoked bool
}

// NewMirror returns an empty mirror of c's ledger, whose checkpoints must
// be signed by the note verifier key vkey (as `licensed keygen` prints it).
func NewMirror(c *Client, vkey string) (*Mirror, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("relay: bad ledger verifier key: %w", err)
	}
	return &Mirror{c: c, v: v, tiles: &tlogclient.Client{Server: c.URL, Verifier: v, HTTP: c.HTTP}, planIDs: map[string]uint16{}}, nil
}

// Checkpoint returns the last checkpoint the mirror verified and applied.
func (m *Mirror) Checkpoint() ledger.Checkpoint {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cp
}

// Sync fetches the server's latest checkpoint, checks its signature and its
// consistency with the last one, then fetches the new entries in C2SP
// entry bundles, checks each against the tree (the hash tiles are proven up
// to the signed root), and applies them. On any error the mirror stays as it
// was.
func (m *Mirror) Sync(ctx context.Context) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	raw, err := m.c.get(ctx, "/ledger/checkpoint", 16<<10)
	if err != nil {
		return err
	}
	cp, err := ledger.OpenCheckpoint(raw, m.v)
	if err != nil {
		return err
	}
	old := m.Checkpoint()
	if cp.Size < old.Size {
		return fmt.Errorf("%w: size went back from %d to %d", ErrFork, old.Size, cp.Size)
	}
	if cp.Size == old.Size {
		if cp.Root != old.Root {
			return fmt.Errorf("%w: two roots for size %d", ErrFork, cp.Size)
		}
		return nil
	}
	// The ledger's audit client reads the hash tiles; TileHashReader proves
	// each against the signed root before use, and the client keeps those
	// it proved for the next Sync.
	m.tiles.Server = m.c.URL
	hr := tlog.TileHashReader(tlog.Tree{N: cp.Size, Hash: cp.Root}, m.tiles)
	if old.Size > 0 {
		h, err := tlog.TreeHash(old.Size, hr)
		if err != nil {
			return fmt.Errorf("relay: couldn't check consistency: %w", err)
		}
		if h != old.Root {
			return fmt.Errorf("%w: size %d", ErrFork, old.Size)
		}
	}
	var entries [][]byte
	for n := old.Size / ledger.TileWidth; n*ledger.TileWidth < cp.Size; n++ {
		width := int(min(cp.Size-n*ledger.TileWidth, ledger.TileWidth))
		t := ledger.Tile{Level: ledger.EntriesLevel, N: n, Width: width}
		b, err := m.c.get(ctx, "/ledger/"+t.Path(), int64(width)*(2+ledger.MaxEntrySize))
		if err != nil {
			return err
		}
		bundle, err := ledger.ParseBundle(b)
		if err != nil {
			return err
		}
		if len(bundle) != width {
			return fmt.Errorf("relay: entry bundle %s holds %d entries", t.Path(), len(bundle))
		}
		first := n * ledger.TileWidth
		skip := max(old.Size-first, 0)
		idx := make([]int64, 0, width)
		for i := skip; i < int64(width); i++ {
			idx = append(idx, tlog.StoredHashIndex(0, first+i))
		}
		hashes, err := hr.ReadHashes(idx)
		if err != nil {
			return fmt.Errorf("relay: couldn't prove entries of %s: %w", t.Path(), err)
		}
		for k, i := 0, skip; i < int64(width); k, i = k+1, i+1 {
			if tlog.RecordHash(bundle[i]) != hashes[k] {
				return fmt.Errorf("relay: entry %d does not match the signed tree", first+i)
			}
			entries = append(entries, bundle[i])
		}
	}
	return m.apply(cp, old.Size, entries)
}

// Follow calls Sync every period (default one minute) until ctx is done,
// logging failures (ErrFork among them) to log; the mirror keeps serving its
// last verified state meanwhile.
func (m *Mirror) Follow(ctx context.Context, period time.Duration, log *slog.Logger) {
	if period <= 0 {
		period = time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := m.Sync(ctx); err != nil && ctx.Err() == nil {
			log.Warn("relay: couldn't sync the ledger mirror", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// apply adds entries (proven, starting at index start) and moves to cp.
func (m *Mirror) apply(cp ledger.Checkpoint, start int64, entries [][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if int64(len(m.members)) != start {
		return fmt.Errorf("relay: mirror at %d cannot apply entries from %d", len(m.members), start)
	}
	members := slices.Grow(m.members, len(entries))
	var revoked []uint64
	for i, data := range entries {
		idx := uint64(start) + uint64(i)
		var me mirrorEntry
		switch e, _ := ledger.ParseEntry(data); e := e.(type) {
		case *ledger.LicenseEntry:
			id, ok := m.planIDs[e.Plan]
			if !ok {
				if len(m.plans) == 1<<16-1 {
					return errors.New("relay: too many plans")
				}
				id = uint16(len(m.plans))
				m.plans = append(m.plans, e.Plan)
				m.planIDs[e.Plan] = id
			}
			me = mirrorEntry{key: e.P, plan: id + 1, nb: uint32(e.NotBefore.Unix() / 86400), na: uint32(e.NotAfter.Unix() / 86400)}
		case *ledger.RevokeEntry:
			if e.Target < idx {
				revoked = append(revoked, e.Target)
			}
		}
		// An entry that does not parse holds no license: it cannot be a
		// ring member. (The server's fsck reports it.)
		members = append(members, me)
	}
	for _, t := range revoked {
		members[t].revoked = true
	}
	m.members, m.cp = members, cp
	return nil
}

// Member implements ringverify.Members.
func (m *Mirror) Member(index uint64) (ringverify.Member, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if index >= uint64(len(m.members)) || m.members[index].plan == 0 {
		return ringverify.Member{}, fmt.Errorf("%w: %d", ringverify.ErrUnknownMember, index)
	}
	e := &m.members[index]
	st := ringverify.Active
	if e.revoked {
		st = ringverify.Revoked
	}
	return ringverify.Member{Key: e.key, Plan: m.plans[e.plan-1], NotBefore: ledger.Day(e.nb), NotAfter: ledger.Day(e.na), State: st}, nil
}

// Valid implements admission.Licenses: the indices of the licenses of plan
// valid at at and not revoked, sorted.
func (m *Mirror) Valid(plan string, at time.Time) []uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	id, ok := m.planIDs[plan]
	if !ok || at.Unix() < 0 {
		return nil
	}
	day := uint32(at.Unix() / 86400)
	var out []uint64
	for i := range m.members {
		e := &m.members[i]
		if e.plan == id+1 && e.nb <= day && day < e.na && !e.revoked {
			out = append(out, uint64(i))
		}
	}
	return out
}

var _ admission.Licenses = (*Mirror)(nil)

// Local is a relay's own admission service: the checks of package
// ledger/admission against a Mirror, with tags in memory.
type Local = admission.Service

// NewLocal returns a Local verifier over m. cfg.Network and cfg.Quota are
// required (QuotaFunc makes Quota from Client.Quotas); cfg may also set the
// ring bounds, clock skew and proof of work, as the server does.
func NewLocal(m *Mirror, cfg admission.Config) (*Local, error) {
	return admission.New(m, admission.NewMemoryTags(), cfg)
}

// QuotaFunc returns an admission.Config.Quota over the quotas of
// Client.Quotas.
func QuotaFunc(quotas map[string]uint32) func(plan string) (uint32, bool) {
	return func(plan string) (uint32, bool) {
		q, ok := quotas[plan]
		return q, ok
	}
}
