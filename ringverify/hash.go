package ringverify

import (
	"crypto/sha512"
	"io"

	"github.com/gtank/ristretto255"
)

// Hash labels. Every hash in the protocol is SHA-512 over a label followed by
// the data; the labels are listed with their purpose in the package
// documentation. No label is a prefix of another (TestLabelsPrefixFree), so
// label‖data is unambiguous as long as the data of each purpose is itself an
// injective encoding.
const (
	LabelTag       = "lic/v1/tag"       // tag base H_i = Hp(s ‖ j ‖ P_i)
	LabelChallenge = "lic/v1/challenge" // bLSAG challenge
	LabelNonce     = "lic/v1/nonce"     // hedged signing nonce
	LabelViewTag   = "lic/v1/viewtag"   // 1-byte view tag of a license output
	LabelOneTime   = "lic/v1/onetime"   // one-time scalar k of a license output
	LabelSeal      = "lic/v1/seal"      // AEAD key of a license payload
	LabelSpendKey  = "lic/v1/spendkey"  // spend key from a seed
	LabelViewKey   = "lic/v1/viewkey"   // view key from a seed
)

// HashToScalar returns Scalar.SetUniformBytes(SHA-512(label ‖ data[0] ‖ data[1] ‖ ...)).
func HashToScalar(label string, data ...[]byte) *ristretto255.Scalar {
	var sum [64]byte
	hashInto(&sum, label, data)
	s, err := ristretto255.NewScalar().SetUniformBytes(sum[:])
	if err != nil {
		panic("ringverify: SetUniformBytes rejected 64 bytes: " + err.Error())
	}
	clear(sum[:])
	return s
}

// HashToElement returns Element.SetUniformBytes(SHA-512(label ‖ data[0] ‖ data[1] ‖ ...)).
func HashToElement(label string, data ...[]byte) *ristretto255.Element {
	var sum [64]byte
	hashInto(&sum, label, data)
	e, err := ristretto255.NewIdentityElement().SetUniformBytes(sum[:])
	if err != nil {
		panic("ringverify: SetUniformBytes rejected 64 bytes: " + err.Error())
	}
	return e
}

// hashInto sets sum = SHA-512(label ‖ data...). Short inputs, which are all
// of the protocol's but the challenge, are gathered on the stack and hashed
// with sha512.Sum512, without allocating; the copy is wiped, since the
// nonce input contains the secret key.
func hashInto(sum *[64]byte, label string, data [][]byte) {
	n := len(label)
	for _, d := range data {
		n += len(d)
	}
	var buf [512]byte
	if n > len(buf) {
		h := sha512.New()
		io.WriteString(h, label)
		for _, d := range data {
			h.Write(d)
		}
		h.Sum(sum[:0])
		return
	}
	in := append(buf[:0], label...)
	for _, d := range data {
		in = append(in, d...)
	}
	*sum = sha512.Sum512(in)
	clear(buf[:n])
}
