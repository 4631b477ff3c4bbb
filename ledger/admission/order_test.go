package admission_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/admission"
)

// TestPoWBeforeVerification: with a proof of work required, a forged proof
// without the work (or with too little, or stale) is refused before any
// member is looked up or any signature verified; only a request with the
// work reaches the lookups, and only one that also passes the members and
// the quota reaches the verification. Refusals are proved cheap by counting
// what the Service did (member lookups, Verifications), not by timing.
func TestPoWBeforeVerification(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 40)
	noon := f.Today.Add(12 * time.Hour)
	lic := &countingLicenses{Licenses: f.Index}
	svc, err := admission.New(lic, admission.NewMemoryTags(), admission.Config{
		Network: admissiontest.Network, Quota: admissiontest.Quota, Now: func() time.Time { return noon },
		PoWDifficulty: 8, PoWWindow: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	scope := admissiontest.Scope(noon)
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	n := 0
	prove := func(ring []uint64, counter uint32) *admission.Request {
		n++
		return f.Prove(t, c, ring, pi, scope, counter, msg(fmt.Sprint("order ", n)))
	}
	withPoW := func(r *admission.Request) *admission.Request {
		r.PoW = mustSolve(t, r.Scope, r.Message, r.Tag, noon.Unix(), 8, 0)
		return r
	}
	// forged is a proof of another message: well formed, canonical, and
	// not a signature of the message it is sent with.
	forged := func() *admission.Request { r := prove(ring, 0); r.Message = msg(fmt.Sprint("forged ", n)); return r }
	// weak is work that misses the difficulty for r.
	weak := func(r *admission.Request) *admission.Request {
		for s := uint64(0); ; s++ {
			p := &admission.PoW{Timestamp: noon.Unix(), Nonce: []byte{0, 0, 0, 0, 0, 0, 0, byte(s)}}
			if admission.LeadingZeroBits(admission.PoWHash(r.Scope, r.Message, r.Tag, p.Timestamp, p.Nonce)) < 8 {
				r.PoW = p
				return r
			}
		}
	}
	revoked := slices.Clone(ring)
	revoked[(pi+1)%16] = f.Special["revoked"]
	cases := []struct {
		name          string
		req           *admission.Request
		code          string
		lookups       int64
		verifications int64
	}{
		{"forged without proof of work", forged(), "pow_required", 0, 0},
		{"forged with too little work", weak(forged()), "pow_invalid", 0, 0},
		{"forged with stale work", func() *admission.Request {
			r := forged()
			r.PoW = mustSolve(t, r.Scope, r.Message, r.Tag, noon.Add(-2*time.Minute).Unix(), 8, 0)
			return r
		}(), "pow_stale", 0, 0},
		{"old scope without proof of work", func() *admission.Request {
			n++
			return f.Prove(t, c, ring, pi, admissiontest.Scope(noon.AddDate(0, 0, -2)), 0, msg(fmt.Sprint("order ", n)))
		}(), "scope_not_current", 0, 0},
		{"revoked member without proof of work", prove(revoked, 0), "pow_required", 0, 0},
		{"over quota without proof of work", prove(ring, admissiontest.BasicQuota), "pow_required", 0, 0},
		{"too small a ring with work", func() *admission.Request {
			r := prove(ring, 0)
			r.Ring, r.Signature = r.Ring[:15], r.Signature[:32+32*15]
			return withPoW(r)
		}(), "ring_size_bounds", 0, 0},
		{"duplicate member with work", func() *admission.Request {
			r := prove(ring, 0)
			r.Ring = slices.Clone(ring)
			r.Ring[(pi+1)%16] = r.Ring[(pi+2)%16]
			return withPoW(r)
		}(), "ring_duplicate_member", 0, 0},
		{"revoked member with work", withPoW(prove(revoked, 0)), "member_revoked", int64((pi+1)%16) + 1, 0},
		{"over quota with work", withPoW(prove(ring, admissiontest.BasicQuota)), "counter_over_quota", 16, 0},
		{"forged with work", withPoW(forged()), "bad_signature", 16, 1},
		{"admitted", withPoW(prove(ring, 0)), "", 16, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lic.lookups.Store(0)
			before := svc.Verifications()
			_, err := svc.Admit(context.Background(), tc.req)
			if got := admission.Code(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			if got := lic.lookups.Load(); got != tc.lookups {
				t.Errorf("%d member lookups, want %d", got, tc.lookups)
			}
			if got := svc.Verifications() - before; got != tc.verifications {
				t.Errorf("%d signatures verified, want %d", got, tc.verifications)
			}
		})
	}

	// A batch of forged proofs without work: every one refused, nothing
	// looked up, nothing verified.
	batch := make([]*admission.Request, 64)
	for i := range batch {
		batch[i] = forged()
	}
	lic.lookups.Store(0)
	before := svc.Verifications()
	res, err := svc.AdmitBatch(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Code != "pow_required" {
			t.Fatalf("batch item %d: %+v, want pow_required", i, r)
		}
	}
	if lic.lookups.Load() != 0 || svc.Verifications() != before {
		t.Fatalf("the forged batch cost %d lookups and %d verifications, want none", lic.lookups.Load(), svc.Verifications()-before)
	}
}

// TestPoWBindsScope: a proof of work is worth nothing outside the scope it
// was made for, even in the neighbouring day's scope that the server
// accepts around midnight, for the free tier and for paid proofs.
func TestPoWBindsScope(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 20)
	// Five minutes after midnight: yesterday's scope and today's are both
	// current.
	now := f.Today.Add(5 * time.Minute)
	svc := newService(t, f, admission.NewMemoryTags(), now, func(c *admission.Config) {
		c.PoWDifficulty, c.FreeDifficulty = 8, 12
	})
	today, yesterday := admissiontest.Scope(now), admissiontest.Scope(now.AddDate(0, 0, -1))
	// solve finds work for scope that does not happen to meet difficulty
	// in other too (a 2^-difficulty chance), so the test cannot pass by
	// luck.
	solve := func(scope, other string, m, tag []byte, difficulty int) *admission.PoW {
		for s := uint64(0); ; s++ {
			p := mustSolve(t, scope, m, tag, now.Unix(), difficulty, s)
			if admission.LeadingZeroBits(admission.PoWHash(other, m, tag, p.Timestamp, p.Nonce)) < difficulty {
				return p
			}
			s = bytesToUint(p.Nonce)
		}
	}
	free := func(scope string, m []byte, p *admission.PoW) *admission.Request {
		return &admission.Request{Scope: scope, Message: m, PoW: p}
	}
	m := msg("free block at midnight")
	freeToday := solve(today, yesterday, m, nil, 12)
	m2 := msg("another free block at midnight")
	freeYesterday := solve(yesterday, today, m2, nil, 12)

	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	paid := f.Prove(t, c, ring, pi, yesterday, 0, msg("paid block at midnight"))
	paid.PoW = solve(today, yesterday, paid.Message, paid.Tag, 8)
	cases := []struct {
		name string
		req  *admission.Request
		code string
	}{
		{"free in its own scope", free(today, m, freeToday), ""},
		{"the same free work in the neighbouring scope", free(yesterday, m, freeToday), "pow_invalid"},
		{"free work of yesterday in its own scope", free(yesterday, m2, freeYesterday), ""},
		{"free work of yesterday today", free(today, m2, freeYesterday), "pow_invalid"},
		{"free work in another network", free("other/"+now.Format(time.DateOnly), m, freeToday), "scope_not_current"},
		{"paid proof of yesterday with today's work", paid, "pow_invalid"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.Admit(context.Background(), tc.req)
			if got := admission.Code(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
		})
	}
}
