package issuer

import (
	"crypto/subtle"

	"filippo.io/edwards25519/field"
)

// x25519 computes X25519(scalar, point) (RFC 7748, section 5) into dst
// without allocating, and returns 0 if the result is the all-zero value, that
// is if point is of low order, and 1 otherwise.
//
// It is the Montgomery ladder of crypto/ecdh (Go's x25519ScalarMult, BSD
// licence) over filippo.io/edwards25519/field, the upstream of the field
// package crypto/ecdh uses: crypto/ecdh needs a *PublicKey per input, which
// costs three allocations per scanned output. TestX25519 checks it against
// crypto/ecdh and the RFC 7748 vectors. It is constant time in scalar and
// point.
func x25519(dst, scalar, point *[32]byte) int {
	var e [32]byte
	copy(e[:], scalar[:])
	e[0] &= 248
	e[31] &= 127
	e[31] |= 64

	var x1, x2, z2, x3, z3, tmp0, tmp1 field.Element
	if _, err := x1.SetBytes(point[:]); err != nil {
		panic("issuer: field.SetBytes rejected 32 bytes")
	}
	x2.One()
	x3.Set(&x1)
	z3.One()

	swap := 0
	for pos := 254; pos >= 0; pos-- {
		b := e[pos/8] >> uint(pos&7)
		b &= 1
		swap ^= int(b)
		x2.Swap(&x3, swap)
		z2.Swap(&z3, swap)
		swap = int(b)

		tmp0.Subtract(&x3, &z3)
		tmp1.Subtract(&x2, &z2)
		x2.Add(&x2, &z2)
		z2.Add(&x3, &z3)
		z3.Multiply(&tmp0, &x2)
		z2.Multiply(&z2, &tmp1)
		tmp0.Square(&tmp1)
		tmp1.Square(&x2)
		x3.Add(&z3, &z2)
		z2.Subtract(&z3, &z2)
		x2.Multiply(&tmp1, &tmp0)
		tmp1.Subtract(&tmp1, &tmp0)
		z2.Square(&z2)

		z3.Mult32(&tmp1, 121666)
		x3.Square(&x3)
		tmp0.Add(&tmp0, &z3)
		z3.Multiply(&x1, &z2)
		z2.Multiply(&tmp1, &tmp0)
	}

	x2.Swap(&x3, swap)
	z2.Swap(&z3, swap)

	z2.Invert(&z2)
	x2.Multiply(&x2, &z2)
	copy(dst[:], x2.Bytes())
	var zero [32]byte
	return 1 - subtle.ConstantTimeCompare(dst[:], zero[:])
}

// fieldPrime is 2^255 - 19, little-endian.
var fieldPrime = [32]byte{
	0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
}

// canonicalX25519 reports whether u is the canonical encoding of a field
// element: the top bit is clear and the little-endian value is below 2^255-19.
// X25519 itself ignores the top bit and reduces, so without this check 19
// values would have two encodings. It is variable time; it is only used on
// public keys.
func canonicalX25519(u *[32]byte) bool {
	for i := 31; i >= 0; i-- {
		if u[i] != fieldPrime[i] {
			return u[i] < fieldPrime[i]
		}
	}
	return false // u == p
}

// lowOrderCheckScalar is any scalar: clamping makes every X25519 scalar a
// multiple of the cofactor 8, so X25519(s, u) is all zero exactly when u has
// order dividing 8, on the curve or on its twist.
var lowOrderCheckScalar = [32]byte{1}

// validX25519PublicKey reports whether u is a canonical X25519 public key of
// large order. Variable time; public keys only.
func validX25519PublicKey(u *[32]byte) bool {
	if !canonicalX25519(u) {
		return false
	}
	var out [32]byte
	return x25519(&out, &lowOrderCheckScalar, u) == 1
}
