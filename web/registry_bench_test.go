package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/launch/relayproc"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/pgadmission"
	"github.com/licensed/licensed/ledger/relay"
	"github.com/licensed/licensed/ringverify"
)

// registryBench is the setup of the admission and registry benchmarks: the
// fixture's ledger (its sequencer stopped), a server admitting with
// Postgres tags (lingering linger) and one relay key without limits, the
// plans' quota raised, and 2048 distinct proofs at ring 16 (two customers,
// counters 0…1023).
type registryBench struct {
	f     *admissiontest.Ledger
	quota func(string) (uint32, bool)
	svc   *admission.Service
	key   string
	s     *Server
	reqs  []*admission.Request
}

const benchQuota = 1 << 20

func newRegistryBench(b *testing.B, linger time.Duration) *registryBench {
	b.Helper()
	f := admissiontest.New(b, pgtest.Pool(b), 40)
	f.StopSequencer()
	rb := &registryBench{f: f, quota: func(plan string) (uint32, bool) { return benchQuota, plan == admissiontest.Basic }}
	tags := pgadmission.NewPostgresTags(f.DB)
	tags.Linger = linger
	svc, err := admission.New(f.Index, tags, admission.Config{Network: admissiontest.Network, Quota: rb.quota})
	if err != nil {
		b.Fatal(err)
	}
	rb.svc = svc
	key, line, err := NewRelayKey("bench")
	if err != nil {
		b.Fatal(err)
	}
	keys, err := ParseRelayKeys([]byte(line + " rate=0\n"))
	if err != nil {
		b.Fatal(err)
	}
	rb.key = key
	rb.s = New(Config{Admit: AdmitLimits{Keys: keys}}, Deps{DB: f.DB, Admission: svc, Ledger: &LedgerDeps{Store: f.Ledger.Store(), VerifierKey: f.VerifierKey}}, slog.New(slog.DiscardHandler))
	scope := admissiontest.Scope(time.Now())
	rb.reqs = make([]*admission.Request, 2048)
	var wg sync.WaitGroup
	for w := range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := w; i < len(rb.reqs); i += runtime.GOMAXPROCS(0) {
				c := f.Customers[i%2]
				ring, pi := f.Ring(b, c, 16)
				rb.reqs[i] = f.Prove(b, c, ring, pi, scope, uint32(i/2), []byte(fmt.Sprintf("bench block %d", i)))
			}
		})
	}
	wg.Wait()
	return rb
}

// BenchmarkRegistryRelay measures what a relay that verifies locally and
// registers its tags with the server (relay.NewNetworkLocal) admits per
// second, against the same relay keeping its tags in memory
// (relay.NewLocal, in-process verify and nothing else), each pass 2048
// distinct proofs at ring 16 from 64 goroutines, the two passes back to
// back in every iteration. It reports local_proofs/s, network_proofs/s and
// their ratio (goal ≥ 0.9: the network's capacity grows with its relays).
// The server and its Postgres run on the same cores here, so the ratio
// counts their work against the relay; on a real network they run
// elsewhere.
//
//	go test ./web -run '^$' -bench RegistryRelay -benchtime 5x -count 3
func BenchmarkRegistryRelay(b *testing.B) {
	ctx := context.Background()
	rb := newRegistryBench(b, 0)
	f, s, key, reqs := rb.f, rb.s, rb.key, rb.reqs
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Serve(sctx, l) }()
	b.Cleanup(func() { stop(); <-done })
	m, err := relay.NewMirror(&relay.Client{URL: "http://" + l.Addr().String(), Key: key}, f.VerifierKey)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Sync(ctx); err != nil {
		b.Fatal(err)
	}
	cfg := admission.Config{Network: admissiontest.Network, Quota: rb.quota}
	// pass admits every proof once through local from 64 goroutines.
	pass := func(local *relay.Local) time.Duration {
		var next atomic.Int64
		start := time.Now()
		var wg sync.WaitGroup
		for range 64 {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < len(reqs); i = int(next.Add(1)) - 1 {
					if res, err := local.Admit(ctx, reqs[i]); err != nil || !res.Admitted {
						b.Errorf("proof %d: %v", i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start)
	}
	var localT, networkT time.Duration
	for b.Loop() {
		b.StopTimer()
		if _, err := f.DB.Exec(ctx, `delete from admission_tags`); err != nil {
			b.Fatal(err)
		}
		local, err := relay.NewLocal(m, cfg)
		if err != nil {
			b.Fatal(err)
		}
		network, err := relay.NewNetworkLocal(m, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		localT += pass(local)
		networkT += pass(network)
	}
	n := float64(b.N * len(reqs))
	b.ReportMetric(n/localT.Seconds(), "local_proofs/s")
	b.ReportMetric(n/networkT.Seconds(), "network_proofs/s")
	b.ReportMetric(localT.Seconds()/networkT.Seconds(), "ratio")
}

// BenchmarkRegistryRelayCPU measures a relay core's admission capacity:
// the CPU time a `license relay` process spends per proof it admits
// (verify against its mirror, then register the tag with the server), as
// /proc counts it, against the same program keeping tags in memory
// (--memory), and against ringverify's verification alone on one
// goroutine in this process. The server and Postgres run beside them but
// are not counted: their cost per registration is BenchmarkRegistryTags'.
// Each pass sends 2048 distinct proofs at ring 16 to the relay's POST
// /admit from 32 goroutines. It reports verify_us/proof,
// memory_relay_us/proof, network_relay_us/proof, network_vs_verify =
// verify / network (goal ≥ 0.9) and network_vs_memory = memory / network
// (what registering costs a relay core).
//
//	go test ./web -run '^$' -bench RegistryRelayCPU -benchtime 3x -count 3
func BenchmarkRegistryRelayCPU(b *testing.B) {
	ctx := context.Background()
	rb := newRegistryBench(b, 0)
	f, s, key, reqs := rb.f, rb.s, rb.key, rb.reqs
	// The relays read the plans' quotas from GET /v1/plans, which a server
	// without payments does not serve: answer it here, pass the rest on.
	backend := httptest.NewServer(s.Handler())
	b.Cleanup(backend.Close)
	target, _ := url.Parse(backend.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/plans" {
			fmt.Fprintf(w, `{"plans": [{"id": %q, "daily_quota": %d}]}`, admissiontest.Basic, benchQuota)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	b.Cleanup(front.Close)
	bin, err := relayproc.Build(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	relays := map[string]*relayproc.Relay{}
	for name, k := range map[string]string{"memory": "", "network": key} {
		r, err := relayproc.Start(bin, relayproc.Config{Server: front.URL, LedgerKey: f.VerifierKey, Network: admissiontest.Network, Key: k, Sync: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(r.Stop)
		relays[name] = r
	}

	bodies := make([][]byte, len(reqs))
	for i, r := range reqs {
		bodies[i], _ = json.Marshal(r)
	}
	v, err := ringverify.NewVerifier(ringverify.VerifierConfig{Members: f.Index})
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	// pass admits every proof once through the relay and returns the
	// relay's CPU time for it.
	pass := func(r *relayproc.Relay) time.Duration {
		cpu0, err := r.CPU()
		if err != nil {
			b.Fatal(err)
		}
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for i := int(next.Add(1)) - 1; i < len(bodies); i = int(next.Add(1)) - 1 {
					resp, err := client.Post(r.URL+"/admit", "application/json", bytes.NewReader(bodies[i]))
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("proof %d: status %d (relay logs: %s)", i, resp.StatusCode, r.Logs())
						return
					}
				}
			})
		}
		wg.Wait()
		cpu1, _ := r.CPU()
		return cpu1 - cpu0
	}
	var verifyT, memT, netT time.Duration
	for b.Loop() {
		b.StopTimer()
		if _, err := f.DB.Exec(ctx, `delete from admission_tags`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		now := time.Now()
		for _, r := range reqs {
			p, err := ringverify.ParseProof(append(bytes.Clone(r.Tag), r.Signature...), len(r.Ring))
			if err == nil {
				_, err = v.Verify(r.Ring, r.Scope, r.Counter, r.Message, p, now)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		verifyT += time.Since(start)
		memT += pass(relays["memory"])
		netT += pass(relays["network"])
	}
	n := float64(b.N * len(reqs))
	us := func(d time.Duration) float64 { return float64(d.Microseconds()) / n }
	b.ReportMetric(us(verifyT), "verify_us/proof")
	b.ReportMetric(us(memT), "memory_relay_us/proof")
	b.ReportMetric(us(netT), "network_relay_us/proof")
	b.ReportMetric(us(verifyT)/us(netT), "network_vs_verify")
	b.ReportMetric(us(memT)/us(netT), "network_vs_memory")
}
