package ringverify

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
)

func TestNewVerifierConfig(t *testing.T) {
	m := memMembers{}
	cases := []struct {
		name     string
		cfg      VerifierConfig
		min, max int
		ok       bool
	}{
		{"defaults", VerifierConfig{Members: m}, 16, 16, true},
		{"range", VerifierConfig{Members: m, MinRingSize: 11, MaxRingSize: 1024}, 11, 1024, true},
		{"min only", VerifierConfig{Members: m, MinRingSize: 12}, 12, 16, true},
		{"min above default", VerifierConfig{Members: m, MinRingSize: 32}, 32, 32, true},
		{"min below 11", VerifierConfig{Members: m, MinRingSize: 10, MaxRingSize: 16}, 0, 0, false},
		{"max above 1024", VerifierConfig{Members: m, MinRingSize: 16, MaxRingSize: 1025}, 0, 0, false},
		{"min above max", VerifierConfig{Members: m, MinRingSize: 20, MaxRingSize: 16}, 0, 0, false},
		{"no members", VerifierConfig{}, 0, 0, false},
		{"negative cache", VerifierConfig{Members: m, CacheSize: -1}, 0, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := NewVerifier(c.cfg)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok = %v", err, c.ok)
			}
			if err != nil {
				return
			}
			if lo, hi := v.RingSizeBounds(); lo != c.min || hi != c.max {
				t.Errorf("bounds [%d, %d], want [%d, %d]", lo, hi, c.min, c.max)
			}
		})
	}
}

func TestVerifierPolicy(t *testing.T) {
	r := rand.NewChaCha8([32]byte{'v', 'p'})
	const n, pi = 16, 9
	xs, ring := testRing(r, n+1)
	extraKey := ring[n]
	ring = ring[:n]
	members, idx := ledgerFor(ring)
	p, err := Sign(r, xs[pi], ring, pi, testScope, testCounter, testMsg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{Members: members})
	if err != nil {
		t.Fatal(err)
	}
	plan, err := v.Verify(idx, testScope, testCounter, testMsg, p, testNow)
	if err != nil || plan != "pro" {
		t.Fatalf("valid proof: plan %q, %v", plan, err)
	}

	// edit returns a copy of the ledger with member position i changed.
	edit := func(i int, f func(*Member)) memMembers { return members.edited(idx[i], f) }
	withIndex := func(i int, index uint64) []uint64 {
		s := slices.Clone(idx)
		s[i] = index
		return s
	}
	var extra [ElementSize]byte
	copy(extra[:], extraKey.Bytes())
	errInternal := errors.New("ledger index unavailable")
	short := *p
	short.Responses = p.Responses[:n-1]

	cases := []struct {
		name    string
		members Members
		ring    []uint64
		proof   *Proof
		now     time.Time
		msg     string
		want    error
		code    string
	}{
		{"too small", members, idx[:15], p, testNow, "", ErrRingBounds, "ring_size_bounds"},
		{"too large", members, append(slices.Clone(idx), 5), p, testNow, "", ErrRingBounds, "ring_size_bounds"},
		{"nil proof", members, idx, nil, testNow, "", ErrMalformedData, "malformed"},
		{"proof for another size", members, idx, &short, testNow, "", ErrRingSize, "ring_size"},
		{"duplicate index", members, withIndex(3, idx[4]), p, testNow, "", ErrDuplicateMember, "ring_duplicate_member"},
		{"unknown index", members, withIndex(3, 999999), p, testNow, "", ErrUnknownMember, "member_unknown"},
		{"not yet valid", members, idx, p, testNotBefore.Add(-time.Second), "", ErrMemberNotYetValid, "member_not_yet_valid"},
		{"valid from NotBefore", members, idx, p, testNotBefore, "", nil, ""},
		{"expired at NotAfter", members, idx, p, testNotAfter, "", ErrMemberExpired, "member_expired"},
		{"one member expired", edit(5, func(m *Member) { m.NotAfter = testNow }), idx, p, testNow, "", ErrMemberExpired, "member_expired"},
		{"one member not yet valid", edit(5, func(m *Member) { m.NotBefore = testNow.Add(time.Hour) }), idx, p, testNow, "", ErrMemberNotYetValid, "member_not_yet_valid"},
		{"suspended decoy", edit(0, func(m *Member) { m.State = Suspended }), idx, p, testNow, "", ErrMemberSuspended, "member_suspended"},
		{"revoked decoy", edit(15, func(m *Member) { m.State = Revoked }), idx, p, testNow, "", ErrMemberRevoked, "member_revoked"},
		{"revoked signer", edit(pi, func(m *Member) { m.State = Revoked }), idx, p, testNow, "", ErrMemberRevoked, "member_revoked"},
		{"unknown state", edit(1, func(m *Member) { m.State = 7 }), idx, p, testNow, "", ErrMemberRevoked, "member_revoked"},
		{"mixed plans", edit(7, func(m *Member) { m.Plan = "basic" }), idx, p, testNow, "", ErrMixedPlans, "ring_mixed_plans"},
		{"identity key", edit(2, func(m *Member) { m.Key = [32]byte{} }), idx, p, testNow, "", ErrMemberKey, "member_key"},
		{"non-canonical key", edit(2, func(m *Member) { m.Key = [32]byte{1} }), idx, p, testNow, "", ErrMemberKey, "member_key"},
		{"same key at two indices", edit(2, func(m *Member) { m.Key = members[idx[3]].Key }), idx, p, testNow, "", ErrDuplicateKey, "ring_duplicate_key"},
		{"member swapped", edit(2, func(m *Member) { m.Key = extra }), idx, p, testNow, "", ErrBadSignature, "signature"},
		{"wrong message", members, idx, p, testNow, "other", ErrBadSignature, "signature"},
		{"members error", failingMembers{errInternal}, idx, p, testNow, "", errInternal, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := NewVerifier(VerifierConfig{Members: c.members})
			if err != nil {
				t.Fatal(err)
			}
			msg := testMsg
			if c.msg != "" {
				msg = []byte(c.msg)
			}
			plan, err := v.Verify(c.ring, testScope, testCounter, msg, c.proof, c.now)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			if Code(err) != c.code {
				t.Errorf("Code = %q, want %q", Code(err), c.code)
			}
			if err != nil && plan != "" {
				t.Errorf("plan %q returned with an error", plan)
			}
		})
	}
	// The bounds are configurable.
	v11, err := NewVerifier(VerifierConfig{Members: members, MinRingSize: 11, MaxRingSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v11.Verify(idx, testScope, testCounter, testMsg, p, testNow); err != nil {
		t.Errorf("ring of 16 within [11, 20]: %v", err)
	}
}

type failingMembers struct{ err error }

func (f failingMembers) Member(uint64) (Member, error) { return Member{}, f.err }

func TestErrorCodesDistinct(t *testing.T) {
	all := []*Error{ErrProofLength, ErrProofScalar, ErrProofTag, ErrIdentityTag, ErrRingSize, ErrRingKey,
		ErrDuplicateKey, ErrScope, ErrSigner, ErrBadSignature, ErrMalformedData, ErrRingBounds,
		ErrDuplicateMember, ErrMixedPlans, ErrUnknownMember, ErrMemberNotYetValid, ErrMemberExpired,
		ErrMemberSuspended, ErrMemberRevoked, ErrMemberKey}
	seen := map[string]bool{}
	for _, e := range all {
		if e.Code() == "" || seen[e.Code()] {
			t.Errorf("code %q empty or repeated", e.Code())
		}
		seen[e.Code()] = true
		wrapped := fmt.Errorf("context: %w", e)
		if Code(wrapped) != e.Code() || !errors.Is(wrapped, e) {
			t.Errorf("%q does not survive wrapping", e.Code())
		}
		if errors.Is(wrapped, newError(e.Code()+"x", "")) {
			t.Errorf("%q matches another code", e.Code())
		}
	}
}

// TestVerifierConcurrent runs verifications from many goroutines over more
// (scope, counter, key) triples than the cache holds, so entries are evicted
// while others are read. Run with -race.
func TestVerifierConcurrent(t *testing.T) {
	r := rand.NewChaCha8([32]byte{'c', 'c'})
	xs, ring := testRing(r, 11)
	members, idx := ledgerFor(ring)
	v, err := NewVerifier(VerifierConfig{Members: members, MinRingSize: 11, MaxRingSize: 11, CacheSize: 40})
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		counter uint32
		p       *Proof
	}
	var jobs []job
	for j := uint32(0); j < 8; j++ {
		p, err := Sign(r, xs[j], ring, int(j), testScope, j, testMsg)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job{j, p})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 6; k++ {
				jb := jobs[(g+k)%len(jobs)]
				if _, err := v.Verify(idx, testScope, jb.counter, testMsg, jb.p, testNow); err != nil {
					errs <- err
				}
				if _, err := v.Verify(idx, testScope, jb.counter+1, testMsg, jb.p, testNow); !errors.Is(err, ErrBadSignature) {
					errs <- fmt.Errorf("wrong counter: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	total := 0
	for i := range v.cache.shards {
		total += len(v.cache.shards[i].m)
		if len(v.cache.shards[i].m) > v.cache.shards[i].max {
			t.Errorf("shard %d holds %d entries, bound %d", i, len(v.cache.shards[i].m), v.cache.shards[i].max)
		}
	}
	if total > 64 {
		t.Errorf("cache holds %d entries for a size of 40 (32 shards of 2)", total)
	}
}

// TestVerifyAllocs checks that Verifier.Verify's allocations do not grow
// with the ring size: the verification loop allocates nothing per member.
func TestVerifyAllocs(t *testing.T) {
	allocs := map[int]float64{}
	for _, n := range []int{11, 64} {
		r := rand.NewChaCha8([32]byte{'a', 'l'})
		xs, ring := testRing(r, n)
		members, idx := ledgerFor(ring)
		v, err := NewVerifier(VerifierConfig{Members: members, MinRingSize: 11, MaxRingSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		p, err := Sign(r, xs[0], ring, 0, testScope, 0, testMsg)
		if err != nil {
			t.Fatal(err)
		}
		allocs[n] = testing.AllocsPerRun(20, func() {
			if _, err := v.Verify(idx, testScope, 0, testMsg, p, testNow); err != nil {
				t.Fatal(err)
			}
		})
	}
	if allocs[11] != allocs[64] || allocs[64] > 12 {
		t.Errorf("allocations per Verify: %v at ring 11, %v at ring 64; want equal and at most 12", allocs[11], allocs[64])
	}
	t.Logf("allocations per Verify: %v", allocs)
}

func TestTagBytes(t *testing.T) {
	r := rand.NewChaCha8([32]byte{'t', 'b'})
	xs, ring := testRing(r, 2)
	p, _ := Sign(r, xs[0], ring, 0, testScope, 0, testMsg)
	tb := p.TagBytes()
	if ristretto255.NewIdentityElement().ScalarMult(xs[0], TagBase(testScope, 0, ring[0].Bytes())).Equal(p.Tag) != 1 || string(tb[:]) != string(p.Bytes()[:32]) {
		t.Error("TagBytes is not the encoding of x·H_π")
	}
	if _, err := (&Proof{}).MarshalBinary(); !errors.Is(err, ErrMalformedData) {
		t.Errorf("MarshalBinary of an empty proof: %v", err)
	}
	b, err := p.MarshalBinary()
	if err != nil || string(b) != string(p.Bytes()) {
		t.Errorf("MarshalBinary: %v", err)
	}
}

// countingMembers counts lookups.
type countingMembers struct {
	Members
	n int
}

func (c *countingMembers) Member(index uint64) (Member, error) {
	c.n++
	return c.Members.Member(index)
}

// TestResolveThenVerifyRing checks the two halves of Verify: Resolve looks
// each member up once and gives the ring's plan and earliest expiry;
// VerifyRing checks proofs over the resolved ring, for any scope and
// counter, without looking members up again.
func TestResolveThenVerifyRing(t *testing.T) {
	r := rand.NewChaCha8([32]byte{'r', 'v'})
	const n, pi = 16, 4
	xs, ring := testRing(r, n)
	members, idx := ledgerFor(ring)
	soon := testNow.Add(36 * time.Hour)
	e := members[idx[11]]
	e.NotAfter = soon // still valid at testNow
	members[idx[11]] = e
	counting := &countingMembers{Members: members}
	v, err := NewVerifier(VerifierConfig{Members: counting})
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Resolve(idx, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if counting.n != n {
		t.Fatalf("Resolve made %d lookups for %d members", counting.n, n)
	}
	if res.Plan() != "pro" || !res.NotAfter().Equal(soon) {
		t.Fatalf("plan %q, NotAfter %v; want pro, %v", res.Plan(), res.NotAfter(), soon)
	}
	for counter := range uint32(3) {
		p, err := Sign(r, xs[pi], ring, pi, testScope, counter, testMsg)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.VerifyRing(res, testScope, counter, testMsg, p); err != nil {
			t.Fatalf("counter %d: %v", counter, err)
		}
		if err := v.VerifyRing(res, testScope, counter+1, testMsg, p); !errors.Is(err, ErrBadSignature) {
			t.Fatalf("counter %d verified as %d: %v", counter, counter+1, err)
		}
		if err := v.VerifyRing(res, testScope, counter, testMsg, nil); !errors.Is(err, ErrMalformedData) {
			t.Fatalf("nil proof: %v", err)
		}
		if err := v.VerifyRing(res, "", counter, testMsg, p); !errors.Is(err, ErrScope) {
			t.Fatalf("empty scope: %v", err)
		}
	}
	if counting.n != n {
		t.Fatalf("VerifyRing looked members up: %d lookups in all", counting.n)
	}
	counting.n = 0
	p, _ := Sign(r, xs[pi], ring, pi, testScope, 0, testMsg)
	if _, err := v.Verify(idx, testScope, 0, testMsg, p, testNow); err != nil || counting.n != n {
		t.Fatalf("Verify: %v, %d lookups for %d members", err, counting.n, n)
	}
	// The Ring keeps its own copy of the indices.
	in := slices.Clone(idx)
	res, _ = v.Resolve(in, testNow)
	in[0] = 5
	if res.indices[0] != idx[0] {
		t.Fatalf("the Ring's index 0 is %d after the caller changed its slice, want %d", res.indices[0], idx[0])
	}
	if err := v.VerifyRing(res, testScope, 0, testMsg, p); err != nil {
		t.Fatalf("after the caller changed its slice: %v", err)
	}
}

// TestMemberError checks that a refusal due to one member says which:
// its ring position and ledger index, with the member's code.
func TestMemberError(t *testing.T) {
	r := rand.NewChaCha8([32]byte{'m', 'e'})
	xs, ring := testRing(r, 16)
	members, idx := ledgerFor(ring)
	p, _ := Sign(r, xs[0], ring, 0, testScope, 0, testMsg)
	set := func(i int, f func(*Member)) memMembers { return members.edited(idx[i], f) }
	dup := slices.Clone(idx)
	dup[9] = idx[2]
	unknown := slices.Clone(idx)
	unknown[6] = 999999
	cases := []struct {
		name    string
		members memMembers
		ring    []uint64
		pos     int
		index   uint64
		want    error
	}{
		{"unknown", members, unknown, 6, 999999, ErrUnknownMember},
		{"duplicate", members, dup, 9, idx[2], ErrDuplicateMember},
		{"expired", set(3, func(m *Member) { m.NotAfter = testNow }), idx, 3, idx[3], ErrMemberExpired},
		{"suspended", set(12, func(m *Member) { m.State = Suspended }), idx, 12, idx[12], ErrMemberSuspended},
		{"mixed plans", set(15, func(m *Member) { m.Plan = "basic" }), idx, 15, idx[15], ErrMixedPlans},
		{"bad key", set(7, func(m *Member) { m.Key = [32]byte{1} }), idx, 7, idx[7], ErrMemberKey},
		// Members are checked before keys: a bad key at 2 and an expired
		// member at 5 is the expired member.
		{"bad key, then expired", set(2, func(m *Member) { m.Key = [32]byte{1} }).edited(idx[5], func(m *Member) { m.NotAfter = testNow }), idx, 5, idx[5], ErrMemberExpired},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, _ := NewVerifier(VerifierConfig{Members: c.members})
			_, err := v.Verify(c.ring, testScope, 0, testMsg, p, testNow)
			var me *MemberError
			if !errors.As(err, &me) || !errors.Is(err, c.want) || me.Position != c.pos || me.Index != c.index {
				t.Fatalf("Verify = %v, want %v at position %d, index %d", err, c.want, c.pos, c.index)
			}
			if want := fmt.Sprintf("(ring position %d, ledger index %d)", c.pos, c.index); !strings.Contains(err.Error(), want) {
				t.Fatalf("%q does not say %q", err, want)
			}
		})
	}
}

// edited returns a copy of m with the member at index changed by f.
func (m memMembers) edited(index uint64, f func(*Member)) memMembers {
	c := maps.Clone(m)
	e := c[index]
	f(&e)
	c[index] = e
	return c
}
