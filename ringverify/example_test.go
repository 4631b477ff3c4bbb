package ringverify_test

import (
	"crypto/rand"
	"fmt"
	"time"

	"github.com/gtank/ristretto255"
	"github.com/licensed/licensed/ringverify"
)

// ledger is an in-memory ringverify.Members, standing in for the ledger's
// index of valid licenses.
type ledger map[uint64]ringverify.Member

func (l ledger) Member(index uint64) (ringverify.Member, error) {
	m, ok := l[index]
	if !ok {
		return ringverify.Member{}, ringverify.ErrUnknownMember
	}
	return m, nil
}

func Example() {
	// Sixteen licenses of plan "pro" on the ledger; we hold the one at
	// index 107.
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	l := ledger{}
	var ring []uint64
	var keys []*ristretto255.Element
	var mine *ristretto255.Scalar
	for i := uint64(100); i < 116; i++ {
		var seed [64]byte
		rand.Read(seed[:])
		x, _ := ristretto255.NewScalar().SetUniformBytes(seed[:])
		P := ristretto255.NewIdentityElement().ScalarBaseMult(x)
		l[i] = ringverify.Member{Key: [32]byte(P.Bytes()), Plan: "pro",
			NotBefore: now.AddDate(0, 0, -1), NotAfter: now.AddDate(0, 0, 30)}
		ring = append(ring, i)
		keys = append(keys, P)
		if i == 107 {
			mine = x
		}
	}

	// Client: sign a data block's hash under today's scope, use number 0.
	msg := []byte("sha-256 of the data block")
	proof, err := ringverify.Sign(rand.Reader, mine, keys, 7, "net/2026-11-22", 0, msg)
	if err != nil {
		panic(err)
	}
	wire := proof.Bytes()

	// Relay or admission endpoint: decode and verify against the ledger.
	v, err := ringverify.NewVerifier(ringverify.VerifierConfig{Members: l})
	if err != nil {
		panic(err)
	}
	p, err := ringverify.ParseProof(wire, len(ring))
	if err != nil {
		fmt.Println("refused:", ringverify.Code(err))
		return
	}
	plan, err := v.Verify(ring, "net/2026-11-22", 0, msg, p, now)
	fmt.Println(plan, err, len(wire))

	// The same proof presented for another block is refused.
	_, err = v.Verify(ring, "net/2026-11-22", 0, []byte("another block"), p, now)
	fmt.Println(ringverify.Code(err))
	// Output:
	// pro <nil> 576
	// signature
}
