package ringverify

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
)

func TestLayout(t *testing.T) {
	if !layoutOK {
		t.Fatal("ristretto255.Element is no longer a bare edwards25519.Point; Verify uses the slow fallback")
	}
}

// TestVarTimeDoubleMult checks varTimeDoubleMult against ristretto255's
// VarTimeMultiScalarMult on random and edge-case scalars.
func TestVarTimeDoubleMult(t *testing.T) {
	r := rand.NewChaCha8([32]byte{'m', 's', 'm'})
	zero := ristretto255.NewScalar()
	var minusOne ristretto255.Scalar
	minusOne.Negate(scalarFromUint(1))
	edge := []*ristretto255.Scalar{zero, scalarFromUint(1), scalarFromUint(15), scalarFromUint(16), scalarFromUint(17), &minusOne}
	for i := 0; i < 300; i++ {
		s, c := randomScalar(r), randomScalar(r)
		if i < len(edge)*len(edge) {
			s, c = edge[i%len(edge)], edge[i/len(edge)]
		}
		H := ristretto255.NewIdentityElement().ScalarBaseMult(randomScalar(r))
		T := ristretto255.NewIdentityElement().ScalarBaseMult(randomScalar(r))
		if i == 1 {
			T = ristretto255.NewIdentityElement()
		}
		want := ristretto255.NewIdentityElement().VarTimeMultiScalarMult([]*ristretto255.Scalar{s, c}, []*ristretto255.Element{H, T})
		var tt nafTable
		tt.fromPoint(asPoint(T))
		got := ristretto255.NewIdentityElement()
		varTimeDoubleMult(got, s, H, c, &tt)
		if got.Equal(want) != 1 {
			t.Fatalf("case %d: s=%x c=%x: got %x, want %x", i, s.Bytes(), c.Bytes(), got.Bytes(), want.Bytes())
		}
	}
}

func scalarFromUint(v uint64) *ristretto255.Scalar {
	var b [32]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
	s, err := ristretto255.NewScalar().SetCanonicalBytes(b[:])
	if err != nil {
		panic(err)
	}
	return s
}

func randomScalar(r interface{ Read([]byte) (int, error) }) *ristretto255.Scalar {
	var b [64]byte
	r.Read(b[:])
	s, _ := ristretto255.NewScalar().SetUniformBytes(b[:])
	return s
}

// TestVerifyFallback runs the verification loop that Verify would use if
// ristretto255.Element's layout changed.
func TestVerifyFallback(t *testing.T) {
	r := rand.NewChaCha8([32]byte{'f', 'b'})
	xs, ring := testRing(r, 5)
	p, err := Sign(r, xs[3], ring, 3, "net/x", 1, []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	saved := layoutOK
	layoutOK = false
	defer func() { layoutOK = saved }()
	if err := Verify(ring, "net/x", 1, []byte("m"), p); err != nil {
		t.Errorf("fallback refuses a valid proof: %v", err)
	}
	if err := Verify(ring, "net/x", 2, []byte("m"), p); Code(err) != "signature" {
		t.Errorf("fallback accepts another counter: %v", err)
	}
}

// BenchmarkVerifyPath measures Verifier.Verify with the layout cast
// (path=cast) and with only ristretto255's public API (path=public, the
// fallback loop). Run the two interleaved and compare with benchstat.
func BenchmarkVerifyPath(b *testing.B) {
	for _, path := range []string{"cast", "public"} {
		for _, n := range []int{16, 64} {
			b.Run(fmt.Sprintf("path=%s/ring=%d", path, n), func(b *testing.B) {
				v, idx, p := benchVerifier(b, n)
				saved := layoutOK
				layoutOK = path == "cast"
				defer func() { layoutOK = saved }()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := v.Verify(idx, "net/2026-11-22", 3, []byte("block hash"), p, testNow); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkVerifyCastVsPublic alternates one Verify on each path (in turn
// first, so neither gains from the other's warm caches), timing each
// separately, and reports public/cast: a ratio both halves of which see the
// same machine load, and the median of the pairs' ratios.
func BenchmarkVerifyCastVsPublic(b *testing.B) {
	for _, n := range []int{16, 64} {
		b.Run(fmt.Sprintf("ring=%d", n), func(b *testing.B) {
			v, idx, p := benchVerifier(b, n)
			saved := layoutOK
			defer func() { layoutOK = saved }()
			var took [2]time.Duration // cast, public
			var ratios []float64
			first := 0
			for b.Loop() {
				var pair [2]time.Duration
				for k := range 2 {
					path := (first + k) % 2
					layoutOK = path == 0
					t0 := time.Now()
					if _, err := v.Verify(idx, "net/2026-11-22", 3, []byte("block hash"), p, testNow); err != nil {
						b.Fatal(err)
					}
					pair[path] = time.Since(t0)
				}
				took[0] += pair[0]
				took[1] += pair[1]
				ratios = append(ratios, float64(pair[1])/float64(pair[0]))
				first ^= 1
			}
			slices.Sort(ratios)
			b.ReportMetric(float64(took[0])/float64(b.N), "cast-ns/op")
			b.ReportMetric(float64(took[1])/float64(b.N), "public-ns/op")
			b.ReportMetric(float64(took[1])/float64(took[0]), "public/cast")
			// The median pair ignores the pairs a preemption landed in.
			b.ReportMetric(ratios[len(ratios)/2], "median-public/cast")
		})
	}
}

func benchVerifier(b *testing.B, n int) (*Verifier, []uint64, *Proof) {
	r := rand.NewChaCha8([32]byte{'v', 'p'})
	xs, ring := testRing(r, n)
	p, err := Sign(r, xs[1], ring, 1, "net/2026-11-22", 3, []byte("block hash"))
	if err != nil {
		b.Fatal(err)
	}
	members, idx := ledgerFor(ring)
	v, err := NewVerifier(VerifierConfig{Members: members, MinRingSize: MinAllowedRingSize, MaxRingSize: MaxRingSize})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := v.Verify(idx, "net/2026-11-22", 3, []byte("block hash"), p, testNow); err != nil {
		b.Fatal(err)
	}
	return v, idx, p
}
