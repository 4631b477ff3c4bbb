package pgledger_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
)

// BenchmarkSustainedAppend measures the ledger's sustained throughput with
// fsync on: eight producers enqueue b.N license entries in transactions of
// 500 (one Enqueue per entry, or one EnqueueBatch per transaction) while the
// sequencer runs its one-second rounds; the clock stops when the last entry
// is in a committed round.
//
//	go test ./ledger -run '^$' -bench SustainedAppend -benchtime 300000x
func BenchmarkSustainedAppend(b *testing.B) {
	b.Run("enqueue=each", func(b *testing.B) { benchmarkSustainedAppend(b, false) })
	b.Run("enqueue=batch", func(b *testing.B) { benchmarkSustainedAppend(b, true) })
}

func benchmarkSustainedAppend(b *testing.B, batch bool) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := pgtest.DurablePool(b)
	_, signer, _ := testKeys(b)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	// Entries are made before the clock starts: minting is issuer's cost.
	entries := make([]ledger.Entry, b.N)
	for i := range entries {
		entries[i] = newLicense("pro", 20000, 20030)
	}
	seqDone := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func() { seqDone <- l.RunSequencer(ctx) }()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				lo := next.Add(500) - 500
				if lo >= int64(b.N) {
					return
				}
				hi := min(lo+500, int64(b.N))
				err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
					if batch {
						refs := make([]string, 0, hi-lo)
						for i := lo; i < hi; i++ {
							refs = append(refs, fmt.Sprint("bench:", i))
						}
						_, err := pgledger.EnqueueBatch(ctx, tx, refs, entries[lo:hi])
						return err
					}
					for i := lo; i < hi; i++ {
						if _, err := pgledger.Enqueue(ctx, tx, fmt.Sprint("bench:", i), entries[i]); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	enqueued := time.Since(start)
	for {
		c, err := l.Store().Latest(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if c.Size == int64(b.N) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	rounds, _ := l.Store().Rounds(ctx)
	largest := 0
	for _, r := range rounds {
		largest = max(largest, r.Count)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "entries/s")
	b.ReportMetric(float64(b.N)/enqueued.Seconds(), "enqueued/s")
	b.ReportMetric(float64(len(rounds)), "rounds")
	b.ReportMetric(float64(largest), "largest-round")
	cancel()
	<-seqDone
}

// BenchmarkAckLatency measures how long Append takes to acknowledge at 1,000
// entries per second with the default one-second round and fsync on: the
// goal is p99 ≤ round period + 200 ms.
//
//	go test ./ledger -run '^$' -bench AckLatency -benchtime 5000x
func BenchmarkAckLatency(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := pgtest.DurablePool(b)
	_, signer, _ := testKeys(b)
	const period = time.Second
	l := pgledger.New(db, pgledger.Config{Signer: signer, Period: period})
	seqDone := make(chan error, 1)
	go func() { seqDone <- l.RunSequencer(ctx) }()
	entries := make([]ledger.Entry, b.N)
	for i := range entries {
		entries[i] = newLicense("pro", 20000, 20030)
	}
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Millisecond) // 1,000 entries/s
	defer tick.Stop()
	b.ResetTimer()
	for i := range b.N {
		<-tick.C
		wg.Go(func() {
			t0 := time.Now()
			if _, err := l.Append(ctx, entries[i]); err != nil {
				b.Error(err)
				return
			}
			lat[i] = time.Since(t0)
		})
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(lat)
	q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Milliseconds()) }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Milliseconds()), "max-ms")
	if p99 := lat[int(0.99*float64(len(lat)-1))]; p99 > period+200*time.Millisecond {
		b.Errorf("p99 acknowledgement %v exceeds the round period + 200ms", p99)
	}
	cancel()
	<-seqDone
}

// BenchmarkSequencerDrain measures the sequencer alone, fsync on: b.N
// entries are pending before the clock starts, then rounds (of at most
// 100,000) run back to back until none is left.
//
//	go test ./ledger -run '^$' -bench SequencerDrain -benchtime 100000x
func BenchmarkSequencerDrain(b *testing.B) {
	ctx := context.Background()
	db := pgtest.DurablePool(b)
	_, signer, _ := testKeys(b)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	for lo := 0; lo < b.N; lo += 5000 {
		var refs []string
		var es []ledger.Entry
		for i := lo; i < min(lo+5000, b.N); i++ {
			refs = append(refs, fmt.Sprint("bench:", i))
			es = append(es, newLicense("pro", 20000, 20030))
		}
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { _, err := pgledger.EnqueueBatch(ctx, tx, refs, es); return err })
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	total := 0
	for total < b.N {
		n, err := l.Round(ctx)
		if err != nil {
			b.Fatal(err)
		}
		total += n
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
}
