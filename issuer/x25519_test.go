package issuer

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"testing"
)

func unhex32(t *testing.T, s string) *[32]byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		t.Fatalf("bad hex %q", s)
	}
	return (*[32]byte)(b)
}

// TestX25519RFC7748 checks the ladder against RFC 7748, section 5.2.
func TestX25519RFC7748(t *testing.T) {
	tests := []struct{ name, scalar, point, out string }{
		{"vector 1",
			"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
			"e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
			"c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"},
		{"vector 2",
			"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
			"e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
			"95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out [32]byte
			if x25519(&out, unhex32(t, tt.scalar), unhex32(t, tt.point)) != 1 {
				t.Fatal("reported low order")
			}
			if hex.EncodeToString(out[:]) != tt.out {
				t.Errorf("got %x, want %s", out, tt.out)
			}
		})
	}
	t.Run("1000 iterations", func(t *testing.T) {
		k := [32]byte{9}
		u := [32]byte{9}
		for range 1000 {
			var out [32]byte
			x25519(&out, &k, &u)
			u, k = k, out
		}
		const want = "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"
		if hex.EncodeToString(k[:]) != want {
			t.Errorf("got %x, want %s", k, want)
		}
	})
}

// TestX25519MatchesECDH checks the ladder against crypto/ecdh on random keys,
// including points with the top bit set, which both must ignore.
func TestX25519MatchesECDH(t *testing.T) {
	r := testRand("x25519")
	for i := range 300 {
		var s, u [32]byte
		r.Read(s[:])
		r.Read(u[:])
		priv, err := ecdh.X25519().NewPrivateKey(s[:])
		if err != nil {
			t.Fatal(err)
		}
		pub, err := ecdh.X25519().NewPublicKey(u[:])
		if err != nil {
			t.Fatal(err)
		}
		want, err := priv.ECDH(pub)
		var got [32]byte
		ok := x25519(&got, &s, &u)
		if (err == nil) != (ok == 1) {
			t.Fatalf("%d: ecdh error %v, ladder ok %d", i, err, ok)
		}
		if err == nil && !bytes.Equal(got[:], want) {
			t.Fatalf("%d: ladder %x, ecdh %x", i, got, want)
		}
	}
}

// lowOrderPoints are the canonical u-coordinates of order dividing 8 on
// Curve25519 and its twist (from libsodium's blocklist, reduced mod p).
var lowOrderPoints = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
}

func TestValidX25519PublicKey(t *testing.T) {
	for i, h := range lowOrderPoints {
		if validX25519PublicKey(unhex32(t, h)) {
			t.Errorf("low-order point %d accepted", i)
		}
		var out [32]byte
		if x25519(&out, &[32]byte{0x42, 0x13}, unhex32(t, h)) != 0 {
			t.Errorf("low-order point %d: ladder did not report zero", i)
		}
	}
	nonCanonical := []string{
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // p+1
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // 2^255-1
		"0900000000000000000000000000000000000000000000000000000000000080", // 9 with the top bit
	}
	for _, h := range nonCanonical {
		if validX25519PublicKey(unhex32(t, h)) {
			t.Errorf("non-canonical %s accepted", h)
		}
	}
	if !validX25519PublicKey(&[32]byte{9}) {
		t.Error("base point rejected")
	}
	edge := unhex32(t, "ebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f") // p-2
	if !canonicalX25519(edge) {
		t.Error("p-2 reported non-canonical")
	}
}
