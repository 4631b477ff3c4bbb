package ringverify

import (
	"encoding/binary"
	"unsafe"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
	"github.com/gtank/ristretto255"
)

// This file holds varTimeDoubleMult, a variable-time s·H + c·T for Verify.
// ristretto255's VarTimeMultiScalarMult computes the same, but allocates its
// lookup tables on the heap at every call, two allocations per ring member;
// this version keeps them on the stack and builds T's table once per proof
// instead of once per member. The formulas and the width-5 NAF are those of
// filippo.io/edwards25519 (extended twisted Edwards coordinates, "HWCD08"
// additions), written here against its public field package.
//
// A ristretto255.Element is a struct holding exactly one edwards25519.Point
// (a representative of the ristretto coset) in v0.2.0, which go.mod pins.
// asPoint relies on that layout; layoutOK checks it at start-up, and if it
// ever fails Verify falls back to VarTimeMultiScalarMult.
//
// Why keep a cast into another package's private layout: it pays, in time
// as well as memory. Measured with go1.26.8 on a 2-core machine under load
// from other processes, BenchmarkVerifyCastVsPublic (each iteration one
// Verifier.Verify on each path, in alternating order; the median of the
// pairs' public/cast ratios, 6 runs, benchstat) gives 1.038 ± 1% at ring 16
// and 1.029 ± 0% at ring 64 (an earlier run of 8 under heavier load: 1.036 ±
// 1% and 1.070 ± 8%): the public API alone is 3% to 4% slower.
// BenchmarkVerifyPath (the paths run one after the other, interleaved 6
// times) is too noisy on a loaded machine to resolve that (± 26% to 87%
// there), but shows the memory: 9 allocations (2.0 KiB) per Verify at ring
// 16 and 9 (6.2 KiB) at ring 64 here, against 41 (52 KiB) and 137 (206 KiB)
// on the public API, 2 allocations and 3.1 KiB more per member. If a ristretto255
// release changes the layout, or offers an allocation-free two-point
// multiplication, measure again and drop this file if it no longer pays.

var layoutOK = func() bool {
	if unsafe.Sizeof(ristretto255.Element{}) != unsafe.Sizeof(edwards25519.Point{}) {
		return false
	}
	g := ristretto255.NewGeneratorElement()
	if asPoint(g).Equal(edwards25519.NewGeneratorPoint()) != 1 {
		return false
	}
	two := ristretto255.NewIdentityElement().Add(g, g)
	return asPoint(two).Equal(edwards25519.NewIdentityPoint().Add(edwards25519.NewGeneratorPoint(), edwards25519.NewGeneratorPoint())) == 1
}()

func asPoint(e *ristretto255.Element) *edwards25519.Point {
	return (*edwards25519.Point)(unsafe.Pointer(e))
}

var d2 = func() *field.Element {
	// d = -121665/121666, the Edwards curve constant.
	d, err := new(field.Element).SetBytes([]byte{
		0xa3, 0x78, 0x59, 0x13, 0xca, 0x4d, 0xeb, 0x75,
		0xab, 0xd8, 0x41, 0x41, 0x4d, 0x0a, 0x70, 0x00,
		0x98, 0xe8, 0x79, 0x77, 0x79, 0x40, 0xc7, 0x8c,
		0x73, 0xfe, 0x6f, 0x2b, 0xee, 0x6c, 0x03, 0x52})
	if err != nil {
		panic(err)
	}
	return new(field.Element).Add(d, d)
}()

type p3 struct{ X, Y, Z, T field.Element }
type p2 struct{ X, Y, Z field.Element }
type p1xp1 struct{ X, Y, Z, T field.Element }
type cached struct{ YplusX, YminusX, Z, T2d field.Element }

// nafTable holds P, 3P, 5P, …, 15P.
type nafTable [8]cached

func (v *p3) fromPoint(p *edwards25519.Point) {
	X, Y, Z, T := p.ExtendedCoordinates()
	v.X.Set(X)
	v.Y.Set(Y)
	v.Z.Set(Z)
	v.T.Set(T)
}

func (v *p3) fromP1xP1(p *p1xp1) {
	v.X.Multiply(&p.X, &p.T)
	v.Y.Multiply(&p.Y, &p.Z)
	v.Z.Multiply(&p.Z, &p.T)
	v.T.Multiply(&p.X, &p.Y)
}

func (v *p2) fromP1xP1(p *p1xp1) {
	v.X.Multiply(&p.X, &p.T)
	v.Y.Multiply(&p.Y, &p.Z)
	v.Z.Multiply(&p.Z, &p.T)
}

func (v *cached) fromP3(p *p3) {
	v.YplusX.Add(&p.Y, &p.X)
	v.YminusX.Subtract(&p.Y, &p.X)
	v.Z.Set(&p.Z)
	v.T2d.Multiply(&p.T, d2)
}

func (v *p1xp1) add(p *p3, q *cached) {
	var YplusX, YminusX, PP, MM, TT2d, ZZ2 field.Element
	YplusX.Add(&p.Y, &p.X)
	YminusX.Subtract(&p.Y, &p.X)
	PP.Multiply(&YplusX, &q.YplusX)
	MM.Multiply(&YminusX, &q.YminusX)
	TT2d.Multiply(&p.T, &q.T2d)
	ZZ2.Multiply(&p.Z, &q.Z)
	ZZ2.Add(&ZZ2, &ZZ2)
	v.X.Subtract(&PP, &MM)
	v.Y.Add(&PP, &MM)
	v.Z.Add(&ZZ2, &TT2d)
	v.T.Subtract(&ZZ2, &TT2d)
}

func (v *p1xp1) sub(p *p3, q *cached) {
	var YplusX, YminusX, PP, MM, TT2d, ZZ2 field.Element
	YplusX.Add(&p.Y, &p.X)
	YminusX.Subtract(&p.Y, &p.X)
	PP.Multiply(&YplusX, &q.YminusX)
	MM.Multiply(&YminusX, &q.YplusX)
	TT2d.Multiply(&p.T, &q.T2d)
	ZZ2.Multiply(&p.Z, &q.Z)
	ZZ2.Add(&ZZ2, &ZZ2)
	v.X.Subtract(&PP, &MM)
	v.Y.Add(&PP, &MM)
	v.Z.Subtract(&ZZ2, &TT2d)
	v.T.Add(&ZZ2, &TT2d)
}

func (v *p1xp1) double(p *p2) {
	var XX, YY, ZZ2, XplusYsq field.Element
	XX.Square(&p.X)
	YY.Square(&p.Y)
	ZZ2.Square(&p.Z)
	ZZ2.Add(&ZZ2, &ZZ2)
	XplusYsq.Add(&p.X, &p.Y)
	XplusYsq.Square(&XplusYsq)
	v.Y.Add(&YY, &XX)
	v.Z.Subtract(&YY, &XX)
	v.X.Subtract(&XplusYsq, &v.Y)
	v.T.Subtract(&ZZ2, &v.Z)
}

func (t *nafTable) fromPoint(p *edwards25519.Point) {
	var q, q2, tmp p3
	var r p1xp1
	q.fromPoint(p)
	t[0].fromP3(&q)
	r.add(&q, &t[0])
	q2.fromP1xP1(&r)
	for i := 0; i < 7; i++ {
		r.add(&q2, &t[i])
		tmp.fromP1xP1(&r)
		t[i+1].fromP3(&tmp)
	}
}

// nonAdjacentForm5 returns the width-5 NAF of the canonical scalar encoding
// b (as in filippo.io/edwards25519): odd digits in (−16, 16), nonzero digits
// at least 5 apart.
func nonAdjacentForm5(b *[32]byte) (naf [256]int8) {
	const w = 5
	var digits [5]uint64
	for i := 0; i < 4; i++ {
		digits[i] = binary.LittleEndian.Uint64(b[i*8:])
	}
	const width = 1 << w
	const windowMask = width - 1
	pos := uint(0)
	carry := uint64(0)
	for pos < 256 {
		indexU64 := pos / 64
		indexBit := pos % 64
		var bitBuf uint64
		if indexBit < 64-w {
			bitBuf = digits[indexU64] >> indexBit
		} else {
			bitBuf = (digits[indexU64] >> indexBit) | (digits[1+indexU64] << (64 - indexBit))
		}
		window := carry + (bitBuf & windowMask)
		if window&1 == 0 {
			pos++
			continue
		}
		if window < width/2 {
			carry = 0
			naf[pos] = int8(window)
		} else {
			carry = 1
			naf[pos] = int8(window) - int8(width)
		}
		pos += w
	}
	return naf
}

// varTimeDoubleMult sets out = s·H + c·T, where tTable is the NAF table of
// T. It runs in variable time and does not allocate.
func varTimeDoubleMult(out *ristretto255.Element, s *ristretto255.Scalar, H *ristretto255.Element, c *ristretto255.Scalar, tTable *nafTable) {
	var hTable nafTable
	hTable.fromPoint(asPoint(H))
	var sb, cb [32]byte
	copy(sb[:], s.Bytes())
	copy(cb[:], c.Bytes())
	sNaf := nonAdjacentForm5(&sb)
	cNaf := nonAdjacentForm5(&cb)

	i := 255
	for ; i >= 0; i-- {
		if sNaf[i] != 0 || cNaf[i] != 0 {
			break
		}
	}
	var acc p2
	acc.Y.One()
	acc.Z.One()
	var r p1xp1
	var v p3
	for ; i >= 0; i-- {
		r.double(&acc)
		if d := sNaf[i]; d > 0 {
			v.fromP1xP1(&r)
			r.add(&v, &hTable[d/2])
		} else if d < 0 {
			v.fromP1xP1(&r)
			r.sub(&v, &hTable[-d/2])
		}
		if d := cNaf[i]; d > 0 {
			v.fromP1xP1(&r)
			r.add(&v, &tTable[d/2])
		} else if d < 0 {
			v.fromP1xP1(&r)
			r.sub(&v, &tTable[-d/2])
		}
		acc.fromP1xP1(&r)
	}
	// Back to extended coordinates: (XZ : YZ : Z² : XY).
	var X, Y, Z, T field.Element
	X.Multiply(&acc.X, &acc.Z)
	Y.Multiply(&acc.Y, &acc.Z)
	Z.Square(&acc.Z)
	T.Multiply(&acc.X, &acc.Y)
	if _, err := asPoint(out).SetExtendedCoordinates(&X, &Y, &Z, &T); err != nil {
		panic("ringverify: varTimeDoubleMult left the curve")
	}
}
