package ringverify

import (
	"math/rand/v2"
	"testing"

	"github.com/gtank/ristretto255"
)

func TestSignVerifyRoundTrip(t *testing.T) {
	r := rand.NewChaCha8([32]byte{1})
	for n := 1; n < 6; n++ {
		for pi := 0; pi < n; pi++ {
			var xs []*ristretto255.Scalar
			var ring []*ristretto255.Element
			for i := 0; i < n; i++ {
				var b [64]byte
				r.Read(b[:])
				x, _ := ristretto255.NewScalar().SetUniformBytes(b[:])
				xs = append(xs, x)
				ring = append(ring, ristretto255.NewIdentityElement().ScalarBaseMult(x))
			}
			p, err := Sign(r, xs[pi], ring, pi, "net/1", 3, []byte("hi"))
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(ring, "net/1", 3, []byte("hi"), p); err != nil {
				t.Fatal(n, pi, err)
			}
			if err := Verify(ring, "net/1", 3, []byte("ho"), p); err == nil {
				t.Fatal("bad")
			}
			q, err := ParseProof(p.Bytes(), n)
			if err != nil || Verify(ring, "net/1", 3, []byte("hi"), q) != nil {
				t.Fatal(err)
			}
		}
	}
}
