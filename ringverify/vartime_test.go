package ringverify

import (
	"math/rand/v2"
	"testing"

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
