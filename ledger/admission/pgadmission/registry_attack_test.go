package pgadmission_test

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/pgadmission"
	"github.com/licensed/licensed/ringverify"
)

// Attack tests of the tag registry, from a hostile review: each failed on
// the registry's first version (main at 2d9a5bc).

// TestAttackSameRoundForgeryBurnsTag: a forged registration and an honest
// use of the same key in ONE round trip (one batch here; across relays and
// POST /v1/admit the groupcommit merges concurrent calls into one round just
// the same). The record statement returns the row the statement itself
// inserted through `ins`, with proof NULL (the CASE only reads a.proof from
// the snapshot, which does not see the forgery), so the honest use sees an
// "already verified" holder and is refused tag_used without the forgery
// ever being verified. The forger burns the license's tag.
func TestAttackSameRoundForgeryBurnsTag(t *testing.T) {
	rf := newRegistryFixture(t)
	f, svc := rf.f, rf.svcs[0]
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	scope := admissiontest.Scope(time.Now())
	honest := f.Prove(t, c, ring, pi, scope, 0, []byte("honest block"))
	forgery := forged(honest, "forged block")
	res, err := svc.Register(context.Background(), []*admission.Request{forgery, honest}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res[1].Admitted {
		t.Errorf("the honest registration, in the same round as a forgery of its tag: %+v, want admitted (the forgery does not verify)", res[1])
	}
	// Store level: the held use is reported verified (Proof nil) though its
	// row still holds the forgery's proof.
	st := pgadmission.NewPostgresTags(rf.db)
	h2 := f.Prove(t, c, ring, pi, scope, 1, []byte("honest block 2"))
	mk := func(r *admission.Request, proof bool) admission.Use {
		u := admission.Use{Scope: r.Scope, Day: time.Now().UTC().Truncate(24 * time.Hour), Counter: r.Counter, Tag: [32]byte(r.Tag)}
		copy(u.MsgHash[:], r.Message) // distinct per message, enough here
		if proof {
			u.Proof = admission.EncodeProof(r)
		}
		return u
	}
	claims, err := st.Claim(context.Background(), []admission.Use{mk(forged(h2, "forged 2"), true), mk(h2, false)})
	if err != nil {
		t.Fatal(err)
	}
	if claims[1].Admitted || claims[1].Held.Proof == nil {
		t.Errorf("Claim in one round: the conflicting use was told the holder is verified (Held.Proof nil, admitted=%v), but the row holds an unverified proof", claims[1].Admitted)
	}
}

// TestAttackMidnightSkewDoubleUse: a license holder gets two messages
// admitted network-wide for one tag. At 23:55 UTC, tomorrow's scope is
// current (ClockSkew). The holder signs M1 for tomorrow's scope with a ring
// holding a license that expires at midnight (valid now: every relay and
// the server's own check admit it), and a relay registers it (first wins,
// unverified). Then it signs M2 (same scope, counter, so the same tag) with
// another ring. The conflict verifies M2 at now (valid), then the held M1
// "as registered", at NOON of its scope's day, when a member has expired:
// M1 is judged a forgery and replaced. M1 was admitted by its relay, M2
// now by the server: two uses of one tag.
func TestAttackMidnightSkewDoubleUse(t *testing.T) {
	db := newRegistryFixture(t)
	f := db.f
	today := f.Today
	clock := func() time.Time { return today.Add(-5 * time.Minute) } // 23:55 yesterday
	cfg := admission.Config{Network: admissiontest.Network, Quota: admissiontest.Quota, Now: clock}
	svc, err := admission.New(f.Index, pgadmission.NewPostgresTags(db.db), cfg)
	if err != nil {
		t.Fatal(err)
	}
	relay, err := admission.New(f.Index, admission.NewMemoryTags(), cfg) // a relay's local check
	if err != nil {
		t.Fatal(err)
	}
	c := f.Customers[0]
	scope := admissiontest.Scope(today) // tomorrow, seen from 23:55
	ring1, pi := f.Ring(t, c, 16)
	ring1[(pi+1)%len(ring1)] = f.Special["expired"] // expires at midnight: valid now
	m1 := f.Prove(t, c, ring1, pi, scope, 0, []byte("M1"))
	if _, err := relay.Admit(context.Background(), m1); err != nil {
		t.Fatalf("M1 is valid at 23:55 (the relay admits it): %v", err)
	}
	if res := register(t, svc, m1); !res.Admitted {
		t.Fatalf("M1 registered first: %+v", res)
	}
	ring2, pi2 := f.Ring(t, c, 16)
	m2 := f.Prove(t, c, ring2, pi2, scope, 0, []byte("M2"))
	if res := register(t, svc, m2); res.Admitted || res.Code != "tag_used" {
		t.Fatalf("M2, same tag as the admitted and validly signed M1: %+v, want tag_used (two messages admitted for one tag)", res)
	}
}

// TestAttackHugeProofFailsRound: with ring-max 1024 (allowed by the
// server's config), a registration of a 1024-member ring and a 1024-byte
// message encodes to 42,020 bytes; migration 016 checks proof <= 40000, so
// the INSERT of the whole round fails: every registration and admission
// merged into it gets an error (HTTP 500), not just the oversized one.
func TestAttackHugeProofFailsRound(t *testing.T) {
	rf := newRegistryFixture(t)
	f := rf.f
	svc, err := admission.New(f.Index, pgadmission.NewPostgresTags(rf.db), admission.Config{Network: admissiontest.Network, Quota: admissiontest.Quota, MaxRingSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	scope := admissiontest.Scope(time.Now())
	honest := f.Prove(t, c, ring, pi, scope, 0, []byte("honest block"))
	other := f.Prove(t, c, ring, pi, scope, 1, []byte("x"))
	huge := &admission.Request{Scope: scope, Counter: 2, Message: make([]byte, admission.MaxMessageSize), Tag: other.Tag}
	for i := range 1024 {
		huge.Ring = append(huge.Ring, uint64(1_000_000+i)) // never looked up
	}
	huge.Signature = make([]byte, 32*1025) // zero scalars: canonical
	if n := len(admission.EncodeProof(huge)); n <= 40000 {
		t.Fatalf("encoded %d bytes", n)
	}
	res, err := svc.Register(context.Background(), []*admission.Request{honest, huge}, nil)
	if err != nil {
		t.Fatalf("one oversized registration failed the whole round (the server answers 500, and other clients' uses merged into the round fail too): %v", err)
	}
	if !res[0].Admitted {
		t.Errorf("honest: %+v", res[0])
	}
}

// TestAttackSameMessageGarbageProofDoubleUse: a hostile relay that sees a
// block (T, M) registers the same message M with a garbage signature before
// the honest relays do. Every honest registration or admission of M is
// then "the same message again", a success that leaves the garbage proof
// held, unverified. When the license holder later uses the tag for another
// message M2 (validly signed), the conflict verifies the held garbage,
// finds it invalid and REPLACES it: M and M2 are both admitted network-wide
// for one tag.
func TestAttackSameMessageGarbageProofDoubleUse(t *testing.T) {
	rf := newRegistryFixture(t)
	f, svc := rf.f, rf.svcs[0]
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	scope := admissiontest.Scope(time.Now())
	m1 := f.Prove(t, c, ring, pi, scope, 0, []byte("M1"))
	garbage := *m1
	garbage.Signature = append([]byte(nil), m1.Signature...)
	garbage.Signature[0] ^= 1 // still canonical (low byte of c0), does not verify
	if res := register(t, svc, &garbage); !res.Admitted {
		t.Fatalf("garbage proof of M1, first: %+v", res)
	}
	// The honest relays and servers admit M1 itself: same message, success.
	if res := register(t, rf.svcs[1], m1); !res.Admitted {
		t.Fatalf("honest M1 registration: %+v", res)
	}
	if _, err := svc.Admit(context.Background(), m1); err != nil {
		t.Fatalf("honest M1 admission: %v", err)
	}
	m2 := f.Prove(t, c, ring, pi, scope, 0, []byte("M2"))
	if res := register(t, svc, m2); res.Admitted {
		t.Fatalf("M2 (same tag as the admitted M1) was admitted too: two messages for one tag")
	}
}

// TestAttackForgeryBilledToHonestRelay: the verification of a forged held
// registration is charged to the relay whose honest registration conflicts
// with it. A hostile relay pays 1/16 token per forgery (the registration
// price) and makes its victim pay 2 tokens per block (32x): with tokens
// short the victim's honest blocks are refused rate_limited.
func TestAttackForgeryBilledToHonestRelay(t *testing.T) {
	rf := newRegistryFixture(t)
	f, svc := rf.f, rf.svcs[0]
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	scope := admissiontest.Scope(time.Now())
	honest := f.Prove(t, c, ring, pi, scope, 0, []byte("honest"))
	var hostile, victim int
	if res, err := svc.Register(context.Background(), []*admission.Request{forged(honest, "forged")}, func() error { hostile++; return nil }); err != nil || !res[0].Admitted {
		t.Fatal(res, err)
	}
	if res, err := svc.Register(context.Background(), []*admission.Request{honest}, func() error { victim++; return nil }); err != nil || !res[0].Admitted {
		t.Fatal(res, err)
	}
	if victim > 1 {
		t.Fatalf("the honest relay was charged %d verifications (its own proof and the forger's), the forger %d", victim, hostile)
	}
}

// TestAttackLaggingIndexReplacesValidHolder: two server replicas follow
// the ledger into their indices every 500 ms; relays' mirrors sync from
// tiles read from the database, so a relay (and a replica) can know a new
// license another replica does not yet. A license holder signs M1 with a
// ring holding the newest license; it is registered (valid, unverified).
// M2 with the same tag is registered at the lagging replica: verifying the
// held M1 fails with unknown_member, which resolve takes for a forgery,
// and M1 is replaced: two messages admitted for one tag.
func TestAttackLaggingIndexReplacesValidHolder(t *testing.T) {
	rf := newRegistryFixture(t)
	f := rf.f
	ctx := context.Background()
	lag := ledger.NewIndex()
	if err := lag.Sync(ctx, f.Ledger.Store()); err != nil {
		t.Fatal(err)
	}
	acct, err := issuer.NewAccount(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	today := f.Today
	pay := issuer.Payload{Plan: admissiontest.Basic, NotBefore: today.AddDate(0, 0, -1), NotAfter: today.AddDate(0, 0, 30), DailyQuota: admissiontest.BasicQuota}
	out, err := issuer.Mint(rand.Reader, acct.Address(), pay)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := f.Ledger.Append(ctx, &ledger.LicenseEntry{Plan: pay.Plan, NotBefore: pay.NotBefore, NotAfter: pay.NotAfter, R: out.R, P: out.P, ViewTag: out.ViewTag, Sealed: out.Sealed})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Index.Sync(ctx, f.Ledger.Store()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Index.Member(idx); err != nil {
		t.Fatalf("the new license is not in the up-to-date index: %v", err)
	}
	cfg := admission.Config{Network: admissiontest.Network, Quota: admissiontest.Quota}
	fresh, err := admission.New(f.Index, pgadmission.NewPostgresTags(rf.db), cfg)
	if err != nil {
		t.Fatal(err)
	}
	lagging, err := admission.New(lag, pgadmission.NewPostgresTags(rf.db), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := f.Customers[0]
	scope := admissiontest.Scope(time.Now())
	ring1, pi := f.Ring(t, c, 16)
	if !slices.Contains(ring1, idx) {
		ring1[(pi+1)%len(ring1)] = idx
	}
	m1 := f.Prove(t, c, ring1, pi, scope, 0, []byte("M1"))
	if _, err := fresh.Admit(ctx, m1); err != nil { // M1 is valid (and now held, verified)...
		t.Fatalf("M1: %v", err)
	}
	// ...but a relay registers it instead: undo the server's admission and
	// register it as a relay would (first wins, unverified).
	if _, err := rf.db.Exec(ctx, `delete from admission_tags`); err != nil {
		t.Fatal(err)
	}
	if res := register(t, fresh, m1); !res.Admitted {
		t.Fatalf("M1 registered: %+v", res)
	}
	ring2, pi2 := f.Ring(t, c, 16)
	for slices.Contains(ring2, idx) { // M2's ring: licenses every replica knows
		ring2, pi2 = f.Ring(t, c, 16)
	}
	m2 := f.Prove(t, c, ring2, pi2, scope, 0, []byte("M2"))
	if res := register(t, lagging, m2); res.Admitted {
		t.Fatalf("M2 at the lagging replica: admitted (the valid held M1 was replaced): two messages for one tag")
	}
}

// cancelingIndex is the fixture's index, canceling a context when a given
// ledger index is looked up.
type cancelingIndex struct {
	*ledger.Index
	at     uint64
	cancel atomic.Value // func()
}

func (c *cancelingIndex) Member(i uint64) (ringverify.Member, error) {
	if i == c.at {
		if f, ok := c.cancel.Load().(context.CancelFunc); ok && f != nil {
			f()
		}
	}
	return c.Index.Member(i)
}

// TestAttackCanceledConflictAdmitted: resolve checks ctx.Err() after
// verifying the held registration, and returns (err, nil) with err the
// verification's result. When the held proof VERIFIES (err nil) but the
// request's context ended meanwhile, the conflicting use is answered
// admitted (nil) without Replace: Register says {"admitted": true} (and
// counts "registered") for a second message of a tag whose valid holder
// stays. Had the held proof failed, the new use would instead be refused
// with the held proof's code.
func TestAttackCanceledConflictAdmitted(t *testing.T) {
	rf := newRegistryFixture(t)
	f := rf.f
	c := f.Customers[0]
	scope := admissiontest.Scope(time.Now())
	ring1, pi1 := f.Ring(t, c, 16)
	var ring2 []uint64
	var pi2 int
	var only1 uint64
	for ring2 == nil {
		r2, p2 := f.Ring(t, c, 16)
		for _, i := range ring1 {
			if !slices.Contains(r2, i) {
				ring2, pi2, only1 = r2, p2, i
				break
			}
		}
	}
	ix := &cancelingIndex{Index: f.Index, at: only1}
	svc, err := admission.New(ix, pgadmission.NewPostgresTags(rf.db), admission.Config{Network: admissiontest.Network, Quota: admissiontest.Quota})
	if err != nil {
		t.Fatal(err)
	}
	m1 := f.Prove(t, c, ring1, pi1, scope, 0, []byte("M1"))
	if res := register(t, svc, m1); !res.Admitted {
		t.Fatal(res)
	}
	m2 := f.Prove(t, c, ring2, pi2, scope, 0, []byte("M2"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ix.cancel.Store(cancel) // fires while the held M1 is being verified
	res, err := svc.Register(ctx, []*admission.Request{m2}, nil)
	if errors.Is(err, context.Canceled) {
		return // the caller is gone: no verdict, which is right
	}
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Admitted {
		t.Fatalf("M2, conflicting with the valid held M1, was answered admitted because the context ended during M1's verification (registrations: %v)", svc.Registrations())
	}
}
