package pgadmission_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/pgadmission"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// registryFixture is a ledger of licenses and two admission services on
// one database, as two server processes would run them.
type registryFixture struct {
	f    *admissiontest.Ledger
	db   *pgxpool.Pool
	svcs [2]*admission.Service
}

func newRegistryFixture(t *testing.T) *registryFixture {
	t.Helper()
	db := pgtest.Pool(t)
	rf := &registryFixture{f: admissiontest.New(t, db, 20), db: db}
	for i := range rf.svcs {
		svc, err := admission.New(rf.f.Index, pgadmission.NewPostgresTags(db), admission.Config{Network: admissiontest.Network, Quota: admissiontest.Quota})
		if err != nil {
			t.Fatal(err)
		}
		rf.svcs[i] = svc
	}
	return rf
}

// forged is r with another message and a signature that does not verify:
// what a hostile relay registers to burn the tag it saw on r.
func forged(r *admission.Request, msg string) *admission.Request {
	q := *r
	q.Message = []byte(msg)
	return &q
}

func register(t *testing.T, svc *admission.Service, r *admission.Request) admission.Result {
	t.Helper()
	res, err := svc.Register(context.Background(), []*admission.Request{r}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

// TestRegistryFirstWins: the first registration of a tag wins without a
// verification; the same message again is the same success; the license's
// owner signing another message with the same tag is refused, after both
// proofs are verified once, and the held one is not verified again.
func TestRegistryFirstWins(t *testing.T) {
	rf := newRegistryFixture(t)
	f, svc := rf.f, rf.svcs[0]
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	scope := admissiontest.Scope(time.Now())
	first := f.Prove(t, c, ring, pi, scope, 0, []byte("first block"))
	if res := register(t, svc, first); !res.Admitted {
		t.Fatalf("first registration: %+v", res)
	}
	if res := register(t, rf.svcs[1], first); !res.Admitted {
		t.Fatalf("the same registration again, on another process: %+v", res)
	}
	if n := svc.Verifications() + rf.svcs[1].Verifications(); n != 0 {
		t.Fatalf("%d verifications on the honest path, want 0", n)
	}
	second := f.Prove(t, c, ring, pi, scope, 0, []byte("second block"))
	if res := register(t, svc, second); res.Code != "tag_used" {
		t.Fatalf("another message with the same tag: %+v, want tag_used", res)
	}
	if n := svc.Verifications(); n != 2 {
		t.Fatalf("deciding the conflict verified %d proofs, want 2 (the new one and the held one)", n)
	}
	third := f.Prove(t, c, ring, pi, scope, 0, []byte("third block"))
	if res := register(t, svc, third); res.Code != "tag_used" {
		t.Fatalf("a third message with the same tag: %+v", res)
	}
	if n := svc.Verifications(); n != 3 {
		t.Fatalf("after the held registration was confirmed, a conflict verified %d proofs in all, want 3", n)
	}
	// Through POST /v1/admit's path (Admit), the verified holder wins too.
	if _, err := svc.Admit(context.Background(), f.Prove(t, c, ring, pi, scope, 0, []byte("fourth block"))); admission.Code(err) != "tag_used" {
		t.Fatalf("Admit of another message: %v", err)
	}
	// Another counter is another tag: a use of the quota of its own.
	if res := register(t, svc, f.Prove(t, c, ring, pi, scope, 1, []byte("second block"))); !res.Admitted {
		t.Fatalf("counter 1: %+v", res)
	}
}

// TestRegistryForgeryNeverWins: a hostile relay that saw a proof registers
// its tag first with another message and a signature that does not verify.
// The honest registration (or admission) still wins, and the forger's
// message is refused afterwards.
func TestRegistryForgeryNeverWins(t *testing.T) {
	rf := newRegistryFixture(t)
	f, svc := rf.f, rf.svcs[0]
	scope := admissiontest.Scope(time.Now())
	for k, c := range f.Customers {
		ring, pi := f.Ring(t, c, 16)
		honest := f.Prove(t, c, ring, pi, scope, 0, []byte(fmt.Sprint("honest block ", k)))
		forgery := forged(honest, "forged block")
		if res := register(t, svc, forgery); !res.Admitted {
			t.Fatalf("the forgery, first: %+v (the registry does not verify the first registration)", res)
		}
		if k == 0 {
			if res := register(t, rf.svcs[1], honest); !res.Admitted {
				t.Fatalf("the honest registration after a forgery: %+v", res)
			}
		} else if _, err := rf.svcs[1].Admit(context.Background(), honest); err != nil {
			t.Fatalf("the honest admission after a forgery: %v", err)
		}
		if res := register(t, svc, forgery); res.Code != "bad_signature" {
			t.Fatalf("the forgery again, after the honest one won: %+v, want bad_signature", res)
		}
		// A forged conflict costs its sender a verification, and nothing
		// is verified twice: the key holds a verified use now.
		other := forged(honest, "another forgery")
		before := svc.Verifications()
		if res := register(t, svc, other); res.Code != "bad_signature" {
			t.Fatalf("a forged conflicting registration: %+v, want bad_signature", res)
		}
		if n := svc.Verifications() - before; n != 1 {
			t.Fatalf("a forged conflict cost %d verifications, want 1", n)
		}
	}
}

// TestRegistryCheapChecks: registrations that fail a check costing no
// lookup are refused without a write or a verification, and a registry's
// conflict verifications are charged before they run.
func TestRegistryCheapChecks(t *testing.T) {
	rf := newRegistryFixture(t)
	f, svc := rf.f, rf.svcs[0]
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	now := time.Now()
	good := f.Prove(t, c, ring, pi, admissiontest.Scope(now), 0, []byte("block"))
	stale := f.Prove(t, c, ring, pi, admissiontest.Scope(now.AddDate(0, 0, -3)), 0, []byte("block"))
	dup := *good
	dup.Ring = append([]uint64(nil), good.Ring...)
	dup.Ring[1] = dup.Ring[0]
	short := *good
	short.Signature = short.Signature[:len(short.Signature)-32]
	free := &admission.Request{Scope: good.Scope, Message: []byte("free")}
	res, err := svc.Register(context.Background(), []*admission.Request{stale, &dup, &short, free, nil}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"scope_not_current", "ring_duplicate_member", "proof_length", "malformed", "malformed"} {
		if res[i].Code != want {
			t.Errorf("registration %d: %+v, want %s", i, res[i], want)
		}
	}
	var n int
	if err := rf.db.QueryRow(context.Background(), `select count(*) from admission_tags`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("refused registrations wrote %d rows (%v)", n, err)
	}
	// charge refuses: the conflict is answered with its refusal, unverified.
	if r := register(t, svc, good); !r.Admitted {
		t.Fatal(r)
	}
	refuse := func() error { return admission.NewRefusal("rate_limited", "no tokens") }
	res, err = svc.Register(context.Background(), []*admission.Request{forged(good, "x")}, refuse)
	if err != nil || res[0].Code != "rate_limited" {
		t.Fatalf("a conflict with no tokens: %+v %v", res, err)
	}
	if svc.Verifications() != 0 {
		t.Fatalf("%d verifications with no tokens", svc.Verifications())
	}
}

// TestRegistryConcurrentUses: many uses of one tag, registered and
// admitted concurrently through two processes' services, one forgery
// among them sent first: exactly one message wins, and it is an honest one.
// Run many times.
func TestRegistryConcurrentUses(t *testing.T) {
	rf := newRegistryFixture(t)
	f := rf.f
	c := f.Customers[1]
	ring, pi := f.Ring(t, c, 16)
	scope := admissiontest.Scope(time.Now())
	const uses = 24
	for round := range 8 {
		counter := uint32(round % admissiontest.BasicQuota)
		if round >= admissiontest.BasicQuota {
			// A new day's worth of tags: clear the table between rounds
			// (the quota is 3 per scope).
			if _, err := rf.db.Exec(context.Background(), `delete from admission_tags`); err != nil {
				t.Fatal(err)
			}
		}
		reqs := make([]*admission.Request, uses)
		for i := range reqs {
			reqs[i] = f.Prove(t, c, ring, pi, scope, counter, []byte(fmt.Sprintf("round %d use %d", round, i)))
		}
		if res := register(t, rf.svcs[0], forged(reqs[0], "forged")); !res.Admitted {
			t.Fatal("the forgery, first, was refused")
		}
		var admitted atomic.Int32
		var winner atomic.Value
		var wg sync.WaitGroup
		for i, r := range reqs {
			wg.Go(func() {
				svc := rf.svcs[i%2]
				ok := false
				if i%3 == 0 {
					_, err := svc.Admit(context.Background(), r)
					if err != nil && admission.Code(err) != "tag_used" {
						t.Errorf("Admit: %v", err)
					}
					ok = err == nil
				} else {
					res, err := svc.Register(context.Background(), []*admission.Request{r}, nil)
					if err != nil {
						t.Error(err)
						return
					}
					if !res[0].Admitted && res[0].Code != "tag_used" {
						t.Errorf("Register: %+v", res[0])
					}
					ok = res[0].Admitted
				}
				if ok {
					admitted.Add(1)
					winner.Store(string(r.Message))
				}
			})
		}
		wg.Wait()
		if n := admitted.Load(); n != 1 {
			t.Fatalf("round %d: %d of %d concurrent uses of one tag were admitted, want 1", round, n, uses)
		}
		var held []byte
		var proof []byte
		if err := rf.db.QueryRow(context.Background(), `select msg_hash, proof from admission_tags where counter = $1`, int64(counter)).Scan(&held, &proof); err != nil {
			t.Fatal(err)
		}
		if proof != nil {
			t.Fatalf("round %d: the winner's row still holds an unverified proof", round)
		}
		_ = winner.Load()
	}
}

// TestRegistryRandomTagsAreCheap: registrations of tags nobody used are
// written without a verification, in one round trip per batch.
func TestRegistryRandomTagsAreCheap(t *testing.T) {
	rf := newRegistryFixture(t)
	f, svc := rf.f, rf.svcs[0]
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	base := f.Prove(t, c, ring, pi, admissiontest.Scope(time.Now()), 0, []byte("block"))
	reqs := make([]*admission.Request, admission.MaxRegistrations)
	for i := range reqs {
		q := *base
		q.Tag = make([]byte, 32)
		rand.Read(q.Tag) // not canonical encodings, mostly
		reqs[i] = &q
	}
	res, err := svc.Register(context.Background(), reqs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Admitted && r.Code != "proof_tag" && r.Code != "proof_identity_tag" {
			t.Fatalf("registration %d: %+v", i, r)
		}
	}
	if svc.Verifications() != 0 {
		t.Fatalf("%d verifications", svc.Verifications())
	}
}

// TestRegistryIndexPastTheLedger: a ring member just past this server's
// index is a retry (index_behind: another process may know it); one far
// past any round is refused for good (member_unknown), so a relay does not
// retry it for ever. Neither is written.
func TestRegistryIndexPastTheLedger(t *testing.T) {
	rf := newRegistryFixture(t)
	f, svc := rf.f, rf.svcs[0]
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	r := f.Prove(t, c, ring, pi, admissiontest.Scope(time.Now()), 0, []byte("block"))
	size := f.Index.Size()
	for k, want := range map[uint64]string{size + 3: "index_behind", size + 1<<40: "member_unknown"} {
		q := *r
		q.Ring = append([]uint64(nil), r.Ring...)
		q.Ring[(pi+1)%len(q.Ring)] = k
		if res := register(t, svc, &q); res.Code != want {
			t.Fatalf("ring member %d with an index of %d: %+v, want %s", k, size, res, want)
		}
	}
	var n int
	if err := rf.db.QueryRow(context.Background(), `select count(*) from admission_tags`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows written (%v)", n, err)
	}
}
