package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/admissiontest"
	"github.com/licensed/licensed/migrations/pgtest"
	"github.com/licensed/licensed/ringverify"
)

// BenchmarkAdmission measures admission at ring 16, every figure in proofs
// per second (the proofs/s metric):
//
//	verify/cores=1    ringverify.Verifier.Verify on one goroutine: the
//	                  single-core verification throughput
//	verify/cores=N    the same on all cores (RunParallel): in-process verify
//	                  throughput
//	admit/in-process  admission.Service.Admit on all cores, tags in Postgres
//	http              POST /v1/admit, load from a second process
//	                  (testdata/loadgen) on loopback, 8 connections
//	batch=256         POST /v1/admit/batch with 256 proofs per request, load
//	                  from a second process, 2 connections
//	paired/...        the README ratios: HTTP admit against all-core verify,
//	                  and the batch endpoint against one-core verify, each
//	                  pair measured back to back five times (median)
//
// It signs 2048 distinct proofs (two customers, counters 0…1023, a quota
// raised for the benchmark), sends them all once to warm the caches and
// record the tags, then replays them: a replay is a retry, which Admit
// verifies fully and records by conflict, so it costs what a first use does.
//
//	go test ./web -run '^$' -bench BenchmarkAdmission -benchtime 4000x
//	go test ./web -run '^$' -bench 'BenchmarkAdmission/paired' -benchtime 1x -v
func BenchmarkAdmission(b *testing.B) {
	ctx := context.Background()
	f := admissiontest.New(b, pgtest.Pool(b), 40)
	quota := func(plan string) (uint32, bool) { return 1 << 20, plan == admissiontest.Basic }
	svc, err := admission.New(f.Index, admission.NewPostgresTags(f.DB), admission.Config{Network: admissiontest.Network, Quota: quota})
	if err != nil {
		b.Fatal(err)
	}
	s := New(Config{}, Deps{DB: f.DB, Admission: svc}, slog.New(slog.DiscardHandler))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Serve(sctx, l) }()
	b.Cleanup(func() { stop(); <-done })
	url := "http://" + l.Addr().String()

	// 2048 distinct proofs, signed on all cores.
	scope := admissiontest.Scope(time.Now())
	reqs := make([]*admission.Request, 2048)
	var wg sync.WaitGroup
	for w := range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(reqs); i += runtime.GOMAXPROCS(0) {
				c := f.Customers[i%2]
				ring, pi := f.Ring(b, c, 16)
				reqs[i] = f.Prove(b, c, ring, pi, scope, uint32(i/2), []byte(fmt.Sprintf("bench block %d", i)))
			}
		}()
	}
	wg.Wait()
	proofs := make([]*ringverify.Proof, len(reqs))
	for i, r := range reqs {
		if proofs[i], err = ringverify.ParseProof(append(bytes.Clone(r.Tag), r.Signature...), 16); err != nil {
			b.Fatal(err)
		}
	}

	// Bodies for the load generator, and the warm-up pass.
	dir := b.TempDir()
	var single, batch bytes.Buffer
	for i, r := range reqs {
		single.Write(mustJSONb(b, r))
		single.WriteByte('\n')
		if i%256 == 0 {
			end := min(i+256, len(reqs))
			batch.Write(mustJSONb(b, map[string]any{"proofs": reqs[i:end]}))
			batch.WriteByte('\n')
		}
	}
	singleFile, batchFile := filepath.Join(dir, "single.jsonl"), filepath.Join(dir, "batch.jsonl")
	os.WriteFile(singleFile, single.Bytes(), 0o600)
	os.WriteFile(batchFile, batch.Bytes(), 0o600)
	loadgen := filepath.Join(dir, "loadgen")
	if out, err := exec.Command("go", "build", "-o", loadgen, "./testdata/loadgen").CombinedOutput(); err != nil {
		b.Fatalf("building the load generator: %v\n%s", err, out)
	}
	run := func(b *testing.B, path, bodies string, n, conns int) (perSecond float64) {
		out, err := exec.Command(loadgen, "-url", url+path, "-bodies", bodies, "-n", strconv.Itoa(n), "-c", strconv.Itoa(conns)).Output()
		if err != nil {
			b.Fatalf("loadgen: %v %s", err, out)
		}
		var reqN, admitted, ns int64
		if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "ok %d %d %d", &reqN, &admitted, &ns); err != nil {
			b.Fatalf("loadgen said %q", out)
		}
		return float64(admitted) / (float64(ns) / 1e9)
	}
	// Warm-up: every proof admitted once (tags recorded, caches filled).
	if got := run(b, "/v1/admit/batch", batchFile, len(reqs)/256, 2); got <= 0 {
		b.Fatal("warm-up admitted nothing")
	}

	v, err := ringverify.NewVerifier(ringverify.VerifierConfig{Members: f.Index})
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	for i, r := range reqs {
		if _, err := v.Verify(r.Ring, r.Scope, r.Counter, r.Message, proofs[i], now); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("verify/ring=16/cores=1", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r := reqs[i%len(reqs)]
			if _, err := v.Verify(r.Ring, r.Scope, r.Counter, r.Message, proofs[i%len(reqs)], now); err != nil {
				b.Fatal(err)
			}
			i++
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
	})
	b.Run(fmt.Sprintf("verify/ring=16/cores=%d", runtime.GOMAXPROCS(0)), func(b *testing.B) {
		b.ReportAllocs()
		var next sync.Mutex
		k := 0
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				next.Lock()
				i := k % len(reqs)
				k++
				next.Unlock()
				r := reqs[i]
				if _, err := v.Verify(r.Ring, r.Scope, r.Counter, r.Message, proofs[i], now); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
	})
	b.Run("admit/ring=16/in-process", func(b *testing.B) {
		var next sync.Mutex
		k := 0
		b.SetParallelism(4) // the tag store's round trips overlap verification
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				next.Lock()
				i := k % len(reqs)
				k++
				next.Unlock()
				if _, err := svc.Admit(ctx, reqs[i]); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
	})
	// Paired figures: the machine is shared, so each ratio compares two
	// measurements taken back to back, five times; the median is reported.
	verifyFor := func(d time.Duration, workers int) float64 {
		var n atomic.Int64
		var k atomic.Int64
		deadline := time.Now().Add(d)
		start := time.Now()
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					i := int(k.Add(1)) % len(reqs)
					r := reqs[i]
					if _, err := v.Verify(r.Ring, r.Scope, r.Counter, r.Message, proofs[i], now); err != nil {
						b.Error(err)
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(n.Load()) / time.Since(start).Seconds()
	}
	paired := func(b *testing.B, name string, base func() float64, other func(base float64) float64) {
		var ratios, bases, others []float64
		for range 5 {
			x := base()
			y := other(x)
			bases, others, ratios = append(bases, x), append(others, y), append(ratios, y/x)
		}
		b.ReportMetric(median(bases), "base_proofs/s")
		b.ReportMetric(median(others), name+"_proofs/s")
		b.ReportMetric(median(ratios), name+"/base")
		b.Logf("%s/base ratios %.2f (base %.0f, %s %.0f proofs/s)", name, ratios, bases, name, others)
	}
	b.Run("paired/http-vs-verify-all-cores/ring=16", func(b *testing.B) {
		paired(b, "http", func() float64 { return verifyFor(time.Second, runtime.GOMAXPROCS(0)) },
			func(base float64) float64 { return run(b, "/v1/admit", singleFile, int(base)+100, 8) })
	})
	b.Run("paired/batch-vs-verify-one-core/ring=16", func(b *testing.B) {
		paired(b, "batch", func() float64 { return verifyFor(time.Second, 1) },
			func(base float64) float64 { return run(b, "/v1/admit/batch", batchFile, max(int(2*base)/256, 2), 2) })
	})
	b.Run("http/ring=16", func(b *testing.B) {
		b.ReportMetric(run(b, "/v1/admit", singleFile, max(b.N, 200), 8), "proofs/s")
	})
	b.Run("batch=256/ring=16", func(b *testing.B) {
		b.ReportMetric(run(b, "/v1/admit/batch", batchFile, max(b.N/256, 4), 2), "proofs/s")
	})
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

func mustJSONb(b *testing.B, v any) []byte {
	out, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return out
}
