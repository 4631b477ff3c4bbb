package ringverify

import (
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"github.com/gtank/ristretto255"
)

// specVerify is the verification algorithm written from the package
// documentation as literally as possible: every challenge hashes the whole
// input again, with the library's general operations.
func specVerify(ring [][]byte, scope string, counter uint32, msg, proof []byte) bool {
	n := len(ring)
	if len(proof) != 64+32*n {
		return false
	}
	T, err := ristretto255.NewIdentityElement().SetCanonicalBytes(proof[:32])
	if err != nil || T.Equal(ristretto255.NewIdentityElement()) == 1 {
		return false
	}
	var prefix []byte
	prefix = binary.BigEndian.AppendUint16(prefix, uint16(len(scope)))
	prefix = append(prefix, scope...)
	prefix = binary.BigEndian.AppendUint32(prefix, counter)
	prefix = binary.BigEndian.AppendUint32(prefix, uint32(n))
	for _, k := range ring {
		prefix = append(prefix, k...)
	}
	prefix = append(prefix, proof[:32]...)
	prefix = binary.BigEndian.AppendUint64(prefix, uint64(len(msg)))
	prefix = append(prefix, msg...)

	c0, err := ristretto255.NewScalar().SetCanonicalBytes(proof[32:64])
	if err != nil {
		return false
	}
	c := ristretto255.NewScalar().Set(c0)
	for i, k := range ring {
		P, err := ristretto255.NewIdentityElement().SetCanonicalBytes(k)
		if err != nil {
			return false
		}
		s, err := ristretto255.NewScalar().SetCanonicalBytes(proof[64+32*i : 96+32*i])
		if err != nil {
			return false
		}
		var hin []byte
		hin = binary.BigEndian.AppendUint16(hin, uint16(len(scope)))
		hin = append(hin, scope...)
		hin = binary.BigEndian.AppendUint32(hin, counter)
		hin = append(hin, k...)
		H := HashToElement("lic/v1/tag", hin)
		sG := ristretto255.NewIdentityElement().ScalarBaseMult(s)
		L := sG.Add(sG, ristretto255.NewIdentityElement().ScalarMult(c, P))
		sH := ristretto255.NewIdentityElement().ScalarMult(s, H)
		R := sH.Add(sH, ristretto255.NewIdentityElement().ScalarMult(c, T))
		c = HashToScalar("lic/v1/challenge", prefix, L.Bytes(), R.Bytes())
	}
	return c.Equal(c0) == 1
}

// TestSpecification checks the valid vectors against specVerify, and that
// their decoy responses are the documented hedged nonces.
func TestSpecification(t *testing.T) {
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(data, &vf); err != nil {
		t.Fatal(err)
	}
	for _, v := range vf.Valid {
		var ring [][]byte
		for _, k := range v.Ring {
			ring = append(ring, unhex(t, k))
		}
		msg, proof := unhex(t, v.Message), unhex(t, v.Proof)
		if !specVerify(ring, v.Scope, v.Counter, msg, proof) {
			t.Errorf("%s: the documented verification refuses the proof", v.Name)
		}
		if specVerify(ring, v.Scope, v.Counter^1, msg, proof) {
			t.Errorf("%s: the documented verification accepts another counter", v.Name)
		}

		// D = SHA-512(prefix), r_i = Hs("lic/v1/nonce", x ‖ Z ‖ D ‖ u32(i)).
		var prefix []byte
		prefix = append(prefix, "lic/v1/challenge"...)
		prefix = binary.BigEndian.AppendUint16(prefix, uint16(len(v.Scope)))
		prefix = append(prefix, v.Scope...)
		prefix = binary.BigEndian.AppendUint32(prefix, v.Counter)
		prefix = binary.BigEndian.AppendUint32(prefix, uint32(len(ring)))
		for _, k := range ring {
			prefix = append(prefix, k...)
		}
		prefix = append(prefix, proof[:32]...)
		prefix = binary.BigEndian.AppendUint64(prefix, uint64(len(msg)))
		prefix = append(prefix, msg...)
		d := sha512.Sum512(prefix)
		for i := range ring {
			if i == v.Signer {
				continue
			}
			r := HashToScalar("lic/v1/nonce", unhex(t, v.Secret), unhex(t, v.Random), d[:], binary.BigEndian.AppendUint32(nil, uint32(i)))
			if got := hex.EncodeToString(proof[64+32*i : 96+32*i]); got != hex.EncodeToString(r.Bytes()) {
				t.Errorf("%s: s_%d is not the documented nonce r_%d", v.Name, i, i)
			}
		}
	}
}
