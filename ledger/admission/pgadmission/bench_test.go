package pgadmission_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/pgadmission"
)

// BenchmarkRecordTags measures how many new tags per second one Postgres
// records through PostgresTags.Record, in batches of 1 and 256 from 4
// goroutines: the database half of admission's cost, and the baseline of a
// network-wide tag registry. It reports tags/s.
//
//	go test ./ledger/admission/pgadmission -run '^$' -bench RecordTags -benchtime 20000x
func BenchmarkRecordTags(b *testing.B) {
	db := pgtest.Pool(b)
	tags := pgadmission.NewPostgresTags(db)
	day := time.Now().UTC().Truncate(24 * time.Hour)
	scope := "bench/" + day.Format(time.DateOnly)
	for _, batch := range []int{1, 256} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			uses := make([]admission.Use, b.N)
			for i := range uses {
				uses[i] = admission.Use{Scope: scope, Day: day, Counter: uint32(i % 100)}
				rand.Read(uses[i].Tag[:])
				rand.Read(uses[i].MsgHash[:])
			}
			const workers = 4
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for lo := w * batch; lo < len(uses); lo += workers * batch {
						hi := min(lo+batch, len(uses))
						ok, err := tags.Record(context.Background(), uses[lo:hi])
						if err != nil {
							b.Error(err)
							return
						}
						for _, admitted := range ok {
							if !admitted {
								b.Error("a new tag was refused")
								return
							}
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(len(uses))/time.Since(start).Seconds(), "tags/s")
		})
	}
}

// BenchmarkRegistryTags measures the tag registry's capacity on one
// Postgres: new registrations per second through PostgresTags.Claim, each
// with the proof a relay sends (message 32 bytes, ring 16, signature 544
// bytes: 708 bytes kept until the tag is verified or pruned), in batches of
// 256 (a relay's request) from 4 writers (relays or server processes), on
// a cluster of its own with fsync on. It reports tags/s; the goal on the
// 2-core machine is 20,000.
//
//	go test ./ledger/admission/pgadmission -run '^$' -bench RegistryTags -benchtime 40000x -count 5
func BenchmarkRegistryTags(b *testing.B) {
	db := pgtest.DurablePool(b)
	tags := pgadmission.NewPostgresTags(db)
	day := time.Now().UTC().Truncate(24 * time.Hour)
	scope := "bench/" + day.Format(time.DateOnly)
	const batch, workers = 256, 4
	proof := make([]byte, 2+32+2+16*8+544)
	rand.Read(proof)
	uses := make([]admission.Use, b.N)
	for i := range uses {
		uses[i] = admission.Use{Scope: scope, Day: day, Counter: uint32(i % 100), Proof: proof}
		rand.Read(uses[i].Tag[:])
		rand.Read(uses[i].MsgHash[:])
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for lo := w * batch; lo < len(uses); lo += workers * batch {
				claims, err := tags.Claim(context.Background(), uses[lo:min(lo+batch, len(uses))])
				if err != nil {
					b.Error(err)
					return
				}
				for _, c := range claims {
					if !c.Admitted {
						b.Error("a new tag was refused")
						return
					}
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(len(uses))/time.Since(start).Seconds(), "tags/s")
}
