package poll

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkCheckBallot is the server's check of one ballot (the ring
// signature dominates) and a recount's cost per ballot.
func BenchmarkCheckBallot(b *testing.B) {
	p := samplePoll()
	day := opens.Truncate(24 * time.Hour)
	m := newMembers(64, "basic", day, day.AddDate(0, 0, 30))
	v, err := NewVerifier(m)
	if err != nil {
		b.Fatal(err)
	}
	h, _ := p.Hash()
	for _, n := range []int{11, 16, 64} {
		b.Run(fmt.Sprintf("ring=%d", n), func(b *testing.B) {
			ballot := vote(b, m, p, ringOf(0, n), 0, 1, 1)
			b.ReportAllocs()
			for b.Loop() {
				if err := CheckBallot(v, p, h, ballot); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
