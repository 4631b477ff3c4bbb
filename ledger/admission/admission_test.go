package admission_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/pgadmission"
	"github.com/licensed/licensed/ringverify"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newService(t testing.TB, f *admissiontest.Ledger, tags admission.TagStore, now time.Time, mod func(*admission.Config)) *admission.Service {
	t.Helper()
	cfg := admission.Config{Network: admissiontest.Network, Quota: admissiontest.Quota, Now: func() time.Time { return now }}
	if mod != nil {
		mod(&cfg)
	}
	s, err := admission.New(f.Index, tags, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func msg(s string) []byte { return []byte(s) }

// TestAdmitChecks runs one request per refusal, and requests that break two
// rules at once to pin the order of the checks.
func TestAdmitChecks(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 40)
	noon := f.Today.Add(12 * time.Hour)
	svc := newService(t, f, pgadmission.NewPostgresTags(f.DB), noon, nil)
	scope := admissiontest.Scope(noon)
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	// withMember replaces a decoy of ring with index, keeping the signer.
	withMember := func(index uint64) ([]uint64, int) {
		r := append([]uint64(nil), ring...)
		r[(pi+1)%len(r)] = index
		return r, pi
	}
	n := 0
	prove := func(ring []uint64, pi int, scope string, counter uint32) *admission.Request {
		n++
		return f.Prove(t, c, ring, pi, scope, counter, msg(fmt.Sprintf("block %d", n)))
	}
	cases := []struct {
		name string
		req  func() *admission.Request
		code string
	}{
		{"admitted", func() *admission.Request { return prove(ring, pi, scope, 0) }, ""},
		{"empty message", func() *admission.Request { r := prove(ring, pi, scope, 0); r.Message = nil; return r }, "malformed"},
		{"message too long", func() *admission.Request {
			r := prove(ring, pi, scope, 0)
			r.Message = make([]byte, admission.MaxMessageSize+1)
			return r
		}, "malformed"},
		{"short tag", func() *admission.Request { r := prove(ring, pi, scope, 0); r.Tag = r.Tag[:31]; return r }, "malformed"},
		{"signature length", func() *admission.Request { r := prove(ring, pi, scope, 0); r.Signature = r.Signature[:64]; return r }, "proof_length"},
		{"non-canonical scalar", func() *admission.Request {
			r := prove(ring, pi, scope, 0)
			for i := range 32 {
				r.Signature[i] = 0xff
			}
			return r
		}, "proof_scalar"},
		{"identity tag", func() *admission.Request { r := prove(ring, pi, scope, 0); r.Tag = make([]byte, 32); return r }, "proof_identity_tag"},
		{"empty scope", func() *admission.Request { r := prove(ring, pi, scope, 0); r.Scope = ""; return r }, "malformed"},
		{"free tier off", func() *admission.Request {
			return &admission.Request{Scope: scope, Message: msg("x")}
		}, "free_disabled"},
		{"old scope", func() *admission.Request { return prove(ring, pi, admissiontest.Scope(noon.AddDate(0, 0, -1)), 0) }, "scope_not_current"},
		{"future scope", func() *admission.Request { return prove(ring, pi, admissiontest.Scope(noon.AddDate(0, 0, 1)), 0) }, "scope_not_current"},
		{"other network", func() *admission.Request { return prove(ring, pi, "other/"+noon.Format(time.DateOnly), 0) }, "scope_not_current"},
		{"not a date", func() *admission.Request { return prove(ring, pi, admissiontest.Network+"/2026-1-1", 0) }, "scope_not_current"},
		{"counter over quota", func() *admission.Request { return prove(ring, pi, scope, admissiontest.BasicQuota) }, "counter_over_quota"},
		{"ring too small", func() *admission.Request {
			// Drop one decoy, never the signer (who may sit at any position).
			drop := (pi + 1) % len(ring)
			r := append(append([]uint64(nil), ring[:drop]...), ring[drop+1:]...)
			p := pi
			if drop < pi {
				p--
			}
			return prove(r, p, scope, 0)
		}, "ring_size_bounds"},
		{"revoked member", func() *admission.Request { r, p := withMember(f.Special["revoked"]); return prove(r, p, scope, 0) }, "member_revoked"},
		{"expired member", func() *admission.Request { r, p := withMember(f.Special["expired"]); return prove(r, p, scope, 0) }, "member_expired"},
		{"suspended member", func() *admission.Request { r, p := withMember(f.Special["suspended"]); return prove(r, p, scope, 0) }, "member_suspended"},
		{"member not yet valid", func() *admission.Request {
			r, p := withMember(f.Special["not_yet_valid"])
			return prove(r, p, scope, 0)
		}, "member_not_yet_valid"},
		{"mixed plans", func() *admission.Request { r, p := withMember(f.Special["pro"]); return prove(r, p, scope, 0) }, "ring_mixed_plans"},
		{"unknown member", func() *admission.Request {
			r := prove(ring, pi, scope, 0)
			r.Ring = append([]uint64(nil), ring...)
			r.Ring[(pi+1)%16] = 1 << 40
			return r
		}, "member_unknown"},
		{"duplicate member", func() *admission.Request {
			r := prove(ring, pi, scope, 0)
			r.Ring = append([]uint64(nil), ring...)
			r.Ring[(pi+1)%16] = r.Ring[(pi+2)%16]
			return r
		}, "ring_duplicate_member"},
		{"wrong counter", func() *admission.Request { r := prove(ring, pi, scope, 1); r.Counter = 2; return r }, "bad_signature"},
		{"other message", func() *admission.Request { r := prove(ring, pi, scope, 0); r.Message = msg("not signed"); return r }, "bad_signature"},
		{"ring order changed", func() *admission.Request {
			r := prove(ring, pi, scope, 0)
			r.Ring = append([]uint64(nil), ring...)
			r.Ring[0], r.Ring[1] = r.Ring[1], r.Ring[0]
			return r
		}, "bad_signature"},
		// Order: shape before scope, scope before members, members before
		// the quota, the quota before the signature.
		{"malformed and old scope", func() *admission.Request {
			r := prove(ring, pi, admissiontest.Scope(noon.AddDate(0, 0, -3)), 0)
			r.Tag = nil
			return r
		}, "malformed"},
		{"old scope and over quota", func() *admission.Request {
			return prove(ring, pi, admissiontest.Scope(noon.AddDate(0, 0, -3)), admissiontest.BasicQuota)
		}, "scope_not_current"},
		{"revoked member and over quota", func() *admission.Request {
			r, p := withMember(f.Special["revoked"])
			return prove(r, p, scope, admissiontest.BasicQuota)
		}, "member_revoked"},
		{"over quota and bad signature", func() *admission.Request {
			r := prove(ring, pi, scope, admissiontest.BasicQuota)
			r.Message = msg("not signed")
			return r
		}, "counter_over_quota"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := svc.Admit(context.Background(), tc.req())
			if got := admission.Code(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			if tc.code != "" {
				if err == nil || err.Error() == "" {
					t.Fatal("a refusal without a sentence")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !res.Admitted || res.Plan != admissiontest.Basic || !res.ValidUntil.Equal(f.Today.AddDate(0, 0, 30)) {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

// TestScopeSkew accepts the neighbouring day's scope only within the clock
// skew of midnight.
func TestScopeSkew(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 20)
	c := f.Customers[1]
	ring, pi := f.Ring(t, c, 16)
	cases := []struct {
		name  string
		now   time.Time
		scope time.Time
		code  string
	}{
		{"yesterday 5 minutes after midnight", f.Today.Add(5 * time.Minute), f.Today.AddDate(0, 0, -1), ""},
		{"yesterday 11 minutes after midnight", f.Today.Add(11 * time.Minute), f.Today.AddDate(0, 0, -1), "scope_not_current"},
		{"tomorrow 5 minutes before midnight", f.Today.Add(24*time.Hour - 5*time.Minute), f.Today.AddDate(0, 0, 1), ""},
		{"tomorrow 11 minutes before midnight", f.Today.Add(24*time.Hour - 11*time.Minute), f.Today.AddDate(0, 0, 1), "scope_not_current"},
		{"today at midnight", f.Today, f.Today, ""},
		{"two days ago just after midnight", f.Today.Add(time.Minute), f.Today.AddDate(0, 0, -2), "scope_not_current"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			svc := newService(t, f, admission.NewMemoryTags(), tc.now, nil)
			req := f.Prove(t, c, ring, pi, admissiontest.Scope(tc.scope), 0, msg(fmt.Sprint("skew ", i)))
			_, err := svc.Admit(context.Background(), req)
			if got := admission.Code(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
		})
	}
}

// TestQuotaAndTags uses a license's whole daily quota, then checks that a
// retry is the same success and a reuse for another message is refused.
func TestQuotaAndTags(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 20)
	now := f.Today.Add(9 * time.Hour)
	svc := newService(t, f, pgadmission.NewPostgresTags(f.DB), now, nil)
	scope := admissiontest.Scope(now)
	c := f.Customers[0]
	ctx := context.Background()
	var first *admission.Request
	for j := range uint32(admissiontest.BasicQuota) {
		ring, pi := f.Ring(t, c, 16)
		req := f.Prove(t, c, ring, pi, scope, j, msg(fmt.Sprint("use ", j)))
		if _, err := svc.Admit(ctx, req); err != nil {
			t.Fatalf("use %d: %v", j, err)
		}
		if j == 0 {
			first = req
		}
	}
	ring, pi := f.Ring(t, c, 16)
	if _, err := svc.Admit(ctx, f.Prove(t, c, ring, pi, scope, admissiontest.BasicQuota, msg("one more"))); admission.Code(err) != "counter_over_quota" {
		t.Fatalf("use over the quota: %v", err)
	}
	// The same request again: the same success.
	res, err := svc.Admit(ctx, first)
	if err != nil || !res.Admitted || res.Plan != admissiontest.Basic {
		t.Fatalf("retry: %+v, %v", res, err)
	}
	// The same tag (same license, scope, counter) in another ring, for
	// the same message: also the retry of one use.
	ring, pi = f.Ring(t, c, 16)
	if _, err := svc.Admit(ctx, f.Prove(t, c, ring, pi, scope, 0, msg("use 0"))); err != nil {
		t.Fatalf("same tag and message in another ring: %v", err)
	}
	// The same tag for another message: refused.
	if _, err := svc.Admit(ctx, f.Prove(t, c, ring, pi, scope, 0, msg("another block"))); admission.Code(err) != "tag_used" {
		t.Fatalf("tag reuse: %v", err)
	}
	// The other customer's counter 0 is theirs.
	c2 := f.Customers[1]
	ring, pi = f.Ring(t, c2, 16)
	if _, err := svc.Admit(ctx, f.Prove(t, c2, ring, pi, scope, 0, msg("another block"))); err != nil {
		t.Fatalf("other customer: %v", err)
	}
	// Pruning forgets only past days: today's tags still count.
	if _, err := svc.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	ring, pi = f.Ring(t, c, 16)
	if _, err := svc.Admit(ctx, f.Prove(t, c, ring, pi, scope, 0, msg("yet another block"))); admission.Code(err) != "tag_used" {
		t.Fatalf("tag reuse after pruning: %v", err)
	}
}

// TestConcurrentUses sends 50 uses of one tag with different messages at
// once, through two services (as two server processes would) on one
// database: exactly one is admitted.
func TestConcurrentUses(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 20)
	now := f.Today.Add(15 * time.Hour)
	svcs := []*admission.Service{
		newService(t, f, pgadmission.NewPostgresTags(f.DB), now, nil),
		newService(t, f, pgadmission.NewPostgresTags(f.DB), now, nil),
	}
	scope := admissiontest.Scope(now)
	c := f.Customers[1]
	reqs := make([]*admission.Request, 50)
	for i := range reqs {
		ring, pi := f.Ring(t, c, 16)
		reqs[i] = f.Prove(t, c, ring, pi, scope, 2, msg(fmt.Sprint("concurrent ", i)))
	}
	var admitted, used atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := svcs[i%2].Admit(context.Background(), r)
			switch admission.Code(err) {
			case "":
				if err != nil {
					t.Error(err)
				}
				admitted.Add(1)
			case "tag_used":
				used.Add(1)
			default:
				t.Errorf("unexpected: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if admitted.Load() != 1 || used.Load() != 49 {
		t.Fatalf("%d admitted, %d tag_used; want 1 and 49", admitted.Load(), used.Load())
	}
}

// TestBatch decides a batch of mixed proofs: one result per item, in order,
// including two uses of one tag inside the batch.
func TestBatch(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 20)
	now := f.Today.Add(10 * time.Hour)
	svc := newService(t, f, pgadmission.NewPostgresTags(f.DB), now, func(c *admission.Config) { c.Workers = 2 })
	scope := admissiontest.Scope(now)
	c0, c1 := f.Customers[0], f.Customers[1]
	r0, p0 := f.Ring(t, c0, 16)
	r1, p1 := f.Ring(t, c1, 16)
	bad := f.Prove(t, c0, r0, p0, scope, 1, msg("b"))
	bad.Message = msg("tampered")
	reqs := []*admission.Request{
		f.Prove(t, c0, r0, p0, scope, 0, msg("a")),
		bad,
		nil, // did not decode
		f.Prove(t, c1, r1, p1, scope, 0, msg("c")),
		f.Prove(t, c1, r1, p1, admissiontest.Scope(now.AddDate(0, 0, -2)), 0, msg("d")),
		f.Prove(t, c1, r1, p1, scope, 1, msg("e")),
		f.Prove(t, c1, r1, p1, scope, 1, msg("f")), // same tag as e
		f.Prove(t, c0, r0, p0, scope, admissiontest.BasicQuota, msg("g")),
	}
	want := []string{"", "bad_signature", "malformed", "", "scope_not_current", "", "tag_used", "counter_over_quota"}
	res, err := svc.AdmitBatch(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(reqs) {
		t.Fatalf("%d results for %d proofs", len(res), len(reqs))
	}
	for i, r := range res {
		if r.Code != want[i] || r.Admitted != (want[i] == "") {
			t.Errorf("item %d: %+v, want code %q", i, r, want[i])
		}
	}
	// The batch recorded its tags: the same proofs alone give the same
	// answers.
	if _, err := svc.Admit(context.Background(), reqs[0]); err != nil {
		t.Fatalf("retry of a batch item: %v", err)
	}
	if _, err := svc.Admit(context.Background(), reqs[6]); admission.Code(err) != "tag_used" {
		t.Fatalf("reuse of a batch tag: %v", err)
	}
}

// TestProofOfWork checks the paid and free proofs of work.
func TestProofOfWork(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 20)
	now := f.Today.Add(11 * time.Hour)
	svc := newService(t, f, pgadmission.NewPostgresTags(f.DB), now, func(c *admission.Config) {
		c.PoWDifficulty, c.FreeDifficulty, c.PoWWindow = 8, 12, time.Minute
	})
	scope := admissiontest.Scope(now)
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	n := 0
	paid := func(pow func(r *admission.Request) *admission.PoW) *admission.Request {
		n++
		r := f.Prove(t, c, ring, pi, scope, uint32(n%admissiontest.BasicQuota), msg(fmt.Sprint("pow ", n)))
		r.PoW = pow(r)
		return r
	}
	solve := func(r *admission.Request, tag []byte, at time.Time, bits int) *admission.PoW {
		return mustSolve(t, r.Scope, r.Message, tag, at.Unix(), bits, 0)
	}
	// weak finds a nonce that meets 8 bits but not 12.
	weak := func(m []byte, at time.Time) *admission.PoW {
		for s := uint64(0); ; s++ {
			p := mustSolve(t, scope, m, nil, at.Unix(), 8, s)
			if admission.LeadingZeroBits(admission.PoWHash(scope, m, nil, p.Timestamp, p.Nonce)) < 12 {
				return p
			}
			s = bytesToUint(p.Nonce)
		}
	}
	cases := []struct {
		name string
		req  func() *admission.Request
		code string
		plan string
	}{
		{"paid with proof of work", func() *admission.Request {
			return paid(func(r *admission.Request) *admission.PoW { return solve(r, r.Tag, now, 8) })
		}, "", admissiontest.Basic},
		{"paid without", func() *admission.Request { return paid(func(*admission.Request) *admission.PoW { return nil }) }, "pow_required", ""},
		{"paid stale", func() *admission.Request {
			return paid(func(r *admission.Request) *admission.PoW { return solve(r, r.Tag, now.Add(-2*time.Minute), 8) })
		}, "pow_stale", ""},
		{"paid from the future", func() *admission.Request {
			return paid(func(r *admission.Request) *admission.PoW { return solve(r, r.Tag, now.Add(2*time.Minute), 8) })
		}, "pow_stale", ""},
		{"paid over another tag", func() *admission.Request {
			return paid(func(r *admission.Request) *admission.PoW {
				for s := uint64(0); ; s++ {
					p := solve(r, nil, now, 8)
					p.Nonce[0] ^= byte(s)
					if admission.LeadingZeroBits(admission.PoWHash(r.Scope, r.Message, r.Tag, p.Timestamp, p.Nonce)) < 8 {
						return p
					}
				}
			})
		}, "pow_invalid", ""},
		{"free", func() *admission.Request {
			m := msg("free block")
			return &admission.Request{Scope: scope, Message: m, PoW: mustSolve(t, scope, m, nil, now.Unix(), 12, 0)}
		}, "", admission.FreePlan},
		{"free replayed", func() *admission.Request {
			m := msg("free block")
			return &admission.Request{Scope: scope, Message: m, PoW: mustSolve(t, scope, m, nil, now.Unix(), 12, 0)}
		}, "", admission.FreePlan},
		{"free at the paid difficulty", func() *admission.Request {
			m := msg("free block 2")
			return &admission.Request{Scope: scope, Message: m, PoW: weak(m, now)}
		}, "pow_invalid", ""},
		{"free without proof of work", func() *admission.Request {
			return &admission.Request{Scope: scope, Message: msg("free block 3")}
		}, "pow_required", ""},
		{"free with a counter", func() *admission.Request {
			m := msg("free block 4")
			return &admission.Request{Scope: scope, Counter: 1, Message: m, PoW: mustSolve(t, scope, m, nil, now.Unix(), 12, 0)}
		}, "malformed", ""},
		{"free with an old scope", func() *admission.Request {
			m := msg("free block 5")
			old := admissiontest.Scope(now.AddDate(0, 0, -1))
			return &admission.Request{Scope: old, Message: m, PoW: mustSolve(t, old, m, nil, now.Unix(), 12, 0)}
		}, "scope_not_current", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := svc.Admit(context.Background(), tc.req())
			if got := admission.Code(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			if tc.code == "" && (err != nil || res.Plan != tc.plan) {
				t.Fatalf("result %+v, %v; want plan %q", res, err, tc.plan)
			}
		})
	}
}

func bytesToUint(b []byte) uint64 {
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

func TestLeadingZeroBits(t *testing.T) {
	cases := []struct {
		name string
		h    [32]byte
		want int
	}{
		{"first bit set", [32]byte{0x80}, 0},
		{"one zero bit", [32]byte{0x40}, 1},
		{"eight zero bits", [32]byte{0x00, 0xff}, 8},
		{"across a word", [32]byte{8: 0x01}, 71},
		{"last bit", [32]byte{31: 0x01}, 255},
		{"all zero", [32]byte{}, 256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := admission.LeadingZeroBits(tc.h); got != tc.want {
				t.Fatalf("%d, want %d", got, tc.want)
			}
		})
	}
}

// TestPoWHashInput pins the hash input: the encoding matches the documented
// concatenation, the package documentation's vector is this one, and a
// change of any field changes the hash.
func TestPoWHashInput(t *testing.T) {
	scope, m, tag, nonce := "test/2026-11-22", msg("block"), bytes.Repeat([]byte{7}, 32), []byte{1, 2, 3, 4, 5, 6, 7, 8}
	var in []byte
	in = append(in, "lic/v1/pow"...)
	in = append(in, byte(len(scope)))
	in = append(in, scope...)
	in = append(in, 0, 5)
	in = append(in, m...)
	in = append(in, tag...)
	in = append(in, 0, 0, 0, 0, 0x69, 0x21, 0x7a, 0x00) // 1763801600
	in = append(in, nonce...)
	got := admission.PoWHash(scope, m, tag, 1763801600, nonce)
	if want := sha256Sum(in); got != want {
		t.Fatalf("PoWHash %x, want %x", got, want)
	}
	if hex := fmt.Sprintf("%x", got); hex != "0d4be261fb9cece99fe3bc93e304f1ad16fb96eab274ac26b762b12c5656b9f0" {
		t.Fatalf("PoWHash %s, not the package documentation's vector", hex)
	}
	cases := []struct {
		name string
		h    [32]byte
	}{
		{"neighbouring day", admission.PoWHash("test/2026-11-21", m, tag, 1763801600, nonce)},
		{"other network", admission.PoWHash("tesu/2026-11-22", m, tag, 1763801600, nonce)},
		// The length prefixes keep field boundaries: moving a byte from
		// the scope to the message is another input.
		{"byte moved from scope to message", admission.PoWHash("test/2026-11-2", append([]byte("2"), m...), tag, 1763801600, nonce)},
		{"other message", admission.PoWHash(scope, msg("blocl"), tag, 1763801600, nonce)},
		{"no tag", admission.PoWHash(scope, m, nil, 1763801600, nonce)},
		{"other timestamp", admission.PoWHash(scope, m, tag, 1763801601, nonce)},
		{"other nonce", admission.PoWHash(scope, m, tag, 1763801600, []byte{1, 2, 3, 4, 5, 6, 7, 9})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.h == got {
				t.Fatal("the same hash")
			}
		})
	}
}

func TestDecodeRequest(t *testing.T) {
	cases := []struct {
		name, body string
		ok         bool
	}{
		{"full", `{"scope":"test/2026-11-22","counter":1,"message":"AQID","ring":[1,2],"tag":"AAAA","signature":"AAAA","pow":{"timestamp":1,"nonce":"AAAAAAAAAAA="}}`, true},
		{"free", `{"scope":"test/2026-11-22","message":"AQID","pow":{"timestamp":1,"nonce":"AAAAAAAAAAA="}}`, true},
		{"unknown field", `{"scope":"s","message":"AQID","extra":1}`, false},
		{"negative counter", `{"scope":"s","counter":-1,"message":"AQID"}`, false},
		{"counter too large", `{"scope":"s","counter":4294967296,"message":"AQID"}`, false},
		{"fractional counter", `{"scope":"s","counter":1.5,"message":"AQID"}`, false},
		{"url-safe base64", `{"scope":"s","message":"-_-_"}`, false},
		{"unpadded base64", `{"scope":"s","message":"AQI"}`, false},
		{"negative index", `{"scope":"s","message":"AQID","ring":[-1]}`, false},
		{"trailing data", `{"scope":"s","message":"AQID"} {}`, false},
		{"array", `[]`, false},
		{"empty", ``, false},
		{"truncated", `{"scope":"s"`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := admission.DecodeRequest([]byte(tc.body))
			if (err == nil) != tc.ok {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if err != nil && admission.Code(err) != "malformed" {
				t.Fatalf("code %q", admission.Code(err))
			}
		})
	}
}

func TestDecodeBatch(t *testing.T) {
	big := `{"proofs":[` + string(bytes.Repeat([]byte(`{},`), admission.MaxBatch)) + `{}]}`
	cases := []struct {
		name, body string
		n          int
		code       string
	}{
		{"two", `{"proofs":[{"scope":"s"},{"nonsense":1}]}`, 2, ""},
		{"empty list", `{"proofs":[]}`, 0, ""},
		{"no proofs", `{}`, 0, "malformed"},
		{"too many", big, 0, "batch_too_large"},
		{"not an object", `"x"`, 0, "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raws, err := admission.DecodeBatch([]byte(tc.body))
			if admission.Code(err) != tc.code || (err == nil && len(raws) != tc.n) {
				t.Fatalf("%d proofs, err %v; want %d, %q", len(raws), err, tc.n, tc.code)
			}
		})
	}
}

// FuzzDecodeRequest checks that decoding never panics, that every error is
// "malformed", and that a decoded request encodes and decodes to itself.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"scope":"test/2026-11-22","counter":1,"message":"AQID","ring":[1,2],"tag":"AAAA","signature":"AAAA","pow":{"timestamp":1,"nonce":"AAAAAAAAAAA="}}`))
	f.Add([]byte(`{"scope":"s","message":"AQID"}`))
	f.Add([]byte(`{"scope":"s","counter":-1}`))
	f.Add([]byte(`{"ring":[18446744073709551615]}`))
	f.Add([]byte(`{"pow":null,"ring":null}`))
	f.Add([]byte(`{} []`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := admission.DecodeRequest(b)
		if err != nil {
			if admission.Code(err) != "malformed" {
				t.Fatalf("code %q for %v", admission.Code(err), err)
			}
			return
		}
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := admission.DecodeRequest(enc)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", enc, err)
		}
		enc2, _ := json.Marshal(r2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("not stable: %s != %s", enc, enc2)
		}
	})
}

// FuzzDecodeBatch checks the batch decoder the same way.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(`{"proofs":[{"scope":"s"},{"nonsense":1}]}`))
	f.Add([]byte(`{"proofs":null}`))
	f.Add([]byte(`{"proofs":[1,"x",null]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		raws, err := admission.DecodeBatch(b)
		if err != nil {
			if c := admission.Code(err); c != "malformed" && c != "batch_too_large" {
				t.Fatalf("code %q", c)
			}
			return
		}
		if len(raws) > admission.MaxBatch {
			t.Fatalf("%d proofs", len(raws))
		}
		for _, raw := range raws {
			admission.DecodeRequest(raw)
		}
	})
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }

// countingLicenses counts the ring members looked up.
type countingLicenses struct {
	admission.Licenses
	lookups atomic.Int64
}

func (c *countingLicenses) Member(index uint64) (ringverify.Member, error) {
	c.lookups.Add(1)
	return c.Licenses.Member(index)
}

// TestAdmitLooksUpEachMemberOnce checks that a decision looks each ring
// member up once (the checks of step 3 and the signature of step 5 share
// them), stops looking at the first member refused, and names that member.
func TestAdmitLooksUpEachMemberOnce(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 40)
	noon := f.Today.Add(12 * time.Hour)
	lic := &countingLicenses{Licenses: f.Index}
	svc, err := admission.New(lic, admission.NewMemoryTags(), admission.Config{Network: admissiontest.Network, Quota: admissiontest.Quota, Now: func() time.Time { return noon }})
	if err != nil {
		t.Fatal(err)
	}
	scope := admissiontest.Scope(noon)
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	at := (pi + 1) % 16 // where a decoy is replaced
	withMember := func(index uint64) []uint64 {
		r := slices.Clone(ring)
		r[at] = index
		return r
	}
	n := 0
	proveAt := func(ring []uint64, pi int, counter uint32) *admission.Request {
		n++
		return f.Prove(t, c, ring, pi, scope, counter, msg(fmt.Sprint("lookups ", n)))
	}
	prove := func(ring []uint64, counter uint32) *admission.Request { return proveAt(ring, pi, counter) }
	// The ring without the decoy at at (never the signer, who may sit at
	// any position, even the last), and the signer's position in it.
	smaller, smallerPi := slices.Delete(slices.Clone(ring), at, at+1), pi
	if at < pi {
		smallerPi--
	}
	cases := []struct {
		name    string
		req     *admission.Request
		code    string
		lookups int64
		says    string // in the refusal's sentence
	}{
		{"admitted", prove(ring, 0), "", 16, ""},
		{"bad signature", func() *admission.Request { r := prove(ring, 0); r.Message = msg("other"); return r }(), "bad_signature", 16, ""},
		{"over quota", prove(ring, admissiontest.BasicQuota), "counter_over_quota", 16, ""},
		{"revoked member", prove(withMember(f.Special["revoked"]), 0), "member_revoked", int64(at) + 1,
			fmt.Sprintf("(ring position %d, ledger index %d): pick the ring from GET /v1/licenses/valid", at, f.Special["revoked"])},
		{"unknown member", func() *admission.Request { r := prove(ring, 0); r.Ring = withMember(1 << 40); return r }(), "member_unknown", int64(at) + 1,
			fmt.Sprintf("(ring position %d, ledger index %d)", at, uint64(1<<40))},
		{"duplicate member", func() *admission.Request { r := prove(ring, 0); r.Ring = withMember(ring[(at+1)%16]); return r }(), "ring_duplicate_member", 0,
			fmt.Sprintf("ledger index %d)", ring[(at+1)%16])},
		{"ring too small", proveAt(smaller, smallerPi, 0), "ring_size_bounds", 0, "the ring has 15 members; this server accepts 16 to 16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lic.lookups.Store(0)
			_, err := svc.Admit(context.Background(), tc.req)
			if got := admission.Code(err); got != tc.code {
				t.Fatalf("code %q (%v), want %q", got, err, tc.code)
			}
			if got := lic.lookups.Load(); got != tc.lookups {
				t.Fatalf("%d member lookups, want %d", got, tc.lookups)
			}
			if tc.says != "" && !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("the refusal says %q, want it to say %q", err, tc.says)
			}
		})
	}
	lic.lookups.Store(0)
	batch := []*admission.Request{prove(ring, 1), prove(ring, 2), prove(withMember(f.Special["expired"]), 3)}
	res, err := svc.AdmitBatch(context.Background(), batch)
	if err != nil || !res[0].Admitted || !res[1].Admitted || res[2].Code != "member_expired" {
		t.Fatalf("batch: %+v, %v", res, err)
	}
	if got, want := lic.lookups.Load(), int64(16+16+at+1); got != want {
		t.Fatalf("the batch made %d member lookups, want %d", got, want)
	}
}

// mustSolve is admission.SolvePoW for tests.
func mustSolve(t *testing.T, scope string, msg, tag []byte, timestamp int64, difficulty int, start uint64) *admission.PoW {
	t.Helper()
	p, err := admission.SolvePoW(t.Context(), scope, msg, tag, timestamp, difficulty, start)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSolvePoWStops: a search that would take 2^64 hashes ends with the
// context.
func TestSolvePoWStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if p, err := admission.SolvePoW(ctx, "test/2026-11-22", []byte("m"), nil, 1, 64, 0); !errors.Is(err, context.Canceled) || p != nil {
		t.Fatalf("SolvePoW = %v, %v; want context.Canceled", p, err)
	}
}
