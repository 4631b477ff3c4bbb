package ringverify

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/gtank/ristretto255"
)

// addVectorSeeds adds the proofs of testdata/vectors.json (valid and
// invalid) to a corpus through add(proof, ringSize).
func addVectorSeeds(f *testing.F, add func(proof []byte, ringSize int)) {
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		f.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(data, &vf); err != nil {
		f.Fatal(err)
	}
	sizes := map[string]int{}
	for _, v := range vf.Valid {
		b, _ := hex.DecodeString(v.Proof)
		add(b, len(v.Ring))
		sizes[v.Name] = len(v.Ring)
	}
	for _, v := range vf.Invalid {
		b, _ := hex.DecodeString(v.Proof)
		add(b, sizes[v.Base])
	}
}

// FuzzParseProof checks that ParseProof accepts exactly the canonical
// encodings: whatever it accepts re-encodes to the same bytes, and whatever
// it refuses carries an error code.
func FuzzParseProof(f *testing.F) {
	addVectorSeeds(f, func(b []byte, n int) { f.Add(b, uint16(n)) })
	f.Add([]byte{}, uint16(0))
	f.Add(make([]byte, ProofSize(1)), uint16(1))
	f.Add(bytes.Repeat([]byte{0xff}, ProofSize(2)), uint16(2))
	f.Fuzz(func(t *testing.T, b []byte, ringSize uint16) {
		p, err := ParseProof(b, int(ringSize))
		if err != nil {
			if Code(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		if !bytes.Equal(p.Bytes(), b) || len(p.Responses) != int(ringSize) {
			t.Fatalf("accepted a non-canonical encoding %x", b)
		}
		if p.Tag.Equal(identity) == 1 {
			t.Fatal("accepted the identity tag")
		}
	})
}

// FuzzVerify feeds arbitrary proofs, messages and counters to Verify over a
// fixed ring whose secret keys the test knows. Verify must not panic, and a
// proof it accepts must carry the tag of one of the ring's licenses for that
// scope and counter (a proof with any other tag would be a forgery).
func FuzzVerify(f *testing.F) {
	r := rand.NewChaCha8([32]byte{'f', 'v'})
	xs, ring := testRing(r, 4)
	for j := uint32(0); j < 3; j++ {
		p, err := Sign(r, xs[j], ring, int(j), testScope, j, testMsg)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(p.Bytes(), testMsg, j)
		b := p.Bytes()
		b[70] ^= 4
		f.Add(b, testMsg, j)
	}
	f.Fuzz(func(t *testing.T, b, msg []byte, counter uint32) {
		p, err := ParseProof(b, len(ring))
		if err != nil {
			return
		}
		if err := Verify(ring, testScope, counter, msg, p); err != nil {
			if Code(err) == "" {
				t.Fatalf("refusal without a code: %v", err)
			}
			return
		}
		for i, x := range xs {
			T := ristretto255.NewIdentityElement().ScalarMult(x, TagBase(testScope, counter, ring[i].Bytes()))
			if T.Equal(p.Tag) == 1 {
				return
			}
		}
		t.Fatalf("accepted a proof whose tag belongs to no ring member: %x", b)
	})
}

// FuzzMemberKey checks the Verifier's decoding of ledger keys: it accepts
// exactly the canonical non-identity encodings, and caches the element they
// encode.
func FuzzMemberKey(f *testing.F) {
	f.Add(make([]byte, 32))
	f.Add(ristretto255.NewGeneratorElement().Bytes())
	f.Add(bytes.Repeat([]byte{0xff}, 32))
	f.Add(unhexF(f, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"))
	c := newBaseCache(8)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) != ElementSize {
			return
		}
		key := [ElementSize]byte(b)
		e, err := c.get(testScope, 1, &key)
		want, werr := ristretto255.NewIdentityElement().SetCanonicalBytes(b)
		if werr != nil || want.Equal(identity) == 1 {
			if Code(err) != "member_key" {
				t.Fatalf("key %x: got %v, want member_key", b, err)
			}
			return
		}
		if err != nil || e.key.Equal(want) != 1 || e.base.Equal(TagBase(testScope, 1, b)) != 1 {
			t.Fatalf("key %x: got %v", b, err)
		}
	})
}

func unhexF(f *testing.F, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
