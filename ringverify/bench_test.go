package ringverify

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
)

var benchSizes = []int{2, 11, 16, 64, 128, 1024}

func BenchmarkSign(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("ring=%d", n), func(b *testing.B) {
			r := rand.NewChaCha8([32]byte{'b', 's'})
			xs, ring := testRing(r, n)
			msg := []byte("block hash")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Sign(r, xs[n/2], ring, n/2, "net/2026-11-22", 3, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify measures Verifier.Verify in its steady state: members
// resolved from memory, tag bases cached. The ring size bounds are opened to
// [2, 1024] so that every size can be measured.
func BenchmarkVerify(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("ring=%d", n), func(b *testing.B) {
			r := rand.NewChaCha8([32]byte{'b', 'v'})
			xs, ring := testRing(r, n)
			msg := []byte("block hash")
			p, err := Sign(r, xs[n/2], ring, n/2, "net/2026-11-22", 3, msg)
			if err != nil {
				b.Fatal(err)
			}
			members, idx := ledgerFor(ring)
			v, err := NewVerifier(VerifierConfig{Members: members, MinRingSize: MinAllowedRingSize, MaxRingSize: MaxRingSize})
			if err != nil {
				b.Fatal(err)
			}
			v.min = 2
			if _, err := v.Verify(idx, "net/2026-11-22", 3, msg, p, testNow); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(idx, "net/2026-11-22", 3, msg, p, testNow); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/member")
		})
	}
}

// BenchmarkVerifyUncached measures the package-level Verify, which computes
// every tag base (a hash-to-group per member) and encodes every key.
func BenchmarkVerifyUncached(b *testing.B) {
	for _, n := range []int{16, 64} {
		b.Run(fmt.Sprintf("ring=%d", n), func(b *testing.B) {
			r := rand.NewChaCha8([32]byte{'b', 'u'})
			xs, ring := testRing(r, n)
			msg := []byte("block hash")
			p, err := Sign(r, xs[0], ring, 0, "net/2026-11-22", 3, msg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := Verify(ring, "net/2026-11-22", 3, msg, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFloor is one ring member's unavoidable verification work with
// ristretto255's own operations: L = c·P + s·G (VarTimeDoubleScalarBaseMult),
// R = s·H + c·T (a 2-point VarTimeMultiScalarMult), and the challenge step
// (restore the prefix state, encode L and R, SHA-512, reduce to a scalar).
func BenchmarkFloor(b *testing.B) {
	r := rand.NewChaCha8([32]byte{'b', 'f'})
	_, keys := testRing(r, 3)
	P, H, T := keys[0], keys[1], keys[2]
	cs := newChallengeState("net/2026-11-22", 3, P.Bytes(), T, []byte("block hash"))
	s, c := randomScalar(r), randomScalar(r)
	var L, R ristretto255.Element
	ss := []*ristretto255.Scalar{s, c}
	pp := []*ristretto255.Element{H, T}
	b.ReportAllocs()
	for b.Loop() {
		L.VarTimeDoubleScalarBaseMult(c, P, s)
		ss[1] = c
		R.VarTimeMultiScalarMult(ss, pp)
		cs.next(c, &L, &R)
	}
}

// BenchmarkFloorOwn is BenchmarkFloor with the two-point multiplication
// Verify really uses (varTimeDoubleMult, with T's table built once per
// proof, outside the loop): the floor of this implementation, against which
// Verify's own overhead per member shows.
func BenchmarkFloorOwn(b *testing.B) {
	r := rand.NewChaCha8([32]byte{'b', 'f'})
	_, keys := testRing(r, 3)
	P, H, T := keys[0], keys[1], keys[2]
	cs := newChallengeState("net/2026-11-22", 3, P.Bytes(), T, []byte("block hash"))
	s, c := randomScalar(r), randomScalar(r)
	var tTable nafTable
	tTable.fromPoint(asPoint(T))
	var L, R ristretto255.Element
	b.ReportAllocs()
	for b.Loop() {
		L.VarTimeDoubleScalarBaseMult(c, P, s)
		varTimeDoubleMult(&R, s, H, c, &tTable)
		cs.next(c, &L, &R)
	}
}

// BenchmarkVerifyVsFloor alternates one Verifier.Verify over a ring of n
// members with n rounds of BenchmarkFloor's work, timing each separately,
// and reports their ratio: a measure of "Verify per member ÷ floor" that
// stays fair when other processes load the machine, since both halves see
// the same load.
func BenchmarkVerifyVsFloor(b *testing.B) {
	for _, n := range []int{16, 64} {
		b.Run(fmt.Sprintf("ring=%d", n), func(b *testing.B) {
			r := rand.NewChaCha8([32]byte{'b', 'r'})
			xs, ring := testRing(r, n)
			msg := []byte("block hash")
			p, err := Sign(r, xs[1], ring, 1, "net/2026-11-22", 3, msg)
			if err != nil {
				b.Fatal(err)
			}
			members, idx := ledgerFor(ring)
			v, err := NewVerifier(VerifierConfig{Members: members, MinRingSize: MinAllowedRingSize, MaxRingSize: MaxRingSize})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := v.Verify(idx, "net/2026-11-22", 3, msg, p, testNow); err != nil {
				b.Fatal(err)
			}
			P, H, T := ring[0], ring[1], ring[2]
			cs := newChallengeState("net/2026-11-22", 3, P.Bytes(), T, msg)
			s, c := randomScalar(r), randomScalar(r)
			var L, R ristretto255.Element
			ss := []*ristretto255.Scalar{s, c}
			pp := []*ristretto255.Element{H, T}
			var verify, floor time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := v.Verify(idx, "net/2026-11-22", 3, msg, p, testNow); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				for range n {
					L.VarTimeDoubleScalarBaseMult(c, P, s)
					ss[1] = c
					R.VarTimeMultiScalarMult(ss, pp)
					cs.next(c, &L, &R)
				}
				verify += t1.Sub(t0)
				floor += time.Since(t1)
			}
			b.ReportMetric(float64(verify)/float64(b.N)/float64(n), "verify-ns/member")
			b.ReportMetric(float64(floor)/float64(b.N)/float64(n), "floor-ns/member")
			b.ReportMetric(float64(verify)/float64(floor), "verify/floor")
		})
	}
}
