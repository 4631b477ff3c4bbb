package web

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/pgadmission"
	"github.com/licensed/licensed/ledger/relay"
)

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
	f := admissiontest.New(b, pgtest.Pool(b), 40)
	f.StopSequencer()
	quota := func(plan string) (uint32, bool) { return 1 << 20, plan == admissiontest.Basic }
	svc, err := admission.New(f.Index, pgadmission.NewPostgresTags(f.DB), admission.Config{Network: admissiontest.Network, Quota: quota})
	if err != nil {
		b.Fatal(err)
	}
	key, line, err := NewRelayKey("bench")
	if err != nil {
		b.Fatal(err)
	}
	keys, err := ParseRelayKeys([]byte(line + " rate=0\n"))
	if err != nil {
		b.Fatal(err)
	}
	s := New(Config{Admit: AdmitLimits{Keys: keys}}, Deps{DB: f.DB, Admission: svc, Ledger: &LedgerDeps{Store: f.Ledger.Store(), VerifierKey: f.VerifierKey}}, slog.New(slog.DiscardHandler))
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
	cfg := admission.Config{Network: admissiontest.Network, Quota: quota}

	scope := admissiontest.Scope(time.Now())
	reqs := make([]*admission.Request, 2048)
	var wg sync.WaitGroup
	for w := range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := w; i < len(reqs); i += runtime.GOMAXPROCS(0) {
				c := f.Customers[i%2]
				ring, pi := f.Ring(b, c, 16)
				reqs[i] = f.Prove(b, c, ring, pi, scope, uint32(i/2), []byte(fmt.Sprintf("bench block %d", i)))
			}
		})
	}
	wg.Wait()
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
