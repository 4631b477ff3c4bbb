package ringverify

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// TestAccumulated signs and verifies thousands of random cases drawn from a
// seeded ChaCha8 stream (ring sizes 1 to 8, random signer, scope, counter
// and message) and hashes every proof, and the outcome of verifying it
// against a mutated input, into one digest. Any change in the scheme or its
// encodings changes the digest.
func TestAccumulated(t *testing.T) {
	iterations := 2000
	want := "9e78adfb647c117e887511785cde23a3326e3887876f492f830e6f975a46dcb4"
	if testing.Short() {
		iterations = 200
		want = ""
	}
	var seed [32]byte
	copy(seed[:], "ringverify accumulated")
	r := rand.NewChaCha8(seed)
	acc := sha256.New()
	for i := 0; i < iterations; i++ {
		n := 1 + int(r.Uint64()%8)
		pi := int(r.Uint64() % uint64(n))
		xs, ring := testRing(r, n)
		scope := make([]byte, 1+r.Uint64()%40)
		r.Read(scope)
		counter := uint32(r.Uint64())
		msg := make([]byte, r.Uint64()%70)
		r.Read(msg)

		p, err := Sign(r, xs[pi], ring, pi, string(scope), counter, msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(ring, string(scope), counter, msg, p); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		acc.Write(p.Bytes())

		// One mutation per iteration, chosen from the stream.
		var bad error
		switch r.Uint64() % 4 {
		case 0:
			bad = Verify(ring, string(scope), counter+1, msg, p)
		case 1:
			bad = Verify(ring, string(scope), counter, append(msg, 0), p)
		case 2:
			scope[0] ^= 1
			bad = Verify(ring, string(scope), counter, msg, p)
		case 3:
			p.Responses[int(r.Uint64()%uint64(n))].Add(p.Responses[0], scalarFromUint(1))
			bad = Verify(ring, string(scope), counter, msg, p)
		}
		if Code(bad) != "signature" {
			t.Fatalf("iteration %d: mutated proof: %v", i, bad)
		}
		acc.Write(binary.BigEndian.AppendUint32(nil, uint32(i)))
	}
	got := hex.EncodeToString(acc.Sum(nil))
	if want != "" && got != want {
		t.Errorf("accumulated digest %s, want %s", got, want)
	}
}
