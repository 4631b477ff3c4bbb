package ringverify

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
)

const (
	testScope   = "net/2026-11-22"
	testCounter = 3
)

var testMsg = []byte("data block hash")

// signWithTag runs the bLSAG signing equations with an arbitrary tag: what
// a signer who wants to escape linkability would do.
func signWithTag(r io.Reader, x *ristretto255.Scalar, ring []*ristretto255.Element, pi int, tag *ristretto255.Element, scope string, counter uint32, msg []byte) *Proof {
	n := len(ring)
	enc := make([]byte, 0, n*ElementSize)
	bases := make([]*ristretto255.Element, n)
	for i, P := range ring {
		enc = append(enc, P.Bytes()...)
		bases[i] = TagBase(scope, counter, enc[i*ElementSize:])
	}
	cs := newChallengeState(scope, counter, enc, tag, msg)
	p := &Proof{Tag: tag, C0: ristretto255.NewScalar(), Responses: make([]*ristretto255.Scalar, n)}
	alpha := randomScalar(r)
	L := ristretto255.NewIdentityElement().ScalarBaseMult(alpha)
	R := ristretto255.NewIdentityElement().ScalarMult(alpha, bases[pi])
	c := ristretto255.NewScalar()
	for k := 0; k < n; k++ {
		i := (pi + k) % n
		if k > 0 {
			p.Responses[i] = randomScalar(r)
			L.VarTimeDoubleScalarBaseMult(c, ring[i], p.Responses[i])
			R.VarTimeMultiScalarMult([]*ristretto255.Scalar{p.Responses[i], c}, []*ristretto255.Element{bases[i], tag})
		}
		cs.next(c, L, R)
		if i == n-1 {
			p.C0.Set(c)
		}
	}
	p.Responses[pi] = ristretto255.NewScalar().Subtract(alpha, c.Multiply(c, x))
	return p
}

func TestAttacks(t *testing.T) {
	r := rand.NewChaCha8([32]byte{'a', 't', 't'})
	const n, pi = 11, 4
	xs, ring := testRing(r, n)
	p, err := Sign(r, xs[pi], ring, pi, testScope, testCounter, testMsg)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(ring, testScope, testCounter, testMsg, p); err != nil {
		t.Fatal(err)
	}
	_, strangers := testRing(r, 2)
	withMember := func(i int, P *ristretto255.Element) []*ristretto255.Element {
		rr := slices.Clone(ring)
		rr[i] = P
		return rr
	}
	withTag := func(T *ristretto255.Element) *Proof {
		q := *p
		q.Tag = T
		return &q
	}
	signerBase := TagBase(testScope, testCounter, ring[pi].Bytes())
	honest := signWithTag(r, xs[pi], ring, pi, ristretto255.NewIdentityElement().ScalarMult(xs[pi], signerBase), testScope, testCounter, testMsg)
	if err := Verify(ring, testScope, testCounter, testMsg, honest); err != nil {
		t.Fatalf("signWithTag with the honest tag does not verify: %v", err)
	}
	otherScopeTag := ristretto255.NewIdentityElement().ScalarMult(xs[pi], TagBase("net/2026-11-21", testCounter, ring[pi].Bytes()))
	reordered := slices.Clone(ring)
	reordered[0], reordered[1] = reordered[1], reordered[0]
	short := *p
	short.Responses = p.Responses[:n-1]

	cases := []struct {
		name    string
		ring    []*ristretto255.Element
		scope   string
		counter uint32
		msg     []byte
		proof   *Proof
		want    error
	}{
		{"wrong message", ring, testScope, testCounter, []byte("another block"), p, ErrBadSignature},
		{"message extended", ring, testScope, testCounter, append(slices.Clone(testMsg), 0), p, ErrBadSignature},
		{"wrong scope", ring, "net/2026-11-23", testCounter, testMsg, p, ErrBadSignature},
		{"wrong counter", ring, testScope, testCounter + 1, testMsg, p, ErrBadSignature},
		{"member swapped", withMember(0, strangers[0]), testScope, testCounter, testMsg, p, ErrBadSignature},
		{"last member swapped", withMember(n-1, strangers[0]), testScope, testCounter, testMsg, p, ErrBadSignature},
		{"ring reordered", reordered, testScope, testCounter, testMsg, p, ErrBadSignature},
		{"ring without the signer", withMember(pi, strangers[1]), testScope, testCounter, testMsg, p, ErrBadSignature},
		{"duplicated member", withMember(0, ring[1]), testScope, testCounter, testMsg, p, ErrDuplicateKey},
		{"duplicated signer", withMember(0, ring[pi]), testScope, testCounter, testMsg, p, ErrDuplicateKey},
		{"identity member", withMember(2, ristretto255.NewIdentityElement()), testScope, testCounter, testMsg, p, ErrRingKey},
		{"nil member", withMember(2, nil), testScope, testCounter, testMsg, p, ErrRingKey},
		{"tag of another key", ring, testScope, testCounter, testMsg, withTag(ristretto255.NewIdentityElement().ScalarMult(xs[0], signerBase)), ErrBadSignature},
		{"signed with another key's tag", ring, testScope, testCounter, testMsg,
			signWithTag(r, xs[pi], ring, pi, ristretto255.NewIdentityElement().ScalarMult(xs[0], TagBase(testScope, testCounter, ring[0].Bytes())), testScope, testCounter, testMsg), ErrBadSignature},
		{"signed with a random tag", ring, testScope, testCounter, testMsg, signWithTag(r, xs[pi], ring, pi, strangers[0], testScope, testCounter, testMsg), ErrBadSignature},
		{"signed with the tag of another scope", ring, testScope, testCounter, testMsg, signWithTag(r, xs[pi], ring, pi, otherScopeTag, testScope, testCounter, testMsg), ErrBadSignature},
		{"identity tag", ring, testScope, testCounter, testMsg, withTag(ristretto255.NewIdentityElement()), ErrIdentityTag},
		{"too few responses", ring, testScope, testCounter, testMsg, &short, ErrRingSize},
		{"nil proof", ring, testScope, testCounter, testMsg, nil, ErrMalformedData},
		{"empty scope", ring, "", testCounter, testMsg, p, ErrScope},
		{"scope too long", ring, strings.Repeat("s", MaxScopeSize+1), testCounter, testMsg, p, ErrScope},
		{"empty ring", nil, testScope, testCounter, testMsg, p, ErrRingSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.ring, c.scope, c.counter, c.msg, c.proof)
			if !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestParseProofRefusesNonCanonical(t *testing.T) {
	r := rand.NewChaCha8([32]byte{'n', 'c'})
	const n = 3
	xs, ring := testRing(r, n)
	p, err := Sign(r, xs[1], ring, 1, testScope, testCounter, testMsg)
	if err != nil {
		t.Fatal(err)
	}
	good := p.Bytes()
	if q, err := ParseProof(good, n); err != nil || !bytes.Equal(q.Bytes(), good) {
		t.Fatalf("ParseProof(Bytes()) = %v", err)
	}
	l := unhex(t, "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	replace := func(off int, field []byte) []byte {
		b := bytes.Clone(good)
		copy(b[off:], field)
		return b
	}
	// Every scalar field, set to l, to l + 1 and to 2^256 − 1.
	for f := 0; f <= n; f++ {
		off := ElementSize + f*ScalarSize
		for _, v := range [][]byte{l, unhex(t, "eed3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010"), bytes.Repeat([]byte{0xff}, 32)} {
			if _, err := ParseProof(replace(off, v), n); !errors.Is(err, ErrProofScalar) {
				t.Errorf("scalar field %d = %x: got %v, want ErrProofScalar", f, v, err)
			}
		}
		// The same value reduced is accepted: l − 1 is the largest scalar.
		lm1 := bytes.Clone(l)
		lm1[0]--
		if _, err := ParseProof(replace(off, lm1), n); err != nil {
			t.Errorf("scalar field %d = l−1: %v", f, err)
		}
	}
	// Non-canonical tags: p (unreduced), p + 2, a negative field element,
	// the top bit set on a valid encoding, all ones.
	tagTop := bytes.Clone(good[:32])
	tagTop[31] |= 0x80
	for _, v := range [][]byte{
		unhex(t, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
		unhex(t, "efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
		unhex(t, "0100000000000000000000000000000000000000000000000000000000000000"),
		tagTop,
		bytes.Repeat([]byte{0xff}, 32),
	} {
		if _, err := ParseProof(replace(0, v), n); !errors.Is(err, ErrProofTag) {
			t.Errorf("tag %x: got %v, want ErrProofTag", v, err)
		}
	}
	if _, err := ParseProof(replace(0, make([]byte, 32)), n); !errors.Is(err, ErrIdentityTag) {
		t.Errorf("identity tag: got %v, want ErrIdentityTag", err)
	}
	for i := 0; i < len(good); i++ {
		if _, err := ParseProof(good[:i], n); !errors.Is(err, ErrProofLength) {
			t.Errorf("truncated to %d bytes: got %v", i, err)
		}
	}
	for extra := 1; extra <= 64; extra++ {
		if _, err := ParseProof(append(bytes.Clone(good), make([]byte, extra)...), n); !errors.Is(err, ErrProofLength) {
			t.Errorf("extended by %d bytes: got %v", extra, err)
		}
	}
	for _, size := range []int{n - 1, n + 1} {
		if _, err := ParseProof(good, size); !errors.Is(err, ErrProofLength) {
			t.Errorf("ring size %d: got %v", size, err)
		}
	}
	for _, size := range []int{0, -1, MaxRingSize + 1} {
		if _, err := ParseProof(good, size); !errors.Is(err, ErrRingSize) {
			t.Errorf("ring size %d: got %v", size, err)
		}
	}
}

// TestLinkability shows that one license's tag depends on exactly (scope,
// counter): the same in every ring and for every message under one scope
// and counter, and different (and unrelated to the others) otherwise.
func TestLinkability(t *testing.T) {
	r := rand.NewChaCha8([32]byte{'l', 'n', 'k'})
	xs, keys := testRing(r, 30)
	x, P := xs[0], keys[0]
	tagOf := func(ring []*ristretto255.Element, pi int, scope string, counter uint32, msg string) [ElementSize]byte {
		p, err := Sign(r, x, ring, pi, scope, counter, []byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(ring, scope, counter, []byte(msg), p); err != nil {
			t.Fatal(err)
		}
		return p.TagBytes()
	}
	ringA := []*ristretto255.Element{keys[1], P, keys[2], keys[3]}
	ringB := []*ristretto255.Element{keys[4], keys[5], keys[6], keys[7], keys[8], P}

	t1 := tagOf(ringA, 1, testScope, 0, "block 1")
	t2 := tagOf(ringB, 5, testScope, 0, "block 2")
	if t1 != t2 {
		t.Error("same license, scope and counter: tags differ across rings and messages")
	}
	want := ristretto255.NewIdentityElement().ScalarMult(x, TagBase(testScope, 0, P.Bytes())).Bytes()
	if !bytes.Equal(t1[:], want) {
		t.Error("tag is not x·TagBase(scope, counter, P)")
	}

	// Different counters and scopes: all tags distinct, and distinct from
	// the tags of other licenses.
	seen := map[[ElementSize]byte]string{}
	for _, scope := range []string{testScope, "net/2026-11-23", "other/2026-11-22"} {
		for counter := uint32(0); counter < 5; counter++ {
			tag := tagOf(ringA, 1, scope, counter, "block")
			if prev, ok := seen[tag]; ok {
				t.Errorf("scope %q counter %d: same tag as %s", scope, counter, prev)
			}
			seen[tag] = scope
			other, err := Sign(r, xs[1], ringA, 0, scope, counter, []byte("block"))
			if err != nil {
				t.Fatal(err)
			}
			if other.TagBytes() == tag {
				t.Errorf("two licenses share a tag under %q/%d", scope, counter)
			}
		}
	}
	// Unrelated: the tag under counter 1 is not a small multiple of the tag
	// under counter 0 (which a simple "T_j = f(j)·T_0" design would give).
	T0 := ristretto255.NewIdentityElement().ScalarMult(x, TagBase(testScope, 0, P.Bytes()))
	T1 := ristretto255.NewIdentityElement().ScalarMult(x, TagBase(testScope, 1, P.Bytes()))
	M := ristretto255.NewIdentityElement()
	for k := 1; k <= 1000; k++ {
		M.Add(M, T0)
		if M.Equal(T1) == 1 || ristretto255.NewIdentityElement().Negate(M).Equal(T1) == 1 {
			t.Fatalf("T_1 = ±%d·T_0", k)
		}
	}
}

func TestSignRefuses(t *testing.T) {
	r := rand.NewChaCha8([32]byte{'s', 'r'})
	xs, ring := testRing(r, 4)
	big := make([]*ristretto255.Element, MaxRingSize+1)
	for i := range big {
		big[i] = ring[0]
	}
	cases := []struct {
		name  string
		x     *ristretto255.Scalar
		ring  []*ristretto255.Element
		pi    int
		scope string
		rand  io.Reader
		want  error
	}{
		{"key not at position", xs[1], ring, 0, testScope, r, ErrSigner},
		{"position negative", xs[0], ring, -1, testScope, r, ErrSigner},
		{"position past the ring", xs[0], ring, 4, testScope, r, ErrSigner},
		{"nil secret", nil, ring, 0, testScope, r, ErrSigner},
		{"empty ring", xs[0], nil, 0, testScope, r, ErrRingSize},
		{"ring too large", xs[0], big, 0, testScope, r, ErrRingSize},
		{"duplicate key", xs[0], []*ristretto255.Element{ring[0], ring[1], ring[1]}, 0, testScope, r, ErrDuplicateKey},
		{"identity key", xs[0], []*ristretto255.Element{ring[0], ristretto255.NewIdentityElement()}, 0, testScope, r, ErrRingKey},
		{"empty scope", xs[0], ring, 0, "", r, ErrScope},
		{"long scope", xs[0], ring, 0, strings.Repeat("x", 256), r, ErrScope},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Sign(c.rand, c.x, c.ring, c.pi, c.scope, 0, testMsg); !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}
	if _, err := Sign(bytes.NewReader(make([]byte, 31)), xs[0], ring, 0, testScope, 0, testMsg); err == nil || Code(err) != "" {
		t.Errorf("short random source: got %v, want an internal error", err)
	}
}

// TestSignHedged checks that the nonce depends on the random bytes (two
// signatures differ) and that a broken source that always returns the same
// bytes still gives valid proofs with distinct responses per message.
func TestSignHedged(t *testing.T) {
	r := rand.NewChaCha8([32]byte{'h'})
	xs, ring := testRing(r, 3)
	p1, _ := Sign(r, xs[2], ring, 2, testScope, 0, testMsg)
	p2, _ := Sign(r, xs[2], ring, 2, testScope, 0, testMsg)
	if bytes.Equal(p1.Bytes(), p2.Bytes()) {
		t.Error("two signatures with fresh randomness are equal")
	}
	zeros := func() io.Reader { return bytes.NewReader(make([]byte, 32)) }
	q1, _ := Sign(zeros(), xs[2], ring, 2, testScope, 0, []byte("m1"))
	q2, _ := Sign(zeros(), xs[2], ring, 2, testScope, 0, []byte("m2"))
	if q1.Responses[0].Equal(q2.Responses[0]) == 1 || q1.C0.Equal(q2.C0) == 1 {
		t.Error("with a constant random source, nonces repeat across messages")
	}
	if Verify(ring, testScope, 0, []byte("m1"), q1) != nil || Verify(ring, testScope, 0, []byte("m2"), q2) != nil {
		t.Error("proofs made with a constant random source do not verify")
	}
}
