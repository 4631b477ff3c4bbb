package ringverify

import (
	"bytes"
	"crypto/sha512"
	"crypto/subtle"
	"encoding"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"slices"

	"github.com/gtank/ristretto255"
)

// TagBase returns H = Hp("lic/v1/tag", u16(len(scope)) ‖ scope ‖ u32(counter) ‖ P),
// the tag base of the ring member whose key encodes to key (32 bytes).
// Integers are big-endian. It is public data: a license with secret x makes
// the tag x·TagBase(scope, counter, x·G). It panics if scope is longer than
// MaxScopeSize bytes.
func TagBase(scope string, counter uint32, key []byte) *ristretto255.Element {
	if len(scope) > MaxScopeSize {
		panic("ringverify: TagBase scope longer than MaxScopeSize")
	}
	var b [len(LabelTag) + 2 + MaxScopeSize + 4 + ElementSize]byte
	in := append(b[:0], LabelTag...)
	in = binary.BigEndian.AppendUint16(in, uint16(len(scope)))
	in = append(in, scope...)
	in = binary.BigEndian.AppendUint32(in, counter)
	in = append(in, key...)
	sum := sha512.Sum512(in)
	e, err := ristretto255.NewIdentityElement().SetUniformBytes(sum[:])
	if err != nil {
		panic("ringverify: SetUniformBytes rejected 64 bytes: " + err.Error())
	}
	return e
}

func checkScope(scope string) error {
	if len(scope) < 1 || len(scope) > MaxScopeSize {
		return fmt.Errorf("%w: got %d bytes", ErrScope, len(scope))
	}
	return nil
}

// encodeRing checks that every key is present, not the identity, and
// distinct, and returns the concatenation of their encodings.
func encodeRing(ring []*ristretto255.Element) ([]byte, error) {
	if len(ring) < 1 || len(ring) > MaxRingSize {
		return nil, fmt.Errorf("%w: %d members", ErrRingSize, len(ring))
	}
	enc := make([]byte, 0, len(ring)*ElementSize)
	for i, P := range ring {
		if P == nil || P.Equal(identity) == 1 {
			return nil, fmt.Errorf("%w: member %d", ErrRingKey, i)
		}
		enc = append(enc, P.Bytes()...)
	}
	if err := checkDistinct(enc); err != nil {
		return nil, err
	}
	return enc, nil
}

// checkDistinct refuses a ring whose concatenated key encodings repeat a key.
// Encodings are canonical, so equal elements have equal encodings.
func checkDistinct(enc []byte) error {
	n := len(enc) / ElementSize
	keys := make([][ElementSize]byte, n)
	for i := range keys {
		copy(keys[i][:], enc[i*ElementSize:])
	}
	slices.SortFunc(keys, func(a, b [ElementSize]byte) int { return bytes.Compare(a[:], b[:]) })
	for i := 1; i < n; i++ {
		if keys[i] == keys[i-1] {
			return ErrDuplicateKey
		}
	}
	return nil
}

// challengeState holds SHA-512 after absorbing the common challenge prefix
//
//	"lic/v1/challenge" ‖ u16(len(scope)) ‖ scope ‖ u32(counter) ‖ u32(n) ‖
//	P_0 ‖ … ‖ P_{n-1} ‖ T ‖ u64(len(msg)) ‖ msg
//
// so that each ring step hashes only L_i ‖ R_i: the state is restored from
// its marshaled form instead of re-hashing every key at every step.
type challengeState struct {
	h     hash.Hash
	saved []byte
	// Scratch space, here rather than on the stack because it is passed
	// through the hash.Hash interface and would escape.
	lr  [2 * ElementSize]byte
	sum [64]byte
}

func newChallengeState(scope string, counter uint32, ringEnc []byte, tag *ristretto255.Element, msg []byte) *challengeState {
	h := sha512.New()
	var b [len(LabelChallenge) + 2 + MaxScopeSize + 4 + 4]byte
	in := append(b[:0], LabelChallenge...)
	in = binary.BigEndian.AppendUint16(in, uint16(len(scope)))
	in = append(in, scope...)
	in = binary.BigEndian.AppendUint32(in, counter)
	in = binary.BigEndian.AppendUint32(in, uint32(len(ringEnc)/ElementSize))
	h.Write(in)
	h.Write(ringEnc)
	var t [ElementSize + 8]byte
	copy(t[:], tag.Bytes())
	binary.BigEndian.PutUint64(t[ElementSize:], uint64(len(msg)))
	h.Write(t[:])
	h.Write(msg)
	saved, err := h.(encoding.BinaryAppender).AppendBinary(make([]byte, 0, 256))
	if err != nil {
		panic("ringverify: cannot marshal SHA-512 state: " + err.Error())
	}
	return &challengeState{h: h, saved: saved}
}

// prefixDigest returns SHA-512 of the prefix alone (used by the nonce).
func (cs *challengeState) prefixDigest(out *[64]byte) {
	cs.restore()
	cs.h.Sum(out[:0])
}

func (cs *challengeState) restore() {
	if err := cs.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(cs.saved); err != nil {
		panic("ringverify: cannot restore SHA-512 state: " + err.Error())
	}
}

// next sets c = Hs(prefix ‖ L ‖ R).
func (cs *challengeState) next(c *ristretto255.Scalar, L, R *ristretto255.Element) {
	cs.restore()
	copy(cs.lr[:ElementSize], L.Bytes())
	copy(cs.lr[ElementSize:], R.Bytes())
	cs.h.Write(cs.lr[:])
	if _, err := c.SetUniformBytes(cs.h.Sum(cs.sum[:0])); err != nil {
		panic("ringverify: SetUniformBytes rejected 64 bytes: " + err.Error())
	}
}

// Sign makes a proof that the holder of one of the keys in ring, the one at
// position pi with secret x (ring[pi] = x·G), signs msg under scope and
// counter. rand supplies 32 bytes that hedge the nonce; the nonce stays
// secret even if rand is broken, as long as x is.
//
// The secret inputs are x and pi. Sign is constant time in x; its running
// time does not depend on pi either, but the order in which it visits ring
// positions does (it starts at pi+1), which an attacker sharing the CPU cache
// could observe. See the package documentation.
func Sign(rand io.Reader, x *ristretto255.Scalar, ring []*ristretto255.Element, pi int, scope string, counter uint32, msg []byte) (*Proof, error) {
	if err := checkScope(scope); err != nil {
		return nil, err
	}
	ringEnc, err := encodeRing(ring)
	if err != nil {
		return nil, err
	}
	n := len(ring)
	if pi < 0 || pi >= n || x == nil {
		return nil, ErrSigner
	}
	if ristretto255.NewIdentityElement().ScalarBaseMult(x).Equal(ring[pi]) != 1 {
		return nil, ErrSigner
	}
	bases := make([]*ristretto255.Element, n)
	for i := range bases {
		bases[i] = TagBase(scope, counter, ringEnc[i*ElementSize:(i+1)*ElementSize])
	}
	tag := ristretto255.NewIdentityElement().ScalarMult(x, bases[pi])
	cs := newChallengeState(scope, counter, ringEnc, tag, msg)

	// Hedged nonces: r_i = Hs("lic/v1/nonce" ‖ x ‖ Z ‖ D ‖ u32(i)), with Z
	// fresh randomness and D = SHA-512(challenge prefix). r_pi is the nonce
	// alpha; the others are the decoy responses.
	var z [32]byte
	if _, err := io.ReadFull(rand, z[:]); err != nil {
		return nil, fmt.Errorf("ringverify: couldn't read randomness: %w", err)
	}
	var d [64]byte
	cs.prefixDigest(&d)
	xb := x.Bytes()
	responses := make([]*ristretto255.Scalar, n)
	for i := range responses {
		var ib [4]byte
		binary.BigEndian.PutUint32(ib[:], uint32(i))
		responses[i] = HashToScalar(LabelNonce, xb, z[:], d[:], ib[:])
	}
	clear(xb)
	alpha := ristretto255.NewScalar().Set(responses[pi])

	// Walk the ring from pi. Step 0 is the signer's (s = alpha, c = 0), the
	// others use the decoy response and the running challenge; every step
	// runs the same constant-time operations.
	p := &Proof{Tag: tag, Responses: responses}
	c := ristretto255.NewScalar()
	L, R, tmp := ristretto255.NewIdentityElement(), ristretto255.NewIdentityElement(), ristretto255.NewIdentityElement()
	var c0 [ScalarSize]byte
	for k := 0; k < n; k++ {
		// i = (pi + k) mod n, and c_0 captured, without branching on pi.
		i := pi + k
		i -= n & ((n - 1 - i) >> 63)
		L.ScalarBaseMult(responses[i])
		L.Add(L, tmp.ScalarMult(c, ring[i]))
		R.MultiScalarMult([]*ristretto255.Scalar{responses[i], c}, []*ristretto255.Element{bases[i], tag})
		cs.next(c, L, R)
		subtle.ConstantTimeCopy(subtle.ConstantTimeEq(int32(i+1), int32(n)), c0[:], c.Bytes())
	}
	p.C0, err = ristretto255.NewScalar().SetCanonicalBytes(c0[:])
	if err != nil {
		panic("ringverify: challenge is not canonical: " + err.Error())
	}
	// Now c = c_pi. s_pi = alpha − c_pi·x.
	responses[pi].Subtract(alpha, c.Multiply(c, x))
	alpha.Zero()
	return p, nil
}

// Verify checks p against ring (in the signer's order), scope, counter and
// msg. It returns nil if the proof is valid, or an error wrapping
// ErrBadSignature, ErrRingSize, ErrRingKey, ErrDuplicateKey, ErrScope,
// ErrIdentityTag or ErrMalformedData.
//
// Verify computes every tag base afresh; a Verifier caches them. It runs in
// variable time: all its inputs are public.
func Verify(ring []*ristretto255.Element, scope string, counter uint32, msg []byte, p *Proof) error {
	if err := checkScope(scope); err != nil {
		return err
	}
	ringEnc, err := encodeRing(ring)
	if err != nil {
		return err
	}
	bases := make([]*ristretto255.Element, len(ring))
	for i := range bases {
		bases[i] = TagBase(scope, counter, ringEnc[i*ElementSize:(i+1)*ElementSize])
	}
	return verifyVarTime(ring, ringEnc, bases, scope, counter, msg, p)
}

// verifyVarTime runs the bLSAG verification equations over a checked ring
// (keys non-identity and distinct, ringEnc their encodings, bases their tag
// bases).
func verifyVarTime(ring []*ristretto255.Element, ringEnc []byte, bases []*ristretto255.Element, scope string, counter uint32, msg []byte, p *Proof) error {
	if p == nil || p.Tag == nil || p.C0 == nil {
		return ErrMalformedData
	}
	if len(p.Responses) != len(ring) {
		return fmt.Errorf("%w: proof has %d responses for %d members", ErrRingSize, len(p.Responses), len(ring))
	}
	for _, s := range p.Responses {
		if s == nil {
			return ErrMalformedData
		}
	}
	if p.Tag.Equal(identity) == 1 {
		return ErrIdentityTag
	}
	cs := newChallengeState(scope, counter, ringEnc, p.Tag, msg)
	var c ristretto255.Scalar
	c.Set(p.C0)
	var L, R ristretto255.Element
	if !layoutOK {
		return verifyLoopFallback(ring, bases, p, cs, &c)
	}
	var tTable nafTable
	tTable.fromPoint(asPoint(p.Tag))
	for i, P := range ring {
		// L_i = s_i·G + c_i·P_i, R_i = s_i·H_i + c_i·T.
		L.VarTimeDoubleScalarBaseMult(&c, P, p.Responses[i])
		varTimeDoubleMult(&R, p.Responses[i], bases[i], &c, &tTable)
		cs.next(&c, &L, &R)
	}
	if c.Equal(p.C0) != 1 {
		return ErrBadSignature
	}
	return nil
}

// verifyLoopFallback is the verification loop on ristretto255's own
// VarTimeMultiScalarMult, used only if layoutOK is false.
func verifyLoopFallback(ring []*ristretto255.Element, bases []*ristretto255.Element, p *Proof, cs *challengeState, c *ristretto255.Scalar) error {
	var L, R ristretto255.Element
	ss := make([]*ristretto255.Scalar, 2)
	pp := make([]*ristretto255.Element, 2)
	for i, P := range ring {
		L.VarTimeDoubleScalarBaseMult(c, P, p.Responses[i])
		ss[0], ss[1] = p.Responses[i], c
		pp[0], pp[1] = bases[i], p.Tag
		R.VarTimeMultiScalarMult(ss, pp)
		cs.next(c, &L, &R)
	}
	if c.Equal(p.C0) != 1 {
		return ErrBadSignature
	}
	return nil
}
