// Package admissiontest builds a real license ledger for the tests of
// admission, its HTTP endpoints and the relay client: licenses minted with
// issuer.Mint to many accounts, appended through the ledger's sequencer on a
// pgtest database, and an index synced from it. Two customers' licenses are
// opened with their accounts, so tests can sign ring proofs with them. It
// sits in internal, not under ledger/admission, because it needs issuer to
// mint, and the ledger's packages import nothing above them.
package admissiontest

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/ringverify"
)

// Plans of the fixture and their daily quotas.
const (
	Basic      = "basic"
	Pro        = "pro"
	BasicQuota = 3
	ProQuota   = 100
	Network    = "test"
	Origin     = "test.example/ledger"
)

// Quota is the Config.Quota of the fixture's plans.
func Quota(plan string) (uint32, bool) {
	switch plan {
	case Basic:
		return BasicQuota, true
	case Pro:
		return ProQuota, true
	}
	return 0, false
}

// Customer is an account and its opened license.
type Customer struct {
	Account *issuer.Account
	License *issuer.License
}

// Ledger is the fixture.
type Ledger struct {
	DB       *pgxpool.Pool
	Ledger   *pgledger.Ledger
	Index    *ledger.Index
	Verifier note.Verifier
	// VerifierKey is Verifier's key, as clients pin it; SignerKey the
	// secret key the fixture's sequencer signs checkpoints with (origin
	// Origin), for a server under test that sequences the same log.
	VerifierKey, SignerKey string
	// Customers hold valid basic licenses among the decoys.
	Customers []Customer
	// Decoys are the other valid basic licenses' indices.
	Decoys []uint64
	// Special licenses of plan basic by what is wrong with them: revoked,
	// expired, suspended, not_yet_valid; and pro, a valid license of
	// another plan.
	Special map[string]uint64
	Today   time.Time

	stopSeq func()
}

// StopSequencer stops the fixture's sequencer (benchmarks: it polls the
// database while idle). Nothing can be appended afterwards.
func (f *Ledger) StopSequencer() { f.stopSeq() }

// New appends decoys valid basic licenses (minted to decoys/3+1 accounts),
// the two customers' and the special ones, waits for them to be sequenced
// and syncs the index. It takes about two sequencer rounds.
func New(t testing.TB, db *pgxpool.Pool, decoys int) *Ledger {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	skey, vkey, err := note.GenerateKey(rand.Reader, Origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	lg := pgledger.New(db, pgledger.Config{Signer: signer, Period: 50 * time.Millisecond})
	seqDone := make(chan struct{})
	go func() { lg.RunSequencer(ctx); close(seqDone) }()
	var stopOnce sync.Once
	stop := func() { stopOnce.Do(func() { cancel(); <-seqDone }) }
	t.Cleanup(stop)

	today := time.Now().UTC().Truncate(24 * time.Hour)
	valid := issuer.Payload{Plan: Basic, NotBefore: today.AddDate(0, 0, -10), NotAfter: today.AddDate(0, 0, 30), DailyQuota: BasicQuota}
	f := &Ledger{DB: db, Ledger: lg, Index: ledger.NewIndex(), Verifier: verifier, VerifierKey: vkey, SignerKey: skey, Special: map[string]uint64{}, Today: today, stopSeq: stop}

	type job struct {
		acct    *issuer.Account
		payload issuer.Payload
		kind    string // "decoy", "customer" or a special name
	}
	var jobs []job
	var accts []*issuer.Account
	for i := 0; i < decoys/3+1; i++ {
		a, err := issuer.NewAccount(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		accts = append(accts, a)
	}
	for i := range decoys {
		jobs = append(jobs, job{accts[i%len(accts)], valid, "decoy"})
	}
	for range 2 {
		a, err := issuer.NewAccount(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job{a, valid, "customer"})
	}
	expired, notYet, pro := valid, valid, valid
	expired.NotBefore, expired.NotAfter = today.AddDate(0, 0, -30), today
	notYet.NotBefore, notYet.NotAfter = today.AddDate(0, 0, 1), today.AddDate(0, 0, 31)
	pro.Plan, pro.DailyQuota = Pro, ProQuota
	jobs = append(jobs, job{accts[0], valid, "revoked"}, job{accts[0], expired, "expired"},
		job{accts[0], valid, "suspended"}, job{accts[0], notYet, "not_yet_valid"}, job{accts[0], pro, "pro"})

	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(jobs))
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := issuer.Mint(rand.Reader, j.acct.Address(), j.payload)
			if err != nil {
				errs <- err
				return
			}
			idx, err := lg.Append(ctx, &ledger.LicenseEntry{Plan: j.payload.Plan, NotBefore: j.payload.NotBefore, NotAfter: j.payload.NotAfter,
				R: out.R, P: out.P, ViewTag: out.ViewTag, Sealed: out.Sealed})
			if err != nil {
				errs <- fmt.Errorf("append: %w", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch j.kind {
			case "decoy":
				f.Decoys = append(f.Decoys, idx)
			case "customer":
				lic, err := issuer.Open(j.acct, out)
				if err != nil {
					errs <- err
					return
				}
				lic.Index = idx
				f.Customers = append(f.Customers, Customer{j.acct, lic})
			default:
				f.Special[j.kind] = idx
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := lg.Append(ctx, &ledger.RevokeEntry{Target: f.Special["revoked"], Reason: ledger.RevokeRefund}); err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return pgledger.Suspend(ctx, tx, f.Special["suspended"]) }); err != nil {
		t.Fatal(err)
	}
	// Relays' mirrors learn it from the suspension feed: wait for the
	// sequencer to publish it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, n, err := lg.Store().LatestSuspensions(ctx); err == nil && n >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("admissiontest: the sequencer did not publish the suspension within 10 s")
		}
	}
	if err := f.Index.Sync(ctx, lg.Store()); err != nil {
		t.Fatal(err)
	}
	return f
}

// Scope is the fixture network's scope of t's UTC day.
func Scope(t time.Time) string { return Network + "/" + t.UTC().Format(time.DateOnly) }

// Ring returns a ring of size members holding c's license at a random
// position, with decoys from the valid list (as clients pick them), and
// the position.
func (f *Ledger) Ring(t testing.TB, c Customer, size int) ([]uint64, int) {
	t.Helper()
	var pool []uint64
	for _, i := range f.Index.Valid(c.License.Payload.Plan, f.Today) {
		if i != c.License.Index {
			pool = append(pool, i)
		}
	}
	if len(pool) < size-1 {
		t.Fatalf("only %d decoys for a ring of %d", len(pool), size)
	}
	ring := make([]uint64, 0, size)
	for _, k := range randPerm(len(pool))[:size-1] {
		ring = append(ring, pool[k])
	}
	pi := randPerm(size)[0]
	ring = append(ring[:pi], append([]uint64{c.License.Index}, ring[pi:]...)...)
	return ring, pi
}

// Prove signs msg under scope and counter with c's license over ring (c at
// position pi) and returns the admission request.
func (f *Ledger) Prove(t testing.TB, c Customer, ring []uint64, pi int, scope string, counter uint32, msg []byte) *admission.Request {
	t.Helper()
	p, err := ringverify.Sign(rand.Reader, c.License.Secret, f.Keys(t, ring), pi, scope, counter, msg)
	if err != nil {
		t.Fatal(err)
	}
	return admission.NewRequest(scope, counter, msg, ring, p)
}

// Keys returns the ring members' keys from the index.
func (f *Ledger) Keys(t testing.TB, ring []uint64) []*ristretto255.Element {
	t.Helper()
	keys := make([]*ristretto255.Element, len(ring))
	for i, idx := range ring {
		m, err := f.Index.Member(idx)
		if err != nil {
			t.Fatal(err)
		}
		if keys[i], err = ristretto255.NewIdentityElement().SetCanonicalBytes(m.Key[:]); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func randPerm(n int) []int { return mrand.Perm(n) }
