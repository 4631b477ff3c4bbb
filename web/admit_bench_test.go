package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
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

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/pgadmission"
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
	// The load generator is a relay with a key and no limits (rate=0,
	// and no in-flight bound here): relays have keys, and a known client may verify on
	// every core (anonymous ones together on all but one).
	linger := 3 * time.Millisecond // as licensed serve runs by default
	if d, err := time.ParseDuration(os.Getenv("ADMIT_LINGER")); err == nil {
		linger = d
	}
	rb := newRegistryBench(b, linger)
	f, svc, relayKey, s, reqs := rb.f, rb.svc, rb.key, rb.s, rb.reqs
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Serve(sctx, l) }()
	b.Cleanup(func() { stop(); <-done })
	url := "http://" + l.Addr().String()

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
		cmd := exec.Command(loadgen, "-url", url+path, "-bodies", bodies, "-n", strconv.Itoa(n), "-c", strconv.Itoa(conns), "-auth", "Bearer "+relayKey)
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

// BenchmarkAdmitFlood measures what a flood of attackers, each within the
// default anonymous limits (DefaultAdmitRate, DefaultAdmitBurst,
// DefaultAdmitInFlight, DefaultAdmitTotalInFlight, no proof of work), does to
// an honest client's admission latency, in-process (the server's handler
// called directly) and over HTTP on loopback. Each iteration is one honest
// POST /v1/admit of a valid proof (ring 16, tags in Postgres with the
// default 3 ms linger), sent one at a time with 5 ms between them (below
// the honest client's own rate). The honest client first runs alone
// (unloaded), then while three attackers, each at its own address, flood:
//
//	forger        4 connections of forged single proofs (well formed, they
//	              do not verify: each costs a full verification)
//	oversized     2 connections of batches of 256 forged proofs
//	at-bound      2 connections of batches of DefaultAdmitInFlight forged proofs
//
// Attackers ignore Retry-After; after a refusal each pauses for as long as
// its next request's tokens take to accrue (5 ms per proof), so that it
// forces as many verifications as its tokens allow (flooding faster only
// spends its tokens on refusals) and the load generator, on the server's
// own two cores, does not measure its own CPU. The loaded phase starts once the attackers' bursts are spent
// (2 s). It reports the honest p50 and p99 unloaded and loaded (ms),
// honest-p99/unloaded-p99 (goal ≤ 3), and the attackers' forced
// verifications per second: the most one attacker forced (counted from its
// answers; goal ≤ its token rate, 200/s, plus what was left of its burst
// over the window: attacker-token-allowance/s) and all of them together
// (Service.Verifications less the honest requests).
// FLOOD_ATTACKERS=forger,at-bound runs only the attackers named;
// FLOOD_COPIES=N runs each from N addresses (default 1). Three copies of all
// three ask for 1,800 verifications per second, more than two cores do:
// then the verifying cores are the bottleneck, and what decides the honest
// client's wait is how they are shared (package admission, "Sharing the
// cores").
//
//	go test ./web -run '^$' -bench BenchmarkAdmitFlood -benchtime 400x
func BenchmarkAdmitFlood(b *testing.B) {
	f := admissiontest.New(b, pgtest.Pool(b), 40)
	f.StopSequencer()
	quota := func(plan string) (uint32, bool) { return 1 << 20, plan == admissiontest.Basic }
	tags := pgadmission.NewPostgresTags(f.DB)
	tags.Linger = 3 * time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("ADMIT_LINGER")); err == nil {
		tags.Linger = d
	}
	svc, err := admission.New(f.Index, tags, admission.Config{Network: admissiontest.Network, Quota: quota})
	if err != nil {
		b.Fatal(err)
	}
	s := New(Config{
		TrustProxy: true, // each client at its own address
		AdmitLimit: RateLimit{PerSecond: DefaultAdmitRate, Burst: DefaultAdmitBurst},
		Admit:      AdmitLimits{InFlight: DefaultAdmitInFlight, Total: DefaultAdmitTotalInFlight},
	}, Deps{DB: f.DB, Admission: svc}, slog.New(slog.DiscardHandler))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(sctx, l) }()
	b.Cleanup(func() { stop(); <-done })
	url := "http://" + l.Addr().String()

	// 256 valid proofs, replayed (a replay is verified fully, then a
	// retry of its tag), and the attackers' bodies.
	scope := admissiontest.Scope(time.Now())
	honest := make([][]byte, 256)
	for i := range honest {
		c := f.Customers[i%2]
		ring, pi := f.Ring(b, c, 16)
		honest[i] = mustJSON(b, f.Prove(b, c, ring, pi, scope, uint32(i/2), []byte(fmt.Sprintf("honest %d", i))))
	}
	forged := forgeries(b, f, 256)
	single := make([][]byte, len(forged))
	for i, r := range forged {
		single[i] = mustJSON(b, r)
	}
	oversized := batchBody(b, forged)
	atBound := batchBody(b, forged[:DefaultAdmitInFlight])

	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	// send posts body as the client at from and returns the status.
	type sender func(path, from string, body []byte) int
	inProcess := func(path, from string, body []byte) int {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", from)
		req.RemoteAddr = "127.0.0.1:40000" // a proxy the server trusts
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	overHTTP := func(path, from string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := httpClient.Do(req)
		if err != nil {
			return 0
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	// Warm the caches and record the honest tags.
	for i, body := range honest {
		if code := inProcess("/v1/admit", "198.51.100.1", body); code != 200 {
			b.Fatalf("warm-up %d: %d", i, code)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// honestRun sends n honest requests one at a time, from a fresh
	// address each run, and returns their latencies, sorted.
	runs := 0
	honestRun := func(b *testing.B, send sender, n int) []time.Duration {
		runs++
		from := fmt.Sprintf("198.51.100.%d", 10+runs)
		lat := make([]time.Duration, n)
		for i := range n {
			start := time.Now()
			if code := send("/v1/admit", from, honest[i%len(honest)]); code != 200 {
				b.Fatalf("honest request %d: %d", i, code)
			}
			lat[i] = time.Since(start)
			time.Sleep(5 * time.Millisecond)
		}
		slices.Sort(lat)
		return lat
	}
	pct := func(lat []time.Duration, p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}

	for _, mode := range []struct {
		name string
		send sender
	}{{"in-process", inProcess}, {"http", overHTTP}} {
		b.Run(mode.name, func(b *testing.B) {
			unloaded := honestRun(b, mode.send, b.N)

			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			attackers := []struct {
				name   string
				path   string
				body   [][]byte
				proofs int // per request
				conns  int
			}{
				{"forger", "/v1/admit", single, 1, 4},
				{"oversized", "/v1/admit/batch", [][]byte{oversized}, len(forged), 2},
				{"at-bound", "/v1/admit/batch", [][]byte{atBound}, DefaultAdmitInFlight, 2},
			}
			// verified counts, per attacker, the proofs of its answered
			// requests: each was verified (a forged proof that reaches
			// step 7 is answered bad_signature; a batch 200 verified all
			// its proofs).
			sent := make([]atomic.Int64, len(attackers))
			verified := make([]atomic.Int64, 8*len(attackers)) // per address: [8*a+copy]
			for a, at := range attackers {
				if only := os.Getenv("FLOOD_ATTACKERS"); only != "" && !slices.Contains(strings.Split(only, ","), at.name) {
					continue
				}
				copies := 1
				if n, err := strconv.Atoi(os.Getenv("FLOOD_COPIES")); err == nil && n > 0 && n <= 8 {
					copies = n
				}
				for k := range copies * at.conns {
					from := fmt.Sprintf("203.0.%d.%d", 113+runs, 10*(k/at.conns)+a)
					c, verified := k%at.conns, &verified[8*a+k/at.conns]
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := c; ctx.Err() == nil; i++ {
							sent[a].Add(1)
							switch code := mode.send(at.path, from, at.body[i%len(at.body)]); {
							case code == 200 && at.path == "/v1/admit/batch":
								verified.Add(int64(at.proofs))
							case code == 400:
								verified.Add(1)
							case code == 429 || code == 503 || code == 0:
								// Long enough for the tokens of one more request,
								// so that the door's token does not starve the
								// batches: the attacker then forces the most
								// verifications its tokens allow.
								time.Sleep(time.Duration(at.proofs) * time.Second / DefaultAdmitRate)
							}
						}
					}()
				}
			}
			time.Sleep(2 * time.Second) // the attackers' bursts are spent
			snapshot := func() []int64 {
				out := make([]int64, len(verified))
				for a := range verified {
					out[a] = verified[a].Load()
				}
				return out
			}
			v0, t0, per0 := svc.Verifications(), time.Now(), snapshot()
			loaded := honestRun(b, mode.send, b.N)
			elapsed := time.Since(t0).Seconds()
			forced := float64(svc.Verifications()-v0-int64(b.N)) / elapsed
			per1 := snapshot()
			cancel()
			wg.Wait()

			b.ReportMetric(pct(unloaded, 0.5), "unloaded-p50-ms")
			b.ReportMetric(pct(unloaded, 0.99), "unloaded-p99-ms")
			b.ReportMetric(pct(loaded, 0.5), "honest-p50-ms")
			b.ReportMetric(pct(loaded, 0.99), "honest-p99-ms")
			b.ReportMetric(pct(loaded, 0.99)/pct(unloaded, 0.99), "honest-p99/unloaded-p99")
			// The most any one attacker forced, and all of them together
			// (from the Service's own count, less the honest requests).
			most := 0.0
			for a := range per0 {
				most = max(most, float64(per1[a]-per0[a])/elapsed)
			}
			b.ReportMetric(most, "attacker-verifs/s")
			b.ReportMetric(forced, "all-attackers-verifs/s")
			b.ReportMetric(DefaultAdmitRate, "attacker-token-rate")
			// What the tokens allow over the window: the rate, plus
			// whatever of the burst an attacker had not spent before it.
			b.ReportMetric(DefaultAdmitRate+DefaultAdmitBurst/elapsed, "attacker-token-allowance/s")
			var total int64
			for a := range sent {
				total += sent[a].Load()
			}
			b.ReportMetric(float64(total)/elapsed, "attack-req/s")
		})
	}
}
