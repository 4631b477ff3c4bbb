package ringverify

import (
	"fmt"
	"io"
	"time"

	"github.com/gtank/ristretto255"
)

// testRing returns n fresh key pairs drawn from r.
func testRing(r io.Reader, n int) ([]*ristretto255.Scalar, []*ristretto255.Element) {
	xs := make([]*ristretto255.Scalar, n)
	ring := make([]*ristretto255.Element, n)
	for i := range xs {
		xs[i] = randomScalar(r)
		ring[i] = ristretto255.NewIdentityElement().ScalarBaseMult(xs[i])
	}
	return xs, ring
}

// memMembers is an in-memory Members.
type memMembers map[uint64]Member

func (m memMembers) Member(index uint64) (Member, error) {
	e, ok := m[index]
	if !ok {
		return Member{}, fmt.Errorf("%w: %d", ErrUnknownMember, index)
	}
	return e, nil
}

var (
	testNow       = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	testNotBefore = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	testNotAfter  = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
)

// ledgerFor puts ring at ledger indices 1000+7i, all active, plan "pro".
func ledgerFor(ring []*ristretto255.Element) (memMembers, []uint64) {
	m := memMembers{}
	idx := make([]uint64, len(ring))
	for i, P := range ring {
		idx[i] = uint64(1000 + 7*i)
		k := [ElementSize]byte(P.Bytes())
		m[idx[i]] = Member{Key: k, Plan: "pro", NotBefore: testNotBefore, NotAfter: testNotAfter, State: Active}
	}
	return m, idx
}
