package ringverify

import (
	"crypto/sha512"

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
	h := sha512.New()
	h.Write([]byte(label))
	for _, d := range data {
		h.Write(d)
	}
	var buf [64]byte
	s, err := ristretto255.NewScalar().SetUniformBytes(h.Sum(buf[:0]))
	if err != nil {
		panic("ringverify: SetUniformBytes rejected 64 bytes: " + err.Error())
	}
	return s
}

// HashToElement returns Element.FromUniformBytes(SHA-512(label ‖ data[0] ‖ data[1] ‖ ...)).
func HashToElement(label string, data ...[]byte) *ristretto255.Element {
	h := sha512.New()
	h.Write([]byte(label))
	for _, d := range data {
		h.Write(d)
	}
	var buf [64]byte
	e, err := ristretto255.NewIdentityElement().SetUniformBytes(h.Sum(buf[:0]))
	if err != nil {
		panic("ringverify: SetUniformBytes rejected 64 bytes: " + err.Error())
	}
	return e
}
