package ringverify

import (
	"fmt"

	"github.com/gtank/ristretto255"
)

// Sizes of the encodings, in bytes.
const (
	ElementSize = 32 // a canonical ristretto255 element encoding
	ScalarSize  = 32 // a canonical little-endian scalar, below l

	// MaxRingSize is the largest ring Sign and Verify accept.
	MaxRingSize = 1024
	// MaxScopeSize is the largest scope, in bytes.
	MaxScopeSize = 255
)

// ProofSize returns the length of the encoding of a proof over a ring of n
// members: Tag ‖ C0 ‖ Responses[0] ‖ … ‖ Responses[n-1].
func ProofSize(n int) int { return ElementSize + ScalarSize + n*ScalarSize }

// A Proof is a scoped, counted, linkable ring signature (bLSAG). It does not
// name its ring: the verifier supplies the ring, in the same order as the
// signer used, and the proof has one response per member.
type Proof struct {
	// Tag is x·H_π, the linkability tag: equal for every proof one license
	// makes under the same scope and counter, unrelated otherwise.
	Tag *ristretto255.Element
	// C0 is the challenge at ring position 0.
	C0 *ristretto255.Scalar
	// Responses holds s_0 … s_{n-1}.
	Responses []*ristretto255.Scalar
}

// TagBytes returns the 32-byte encoding of the tag, the value a relay records
// to enforce one use per (scope, counter).
func (p *Proof) TagBytes() [ElementSize]byte {
	var t [ElementSize]byte
	copy(t[:], p.Tag.Bytes())
	return t
}

// Bytes returns the canonical encoding of p (see the package documentation).
func (p *Proof) Bytes() []byte {
	b := make([]byte, 0, ProofSize(len(p.Responses)))
	b = append(b, p.Tag.Bytes()...)
	b = append(b, p.C0.Bytes()...)
	for _, s := range p.Responses {
		b = append(b, s.Bytes()...)
	}
	return b
}

// MarshalBinary implements encoding.BinaryMarshaler; it returns p.Bytes().
func (p *Proof) MarshalBinary() ([]byte, error) {
	if p.Tag == nil || p.C0 == nil {
		return nil, ErrMalformedData
	}
	for _, s := range p.Responses {
		if s == nil {
			return nil, ErrMalformedData
		}
	}
	return p.Bytes(), nil
}

// ParseProof decodes a proof over a ring of ringSize members. It accepts only
// the canonical encoding: exactly ProofSize(ringSize) bytes, every scalar
// below l, and a tag that is the canonical encoding of a ristretto255
// element other than the identity. Every other input is refused with an
// error wrapping ErrRingSize, ErrProofLength, ErrProofScalar, ErrProofTag or
// ErrIdentityTag.
func ParseProof(b []byte, ringSize int) (*Proof, error) {
	if ringSize < 1 || ringSize > MaxRingSize {
		return nil, fmt.Errorf("%w: %d members", ErrRingSize, ringSize)
	}
	if len(b) != ProofSize(ringSize) {
		return nil, fmt.Errorf("%w: got %d bytes, want %d", ErrProofLength, len(b), ProofSize(ringSize))
	}
	p := &Proof{Tag: ristretto255.NewIdentityElement()}
	if _, err := p.Tag.SetCanonicalBytes(b[:ElementSize]); err != nil {
		return nil, ErrProofTag
	}
	if p.Tag.Equal(identity) == 1 {
		return nil, ErrIdentityTag
	}
	b = b[ElementSize:]
	// One allocation for all scalars: decoding cost does not grow in
	// allocations with the ring size.
	scalars := make([]ristretto255.Scalar, ringSize+1)
	p.Responses = make([]*ristretto255.Scalar, ringSize)
	for i := range scalars {
		if _, err := scalars[i].SetCanonicalBytes(b[i*ScalarSize : (i+1)*ScalarSize]); err != nil {
			if i == 0 {
				return nil, fmt.Errorf("%w: c0", ErrProofScalar)
			}
			return nil, fmt.Errorf("%w: response %d", ErrProofScalar, i-1)
		}
		if i == 0 {
			p.C0 = &scalars[0]
		} else {
			p.Responses[i-1] = &scalars[i]
		}
	}
	return p, nil
}

var identity = ristretto255.NewIdentityElement()
