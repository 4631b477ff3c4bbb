package web

import (
	"bytes"
	"context"
	"crypto/sha256"
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
	"syscall"
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
//	                  (testdata/loadgen) on loopback, 16 connections
//	batch=256         POST /v1/admit/batch with 256 proofs per request, load
//	                  from a second process, 2 connections
//	paired/...        the README ratios: HTTP admit against all-core verify,
//	                  and the batch endpoint against one-core verify, each
//	                  pair measured back to back five times (median); the
//	                  verify side here parses the proof from its bytes
//	                  (ParseProof) and verifies it, as a relay verifying
//	                  in-process does. They also report the CPU time per
//	                  proof on both sides (server, database and load
//	                  generator) and cores_available, how many cores a
//	                  trivial parallel loop got at the time: on a shared
//	                  machine no speed-up can exceed it
//
// It signs 2048 distinct proofs (two customers, counters 0…1023, a quota
// raised for the benchmark), sends them all once to warm the caches and
// record the tags, then replays them: a replay is a retry, which Admit
// verifies fully and records by conflict, so it costs what a first use does.
//
//	go test ./web -run '^$' -bench BenchmarkAdmission -benchtime 4000x
//	go test ./web -run '^$' -bench 'BenchmarkAdmission/paired' -benchtime 1x -v
//
// ADMIT_LINGER=0 sets PostgresTags.Linger for the run (default 3ms, as
// licensed serve runs by default: --admit-linger), ADMIT_CONNS the load
// generator's connections for the HTTP figures (default 16).
func BenchmarkAdmission(b *testing.B) {
	ctx := context.Background()
	f := admissiontest.New(b, pgtest.Pool(b), 40)
	f.StopSequencer()
	quota := func(plan string) (uint32, bool) { return 1 << 20, plan == admissiontest.Basic }
	tags := admission.NewPostgresTags(f.DB)
	tags.Linger = 3 * time.Millisecond // as licensed serve runs by default
	if d, err := time.ParseDuration(os.Getenv("ADMIT_LINGER")); err == nil {
		tags.Linger = d
	}
	svc, err := admission.New(f.Index, tags, admission.Config{Network: admissiontest.Network, Quota: quota})
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
	wire := make([][]byte, len(reqs))
	for i, r := range reqs {
		wire[i] = append(bytes.Clone(r.Tag), r.Signature...)
		if proofs[i], err = ringverify.ParseProof(wire[i], 16); err != nil {
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
	// lastCPU is the CPU time the last run cost: this process (the server),
	// the database's processes and the load generator.
	var lastCPU struct {
		server, db, loadgen time.Duration
		admitted            int64
	}
	postmaster := 0
	if c := pgtest.Cluster(b); c != nil {
		postmaster = c.Pid()
	}
	run := func(b *testing.B, path, bodies string, n, conns int) (perSecond float64) {
		self0, db0 := selfCPU(), treeCPU(postmaster)
		cmd := exec.Command(loadgen, "-url", url+path, "-bodies", bodies, "-n", strconv.Itoa(n), "-c", strconv.Itoa(conns))
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("loadgen: %v %s", err, out)
		}
		var reqN, admitted, ns int64
		if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "ok %d %d %d", &reqN, &admitted, &ns); err != nil {
			b.Fatalf("loadgen said %q", out)
		}
		lastCPU.server, lastCPU.db = selfCPU()-self0, treeCPU(postmaster)-db0
		lastCPU.loadgen = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		lastCPU.admitted = admitted
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
	var verifyCPU time.Duration // CPU per proof of the last verifyFor
	verifyFor := func(d time.Duration, workers int) float64 {
		cpu0 := selfCPU()
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
					// From the proof's bytes, as a relay verifying
					// in-process gets it.
					p, err := ringverify.ParseProof(wire[i], len(r.Ring))
					if err == nil {
						_, err = v.Verify(r.Ring, r.Scope, r.Counter, r.Message, p, now)
					}
					if err != nil {
						b.Error(err)
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		verifyCPU = (selfCPU() - cpu0) / time.Duration(max(n.Load(), 1))
		return float64(n.Load()) / time.Since(start).Seconds()
	}
	// paired reports, besides the wall-clock ratio, the CPU time per proof
	// of both sides: on a shared machine the CPU ratio is the steadier
	// measure of what the HTTP path costs on top of verification.
	paired := func(b *testing.B, name string, base func() float64, other func(base float64) float64) {
		var ratios, bases, others, cpuRatios, avail []float64
		for range 5 {
			avail = append(avail, coresAvailable(300*time.Millisecond))
			x := base()
			vcpu := verifyCPU
			y := other(x)
			per := (lastCPU.server + lastCPU.db + lastCPU.loadgen) / time.Duration(max(lastCPU.admitted, 1))
			bases, others, ratios = append(bases, x), append(others, y), append(ratios, y/x)
			cpuRatios = append(cpuRatios, float64(vcpu)/float64(per))
			b.Logf("%s: base %.0f proofs/s (%v CPU each); %s %.0f proofs/s, CPU each %v (server %v, database %v, load generator %v)",
				name, x, vcpu.Round(time.Microsecond), name, y, per.Round(time.Microsecond),
				(lastCPU.server / time.Duration(max(lastCPU.admitted, 1))).Round(time.Microsecond),
				(lastCPU.db / time.Duration(max(lastCPU.admitted, 1))).Round(time.Microsecond),
				(lastCPU.loadgen / time.Duration(max(lastCPU.admitted, 1))).Round(time.Microsecond))
		}
		b.ReportMetric(median(bases), "base_proofs/s")
		b.ReportMetric(median(others), name+"_proofs/s")
		b.ReportMetric(median(ratios), name+"/base")
		b.ReportMetric(median(cpuRatios), "base_cpu/"+name+"_cpu")
		b.ReportMetric(median(avail), "cores_available")
		b.Logf("%s/base wall-clock ratios %.2f; CPU-per-proof ratios base/%s %.2f; cores available %.2f", name, ratios, name, cpuRatios, avail)
	}
	b.Run("paired/http-vs-verify-all-cores/ring=16", func(b *testing.B) {
		paired(b, "http", func() float64 { return verifyFor(time.Second, runtime.GOMAXPROCS(0)) },
			func(base float64) float64 { return run(b, "/v1/admit", singleFile, int(base)+100, httpConns) })
	})
	b.Run("paired/batch-vs-verify-one-core/ring=16", func(b *testing.B) {
		paired(b, "batch", func() float64 { return verifyFor(time.Second, 1) },
			func(base float64) float64 { return run(b, "/v1/admit/batch", batchFile, max(int(2*base)/256, 2), 2) })
	})
	b.Run("http/ring=16", func(b *testing.B) {
		b.ReportMetric(run(b, "/v1/admit", singleFile, max(b.N, 200), httpConns), "proofs/s")
	})
	b.Run("batch=256/ring=16", func(b *testing.B) {
		b.ReportMetric(run(b, "/v1/admit/batch", batchFile, max(b.N/256, 4), 2), "proofs/s")
	})
}

// coresAvailable measures how many cores this process can get right now:
// the work GOMAXPROCS goroutines hashing for d get done, over one
// goroutine's. On a machine shared with other work it is below GOMAXPROCS,
// and bounds every parallel speed-up measured at that time.
func coresAvailable(d time.Duration) float64 {
	burn := func() int {
		n := 0
		var h [32]byte
		for end := time.Now().Add(d); time.Now().Before(end); n++ {
			for range 64 {
				h = sha256.Sum256(h[:])
			}
		}
		return n
	}
	one := burn()
	var total atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() { defer wg.Done(); total.Add(int64(burn())) }()
	}
	wg.Wait()
	return float64(total.Load()) / float64(max(one, 1))
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// treeCPU is the CPU time used by pid and its children now alive (the
// Postgres cluster: its postmaster and backends), from /proc.
func treeCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	ents, _ := os.ReadDir("/proc")
	var ticks int64
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// Fields after the command name (which may hold spaces).
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		if p != pid && ppid != pid {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += ut + st
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ
}

// httpConns is the load generator's connections for POST /v1/admit (env
// ADMIT_CONNS): enough requests in flight that both cores always have a
// proof to verify while others wait for their tag's round trip.
var httpConns = func() int {
	if n, err := strconv.Atoi(os.Getenv("ADMIT_CONNS")); err == nil && n > 0 {
		return n
	}
	return 16
}()

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
