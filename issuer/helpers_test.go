package issuer

import (
	"crypto/sha512"
	"math/rand/v2"
	"testing"
	"time"
)

// testRand returns a deterministic random reader for tests and vectors.
func testRand(seed string) *rand.ChaCha8 {
	var s [32]byte
	copy(s[:], seed)
	return rand.NewChaCha8(s)
}

func mustAccount(t testing.TB, seed string) *Account {
	t.Helper()
	acct, err := NewAccount(testRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return acct
}

func testPayload(plan string) Payload {
	return Payload{
		Plan:       plan,
		NotBefore:  time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
		NotAfter:   time.Date(2026, 12, 22, 0, 0, 0, 0, time.UTC),
		DailyQuota: 100,
		Receipt:    [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
	}
}

func sha512Sum(parts ...[]byte) [64]byte {
	h := sha512.New()
	for _, p := range parts {
		h.Write(p)
	}
	var out [64]byte
	h.Sum(out[:0])
	return out
}
