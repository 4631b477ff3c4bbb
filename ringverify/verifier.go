package ringverify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gtank/ristretto255"
)

// Ring size bounds. A Verifier accepts rings of MinRingSize to MaxRingSize
// members (DefaultRingSize each unless configured); the configured bounds
// must lie within [MinAllowedRingSize, MaxRingSize].
const (
	DefaultRingSize    = 16
	MinAllowedRingSize = 11
)

// State is the revocation state of a license.
type State uint8

const (
	Active    State = iota // valid between NotBefore and NotAfter
	Suspended              // temporarily refused (for example, a disputed payment)
	Revoked                // refused for good (for example, a refunded payment)
)

func (s State) String() string {
	switch s {
	case Active:
		return "active"
	case Suspended:
		return "suspended"
	case Revoked:
		return "revoked"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// A Member is what the Verifier needs to know about the license at one ledger
// index.
type Member struct {
	// Key is the canonical encoding of the one-time license key P.
	Key [ElementSize]byte
	// Plan is the license's plan id. All members of a ring share one plan.
	Plan string
	// The license is valid from NotBefore (inclusive) to NotAfter
	// (exclusive).
	NotBefore, NotAfter time.Time
	State               State
}

// Members resolves ring members by ledger index. It is backed by the
// ledger's index of licenses, or by a relay's mirror of it.
//
// Member must be safe for concurrent use. It returns an error wrapping
// ErrUnknownMember if there is no license at index; any other error is
// treated as internal and returned as is. It is called once per ring member
// per verification, so it should answer from memory.
type Members interface {
	Member(index uint64) (Member, error)
}

// VerifierConfig configures a Verifier. Zero fields take their defaults.
type VerifierConfig struct {
	// Members resolves ledger indices. Required.
	Members Members
	// MinRingSize and MaxRingSize bound the ring size (inclusive). Both
	// default to DefaultRingSize; they must satisfy
	// MinAllowedRingSize (11) ≤ MinRingSize ≤ MaxRingSize ≤ 1024 (the
	// package constant MaxRingSize).
	MinRingSize, MaxRingSize int
	// CacheSize is the number of (scope, counter, key) tag bases kept;
	// default 1<<16. An entry takes about 400 bytes (two points, the key,
	// the scope), so the default holds about 26 MiB. Each cached entry saves
	// one hash-to-group and one point decoding per ring member.
	CacheSize int
}

// A Verifier checks proofs whose rings are given as ledger indices: it
// resolves each member, refuses rings that break the admission policy, and
// checks the signature. It is safe for concurrent use, and meant to be
// shared by all goroutines of a process.
//
// It caches, per (scope, counter, member key), the decoded key and its tag
// base H_i, in a bounded cache split into shards with their own lock. A full
// shard evicts an arbitrary entry. Within one scope the same licenses recur in
// many rings, so in steady state a verification costs no hash-to-group and
// no point decoding; see BenchmarkVerify.
type Verifier struct {
	members  Members
	min, max int
	cache    *baseCache
}

// NewVerifier returns a Verifier for cfg, or an error if cfg is invalid.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Members == nil {
		return nil, errors.New("ringverify: VerifierConfig.Members is nil")
	}
	if cfg.MinRingSize == 0 {
		cfg.MinRingSize = DefaultRingSize
	}
	if cfg.MaxRingSize == 0 {
		cfg.MaxRingSize = max(DefaultRingSize, cfg.MinRingSize)
	}
	if cfg.MinRingSize < MinAllowedRingSize || cfg.MaxRingSize > MaxRingSize || cfg.MinRingSize > cfg.MaxRingSize {
		return nil, fmt.Errorf("ringverify: ring size bounds [%d, %d] not within [%d, %d]",
			cfg.MinRingSize, cfg.MaxRingSize, MinAllowedRingSize, MaxRingSize)
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 1 << 16
	}
	if cfg.CacheSize < 0 {
		return nil, errors.New("ringverify: negative VerifierConfig.CacheSize")
	}
	return &Verifier{members: cfg.Members, min: cfg.MinRingSize, max: cfg.MaxRingSize, cache: newBaseCache(cfg.CacheSize)}, nil
}

// RingSizeBounds returns the smallest and largest ring size v accepts.
func (v *Verifier) RingSizeBounds() (minSize, maxSize int) { return v.min, v.max }

// Verify checks that p is a proof by one of the licenses at the ledger
// indices ring (in the signer's order) over msg, scope and counter, and that
// the ring is admissible at time now: size within bounds, members distinct,
// known, of one plan, valid at now, and active. It returns the plan. It is
// Resolve then VerifyRing, with the checks of the proof's shape and the
// scope first.
//
// The first failure is returned (the order is in the package
// documentation), wrapping one of ErrRingBounds, ErrRingSize (proof and
// ring sizes differ), ErrScope, ErrDuplicateMember, ErrUnknownMember,
// ErrMemberNotYetValid, ErrMemberExpired, ErrMemberSuspended,
// ErrMemberRevoked, ErrMixedPlans, ErrMemberKey, ErrDuplicateKey,
// ErrIdentityTag, ErrMalformedData or ErrBadSignature; or an internal error
// from Members, for which Code returns "". A failure due to one member is
// a *MemberError, which says which.
//
// Verify does not record the tag: one use per (scope, counter) is the
// caller's to enforce, with p.TagBytes().
func (v *Verifier) Verify(ring []uint64, scope string, counter uint32, msg []byte, p *Proof, now time.Time) (plan string, err error) {
	if err := v.checkBounds(len(ring)); err != nil {
		return "", err
	}
	if err := checkProofFor(p, len(ring)); err != nil {
		return "", err
	}
	if err := checkScope(scope); err != nil {
		return "", err
	}
	var r Ring // on the stack, and ring not copied: r does not outlive Verify
	if err := v.resolve(&r, ring, now); err != nil {
		return "", err
	}
	if err := v.VerifyRing(&r, scope, counter, msg, p); err != nil {
		return "", err
	}
	return r.plan, nil
}

// A Ring is a ring of ledger indices that Resolve found admissible at one
// time: its members, their plan and earliest expiry. Only Resolve makes
// one; VerifyRing checks proofs over it, for any scope and counter.
type Ring struct {
	indices  []uint64
	keys     []byte // the members' key encodings, in ring order
	plan     string
	notAfter time.Time
}

// Plan is the plan every member of r has.
func (r *Ring) Plan() string { return r.plan }

// NotAfter is the earliest NotAfter among r's members: the ring is
// admissible until then, unless a member is revoked or suspended first.
func (r *Ring) NotAfter() time.Time { return r.notAfter }

// A MemberError is a refusal due to one ring member: Err (a ringverify
// error such as ErrMemberExpired, or an internal error from Members) about
// the member at Position in the ring, ledger index Index.
type MemberError struct {
	Position int
	Index    uint64
	Err      error
}

func (e *MemberError) Error() string {
	return fmt.Sprintf("%v (ring position %d, ledger index %d)", e.Err, e.Position, e.Index)
}

func (e *MemberError) Unwrap() error { return e.Err }

// Resolve looks up each member of ring through Members, once, and checks
// that the ring is admissible at now, stopping at the first failure: size
// within bounds (ErrRingBounds), indices distinct (ErrDuplicateMember), then
// each member in ring order known (ErrUnknownMember), valid at now
// (ErrMemberNotYetValid, ErrMemberExpired), active (ErrMemberSuspended,
// ErrMemberRevoked) and of member 0's plan (ErrMixedPlans). Failures about
// one member are *MemberError. Resolve does not decode keys: VerifyRing
// does.
//
// It lets a caller learn the ring's plan, to check what depends on it (a
// quota), before the costlier signature check, with one lookup per member.
func (v *Verifier) Resolve(ring []uint64, now time.Time) (*Ring, error) {
	r := new(Ring)
	if err := v.resolve(r, slices.Clone(ring), now); err != nil {
		return nil, err
	}
	return r, nil
}

// resolve is Resolve into r, which keeps ring.
func (v *Verifier) resolve(r *Ring, ring []uint64, now time.Time) error {
	if err := v.checkBounds(len(ring)); err != nil {
		return err
	}
	if err := checkDistinctIndices(ring); err != nil {
		return err
	}
	*r = Ring{indices: ring, keys: make([]byte, len(ring)*ElementSize)}
	for i, idx := range ring {
		m, err := v.members.Member(idx)
		if err == nil {
			err = checkMember(&m, now)
		}
		if err == nil && i > 0 && m.Plan != r.plan {
			err = fmt.Errorf("%w: plan %q, position 0 has %q", ErrMixedPlans, m.Plan, r.plan)
		}
		if err != nil {
			return &MemberError{Position: i, Index: idx, Err: err}
		}
		if i == 0 || m.NotAfter.Before(r.notAfter) {
			r.notAfter = m.NotAfter
		}
		if i == 0 {
			r.plan = m.Plan
		}
		copy(r.keys[i*ElementSize:], m.Key[:])
	}
	return nil
}

// VerifyRing checks that p is a proof over msg, scope and counter by one of
// the members of r, a ring from Resolve, in its order. It fails with
// ErrMalformedData, ErrRingSize or ErrScope for a proof or scope of the
// wrong shape, then checks that every member key decodes (a *MemberError
// wrapping ErrMemberKey) and the keys are distinct (ErrDuplicateKey), then
// the signature (ErrIdentityTag, ErrBadSignature).
func (v *Verifier) VerifyRing(r *Ring, scope string, counter uint32, msg []byte, p *Proof) error {
	n := len(r.indices)
	if err := checkProofFor(p, n); err != nil {
		return err
	}
	if err := checkScope(scope); err != nil {
		return err
	}
	keys := make([]*ristretto255.Element, n)
	bases := make([]*ristretto255.Element, n)
	for i := range n {
		e, err := v.cache.get(scope, counter, (*[ElementSize]byte)(r.keys[i*ElementSize:]))
		if err != nil {
			return &MemberError{Position: i, Index: r.indices[i], Err: err}
		}
		keys[i], bases[i] = e.key, e.base
	}
	if err := checkDistinct(r.keys); err != nil {
		return err
	}
	return verifyVarTime(keys, r.keys, bases, scope, counter, msg, p)
}

func (v *Verifier) checkBounds(n int) error {
	if n < v.min || n > v.max {
		return fmt.Errorf("%w: %d members, want %d to %d", ErrRingBounds, n, v.min, v.max)
	}
	return nil
}

// checkProofFor checks that p is there and has n responses.
func checkProofFor(p *Proof, n int) error {
	if p == nil {
		return ErrMalformedData
	}
	if len(p.Responses) != n {
		return fmt.Errorf("%w: proof does not have %d responses", ErrRingSize, n)
	}
	return nil
}

func checkMember(m *Member, now time.Time) error {
	switch {
	case now.Before(m.NotBefore):
		return ErrMemberNotYetValid
	case !now.Before(m.NotAfter):
		return ErrMemberExpired
	case m.State == Suspended:
		return ErrMemberSuspended
	case m.State != Active:
		return ErrMemberRevoked
	}
	return nil
}

// checkDistinctIndices refuses a ring that lists an index twice, as a
// *MemberError at the index's second position.
func checkDistinctIndices(ring []uint64) error {
	s := slices.Clone(ring)
	slices.Sort(s)
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] {
			pos := slices.Index(ring, s[i])
			pos += 1 + slices.Index(ring[pos+1:], s[i])
			return &MemberError{Position: pos, Index: s[i], Err: ErrDuplicateMember}
		}
	}
	return nil
}

// baseCache maps (scope, counter, key encoding) to the decoded key and its
// tag base. Entries are immutable once stored.
type baseCache struct {
	shards [cacheShards]cacheShard
}

const cacheShards = 32

type cacheShard struct {
	mu  sync.Mutex
	m   map[cacheKey]*cacheEntry
	max int
}

type cacheKey struct {
	scope   string
	counter uint32
	key     [ElementSize]byte
}

type cacheEntry struct {
	key, base *ristretto255.Element
}

func newBaseCache(size int) *baseCache {
	c := &baseCache{}
	per := max(1, (size+cacheShards-1)/cacheShards)
	for i := range c.shards {
		c.shards[i].m = make(map[cacheKey]*cacheEntry)
		c.shards[i].max = per
	}
	return c
}

func (c *baseCache) get(scope string, counter uint32, key *[ElementSize]byte) (*cacheEntry, error) {
	// Keys are encodings of uniformly distributed one-time keys, so their
	// bytes spread entries evenly over the shards.
	sh := &c.shards[(binary.LittleEndian.Uint32(key[:4])^counter)%cacheShards]
	k := cacheKey{scope, counter, *key}
	sh.mu.Lock()
	e, ok := sh.m[k]
	sh.mu.Unlock()
	if ok {
		return e, nil
	}
	P, err := ristretto255.NewIdentityElement().SetCanonicalBytes(key[:])
	if err != nil || P.Equal(identity) == 1 {
		return nil, ErrMemberKey
	}
	e = &cacheEntry{key: P, base: TagBase(scope, counter, key[:])}
	k.scope = strings.Clone(scope)
	sh.mu.Lock()
	if len(sh.m) >= sh.max {
		for old := range sh.m {
			delete(sh.m, old)
			break
		}
	}
	sh.m[k] = e
	sh.mu.Unlock()
	return e, nil
}
