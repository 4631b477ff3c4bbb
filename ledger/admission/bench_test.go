package admission_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/pgadmission"
	"github.com/licensed/licensed/ringverify"
)

// BenchmarkAdmit compares, on one goroutine and at ring 16, verifying a
// proof from its bytes (ParseProof + Verifier.Verify) with deciding the same
// request through the Service: with tags in memory (the checks' own cost)
// and in Postgres. The requests are replayed after a first pass, so tag
// bases are cached and the tags already recorded (a replay is a retry, fully
// checked).
func BenchmarkAdmit(b *testing.B) {
	f := admissiontest.New(b, pgtest.Pool(b), 40)
	f.StopSequencer()
	now := time.Now()
	scope := admissiontest.Scope(now)
	quota := func(plan string) (uint32, bool) { return 1 << 20, plan == admissiontest.Basic }
	reqs := make([]*admission.Request, 512)
	wire := make([][]byte, len(reqs))
	for i := range reqs {
		c := f.Customers[i%2]
		ring, pi := f.Ring(b, c, 16)
		reqs[i] = f.Prove(b, c, ring, pi, scope, uint32(i/2), []byte(fmt.Sprint("bench ", i)))
		wire[i] = append(bytes.Clone(reqs[i].Tag), reqs[i].Signature...)
	}
	v, err := ringverify.NewVerifier(ringverify.VerifierConfig{Members: f.Index})
	if err != nil {
		b.Fatal(err)
	}
	services := map[string]admission.TagStore{"memory": admission.NewMemoryTags(), "postgres": pgadmission.NewPostgresTags(f.DB)}
	ctx := context.Background()
	b.Run("verify/ring=16", func(b *testing.B) {
		for i, r := range reqs { // warm the cache
			p, _ := ringverify.ParseProof(wire[i], 16)
			v.Verify(r.Ring, r.Scope, r.Counter, r.Message, p, now)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r := reqs[i%len(reqs)]
			p, err := ringverify.ParseProof(wire[i%len(reqs)], 16)
			if err == nil {
				_, err = v.Verify(r.Ring, r.Scope, r.Counter, r.Message, p, now)
			}
			if err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	for _, name := range []string{"memory", "postgres"} {
		svc, err := admission.New(f.Index, services[name], admission.Config{Network: admissiontest.Network, Quota: quota})
		if err != nil {
			b.Fatal(err)
		}
		b.Run("admit/tags="+name+"/ring=16", func(b *testing.B) {
			for _, r := range reqs {
				if _, err := svc.Admit(ctx, r); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := svc.Admit(ctx, reqs[i%len(reqs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
