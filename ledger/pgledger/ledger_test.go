package pgledger_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/internal/storetest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/ringverify"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(sequencerChild())
	}
	pgtest.Main(m)
}

const testOrigin = "ledger.test/log"

// testKeys returns a signer and verifier for testOrigin.
func testKeys(t testing.TB) (string, note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return skey, s, v
}

func randomKey() [32]byte {
	var seed [64]byte
	rand.Read(seed[:])
	s, _ := ristretto255.NewScalar().SetUniformBytes(seed[:])
	var k [32]byte
	copy(k[:], ristretto255.NewIdentityElement().ScalarBaseMult(s).Bytes())
	return k
}

func newLicense(plan string, from, to uint32) *ledger.LicenseEntry {
	e := &ledger.LicenseEntry{Plan: plan, NotBefore: ledger.Day(from), NotAfter: ledger.Day(to), P: randomKey(), ViewTag: 7, Sealed: make([]byte, 80)}
	rand.Read(e.R[:])
	rand.Read(e.Sealed)
	return e
}

func enqueue(t testing.TB, db *pgxpool.Pool, ref string, e ledger.Entry) bool {
	t.Helper()
	var queued bool
	err := pgx.BeginFunc(context.Background(), db, func(tx pgx.Tx) error {
		var err error
		queued, err = pgledger.Enqueue(context.Background(), tx, ref, e)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return queued
}

func TestPostgresStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return pgledger.NewStore(pgtest.Pool(t)) })
}

// TestAppendOnly checks that the migration's triggers refuse every change to
// the log tables, even to their owner.
func TestAppendOnly(t *testing.T) {
	db := pgtest.Pool(t)
	_, signer, _ := testKeys(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	enqueue(t, db, "a", newLicense("pro", 20000, 20030))
	if n, err := l.Round(context.Background()); err != nil || n != 1 {
		t.Fatalf("Round = %d, %v", n, err)
	}
	for _, stmt := range []string{
		`update ledger_entries set data = data || '\x00'::bytea`,
		`delete from ledger_entries`,
		`truncate ledger_entries`,
		`update ledger_hashes set hash = hash`,
		`delete from ledger_hashes`,
		`truncate ledger_hashes cascade`,
		`update ledger_tiles set data = data`,
		`delete from ledger_tiles`,
		`update ledger_checkpoints set note = note`,
		`delete from ledger_checkpoints`,
		`truncate ledger_checkpoints`,
		`update ledger_rounds set count = count`,
		`delete from ledger_rounds`,
		`truncate ledger_rounds`,
		`truncate ledger_tiles`,
	} {
		t.Run(stmt, func(t *testing.T) {
			_, err := db.Exec(context.Background(), stmt)
			if err == nil {
				t.Fatal("the statement was allowed")
			}
		})
	}
	var n int
	db.QueryRow(context.Background(), `select count(*) from ledger_entries`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d entries left, want 1", n)
	}
}

// TestProofsAcrossRounds checks inclusion proofs for every entry against
// every later checkpoint and consistency between every pair of checkpoints,
// over many rounds of varied sizes (crossing tile boundaries).
func TestProofsAcrossRounds(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	_, signer, verifier := testKeys(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	store := l.Store()
	var cps []ledger.Checkpoint
	sizes := []int{1, 2, 3, 250, 5, 1, 256, 7, 300, 1, 13}
	for r, n := range sizes {
		for i := range n {
			var e ledger.Entry = newLicense("pro", 20000, 20030)
			if i == 0 && r > 0 {
				e = &ledger.RevokeEntry{Target: uint64(r), Reason: ledger.RevokeRefund}
			}
			enqueue(t, db, fmt.Sprintf("r%d/%d", r, i), e)
		}
		if got, err := l.Round(ctx); err != nil || got != n {
			t.Fatalf("round %d: %d entries, %v; want %d", r, got, err, n)
		}
		c, err := store.Latest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		opened, err := ledger.OpenCheckpoint(c.Note, verifier)
		if err != nil {
			t.Fatal(err)
		}
		if opened.Size != c.Size || opened.Root != c.Root {
			t.Fatalf("signed checkpoint %+v differs from its row", opened)
		}
		cps = append(cps, opened)
	}
	size := cps[len(cps)-1].Size
	entries, err := store.ReadEntries(ctx, 0, int(size))
	if err != nil || int64(len(entries)) != size {
		t.Fatalf("ReadEntries: %d, %v", len(entries), err)
	}
	proofs := 0
	for i, e := range entries {
		h := tlog.RecordHash(e)
		for _, c := range cps {
			if c.Size <= int64(i) {
				continue
			}
			p, err := ledger.ProveInclusion(ctx, store, int64(i), c.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckRecord(p, c.Size, c.Root, int64(i), h); err != nil {
				t.Fatalf("entry %d in checkpoint %d: %v", i, c.Size, err)
			}
			proofs++
		}
	}
	for i, a := range cps {
		for _, b := range cps[i:] {
			p, err := ledger.ProveConsistency(ctx, store, a.Size, b.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := tlog.CheckTree(p, b.Size, b.Root, a.Size, a.Root); err != nil {
				t.Fatalf("checkpoints %d and %d: %v", a.Size, b.Size, err)
			}
		}
	}
	// A proof against a wrong root fails: the checks above are not vacuous.
	p, _ := ledger.ProveInclusion(ctx, store, 3, size)
	if tlog.CheckRecord(p, size, cps[0].Root, 3, tlog.RecordHash(entries[3])) == nil {
		t.Fatal("an inclusion proof verified against the wrong root")
	}
	t.Logf("%d inclusion proofs, %d consistency proofs", proofs, len(cps)*(len(cps)+1)/2)
	rep, err := ledger.Fsck(ctx, store, verifier)
	if err != nil || !rep.OK() {
		t.Fatalf("fsck: %v %v", err, rep.Problems)
	}
	if rep.Entries != int(size) || rep.Checkpoints != len(sizes) {
		t.Fatalf("fsck saw %d entries, %d checkpoints", rep.Entries, rep.Checkpoints)
	}
	// Parameters the handlers pass through.
	for _, tc := range []struct {
		name        string
		index, size int64
	}{
		{"index at size", size, size},
		{"negative index", -1, size},
		{"beyond latest", 0, size + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ledger.ProveInclusion(ctx, store, tc.index, tc.size); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if _, err := ledger.ProveConsistency(ctx, store, 0, 1); err == nil {
		t.Fatal("consistency from size 0 accepted")
	}
	if _, err := ledger.ProveConsistency(ctx, store, 1, size+1); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("consistency beyond latest: %v", err)
	}
}

func TestEnqueueExactlyOnce(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	_, signer, _ := testKeys(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	e := newLicense("pro", 20000, 20030)
	if !enqueue(t, db, "mint:1", e) {
		t.Fatal("first enqueue not queued")
	}
	if enqueue(t, db, "mint:1", e) {
		t.Fatal("second enqueue of the same ref queued")
	}
	// Another ref with the same key P is refused while it is pending.
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { _, err := pgledger.Enqueue(ctx, tx, "mint:2", e); return err })
	if !errors.Is(err, pgledger.ErrDuplicateKey) {
		t.Fatalf("duplicate P while pending: %v", err)
	}
	// A rolled-back caller transaction queues nothing.
	tx, _ := db.Begin(ctx)
	pgledger.Enqueue(ctx, tx, "mint:3", newLicense("pro", 20000, 20030))
	tx.Rollback(ctx)
	if n, err := l.Round(ctx); err != nil || n != 1 {
		t.Fatalf("Round = %d, %v; want 1", n, err)
	}
	// A P already on the ledger is queued, then dropped by its round.
	if !enqueue(t, db, "mint:2", e) {
		t.Fatal("enqueue of a sequenced P under a new ref not queued")
	}
	if n, err := l.Round(ctx); err != nil || n != 0 {
		t.Fatalf("Round with a taken key pending = %d, %v; want 0", n, err)
	}
	// Along with other entries: only the taken one is dropped.
	dup, _ := e.MarshalBinary()
	if _, err := db.Exec(ctx, `insert into ledger_pending (ref, data, p) values ('mint:4', $1, $2)`, dup, e.P[:]); err != nil {
		t.Fatal(err)
	}
	enqueue(t, db, "mint:5", newLicense("pro", 20000, 20030))
	if n, err := l.Round(ctx); err != nil || n != 1 {
		t.Fatalf("Round with a taken key pending = %d, %v; want 1", n, err)
	}
	// Append learns of the drop.
	done := make(chan error, 1)
	go func() { _, err := l.Append(ctx, e); done <- err }()
	var appendErr error
	for waiting := true; waiting; {
		select {
		case appendErr = <-done:
			waiting = false
		case <-time.After(20 * time.Millisecond):
			if _, err := l.Round(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !errors.Is(appendErr, pgledger.ErrDropped) {
		t.Fatalf("Append of a taken key: %v, want ErrDropped", appendErr)
	}
	if n, err := l.Round(ctx); err != nil || n != 0 {
		t.Fatalf("empty Round = %d, %v", n, err)
	}
	// Once sequenced, the ref is forgotten (privacy): no table keeps it.
	var refs int
	db.QueryRow(ctx, `select (select count(*) from ledger_pending) + (select count(*) from ledger_append_results)`).Scan(&refs)
	if refs != 0 {
		t.Fatalf("%d refs still stored after the round", refs)
	}
}

func TestOnSequenced(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	if _, err := db.Exec(ctx, `create table hook_log (ref text primary key, idx bigint, round bigint)`); err != nil {
		t.Fatal(err)
	}
	_, signer, _ := testKeys(t)
	fail := true
	var seen []pgledger.Sequenced
	l := pgledger.New(db, pgledger.Config{Signer: signer, OnSequenced: func(ctx context.Context, tx pgx.Tx, round int64, seq []pgledger.Sequenced) error {
		for _, s := range seq {
			if _, err := tx.Exec(ctx, `insert into hook_log values ($1, $2, $3)`, s.Ref, int64(s.Index), round); err != nil {
				return err
			}
		}
		if fail {
			return errors.New("payments is down")
		}
		seen = append(seen, seq...)
		return nil
	}})
	want := map[string][]byte{}
	for i := range 10 {
		e := newLicense("pro", 20000, 20030)
		ref := fmt.Sprintf("mint:%d", i)
		enqueue(t, db, ref, e)
		want[ref], _ = e.MarshalBinary()
	}
	if _, err := l.Round(ctx); err == nil {
		t.Fatal("a round whose hook failed committed")
	}
	var n int
	db.QueryRow(ctx, `select (select count(*) from ledger_entries) + (select count(*) from hook_log)`).Scan(&n)
	if n != 0 {
		t.Fatalf("a failed round left %d rows", n)
	}
	fail = false
	if got, err := l.Round(ctx); err != nil || got != 10 {
		t.Fatalf("Round = %d, %v", got, err)
	}
	if len(seen) != 10 {
		t.Fatalf("hook saw %d entries", len(seen))
	}
	entries, _ := l.Store().ReadEntries(ctx, 0, 10)
	for _, s := range seen {
		if !bytes.Equal(entries[s.Index], want[s.Ref]) {
			t.Fatalf("ref %s was reported at index %d, which holds another entry", s.Ref, s.Index)
		}
	}
	var round int64
	db.QueryRow(ctx, `select min(round) from hook_log`).Scan(&round)
	if round != 1 {
		t.Fatalf("hook saw round %d, want 1", round)
	}
}

// TestShuffle checks that a round does not keep the enqueue order.
func TestShuffle(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	_, signer, _ := testKeys(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	var order [][]byte
	for i := range 64 {
		e := newLicense("pro", 20000, 20030)
		b, _ := e.MarshalBinary()
		order = append(order, b)
		enqueue(t, db, fmt.Sprint(i), e)
	}
	if _, err := l.Round(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := l.Store().ReadEntries(ctx, 0, 64)
	same := 0
	for i := range got {
		if bytes.Equal(got[i], order[i]) {
			same++
		}
	}
	// A uniform shuffle of 64 leaves about one in place; the identity has
	// probability 1/64!.
	if same > 10 {
		t.Fatalf("%d of 64 entries kept their enqueue position", same)
	}
}

func TestAppendWithSequencer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := pgtest.Pool(t)
	_, signer, verifier := testKeys(t)
	seqr := pgledger.New(db, pgledger.Config{Signer: signer, Period: 50 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- seqr.RunSequencer(ctx) }()
	// The appender is another Ledger without a key, as in a process that
	// does not sequence.
	app := pgledger.New(db, pgledger.Config{})
	var mu sync.Mutex
	got := map[uint64][]byte{}
	var wg sync.WaitGroup
	for i := range 40 {
		time.Sleep(time.Duration(i%4) * 5 * time.Millisecond) // spread over several rounds
		wg.Go(func() {
			e := newLicense("pro", 20000, 20030)
			idx, err := app.Append(ctx, e)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := e.MarshalBinary()
			mu.Lock()
			defer mu.Unlock()
			if _, dup := got[idx]; dup {
				t.Errorf("index %d given twice", idx)
			}
			got[idx] = b
		})
	}
	wg.Wait()
	entries, _ := app.Store().ReadEntries(ctx, 0, 100)
	if len(entries) != 40 {
		t.Fatalf("%d entries, want 40", len(entries))
	}
	for idx, b := range got {
		if !bytes.Equal(entries[idx], b) {
			t.Fatalf("Append returned index %d for another entry", idx)
		}
	}
	// Rounds start at least a period apart.
	rounds, _ := app.Store().Rounds(ctx)
	span := rounds[len(rounds)-1].CommittedAt.Sub(rounds[0].CommittedAt)
	if maxRounds := int(span/(50*time.Millisecond)) + 2; len(rounds) > maxRounds {
		t.Fatalf("%d rounds in %v with a 50ms period", len(rounds), span)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("RunSequencer returned %v", err)
	}
	if rep, err := ledger.Fsck(context.Background(), app.Store(), verifier); err != nil || !rep.OK() {
		t.Fatalf("fsck: %v %v", err, rep.Problems)
	}
}

// TestRacingRounds runs rounds from many connections at once, without the
// session lock: the round's transaction lock alone keeps one history.
func TestRacingRounds(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	_, signer, verifier := testKeys(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	var wg sync.WaitGroup
	var mu sync.Mutex
	total, locked := 0, 0
	for w := range 6 {
		wg.Go(func() {
			for i := range 15 {
				enqueue(t, db, fmt.Sprintf("%d/%d", w, i), newLicense("pro", 20000, 20030))
				n, err := l.Round(ctx)
				mu.Lock()
				if errors.Is(err, pgledger.ErrLocked) {
					locked++
				} else if err != nil {
					t.Error(err)
				}
				total += n
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for {
		n, err := l.Round(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		total += n
	}
	if total != 90 {
		t.Fatalf("%d entries sequenced, want 90", total)
	}
	rep, err := ledger.Fsck(ctx, l.Store(), verifier)
	if err != nil || !rep.OK() || rep.Entries != 90 {
		t.Fatalf("fsck: %v %+v", err, rep)
	}
	t.Logf("%d rounds, %d attempts found the lock taken", rep.Rounds, locked)
}

func TestIndex(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	_, signer, _ := testKeys(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	day := uint32(20410)
	now := ledger.Day(day).Add(12 * time.Hour)
	lic := []*ledger.LicenseEntry{
		newLicense("pro", day-10, day+20), // 0: valid
		newLicense("pro", day-10, day+20), // 1: to be revoked
		newLicense("pro", day-10, day+20), // 2: to be suspended
		newLicense("pro", day+1, day+20),  // 3: not yet valid
		newLicense("pro", day-30, day),    // 4: expired (NotAfter exclusive)
		newLicense("basic", day-1, day+1), // 5: other plan
		newLicense("pro", day, day+1),     // 6: valid today only
	}
	for i, e := range lic {
		enqueue(t, db, fmt.Sprint(i), e)
		if _, err := l.Round(ctx); err != nil { // one round each: index = i
			t.Fatal(err)
		}
	}
	enqueue(t, db, "revoke", &ledger.RevokeEntry{Target: 1, Reason: ledger.RevokeRefund})
	enqueue(t, db, "revoke-future", &ledger.RevokeEntry{Target: 100, Reason: ledger.RevokeOperator})
	if _, err := l.Round(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return pgledger.Suspend(ctx, tx, 2) }); err != nil {
		t.Fatal(err)
	}
	ix := ledger.NewIndex()
	if err := ix.Sync(ctx, l.Store()); err != nil {
		t.Fatal(err)
	}
	if ix.Size() != 9 {
		t.Fatalf("index size %d, want 9", ix.Size())
	}
	if got := ix.Valid("pro", now); !slices.Equal(got, []uint64{0, 6}) {
		t.Fatalf("Valid(pro) = %v, want [0 6]", got)
	}
	// Answers are cached per day but never shared with the caller.
	if got := ix.Valid("pro", now.Add(time.Hour)); !slices.Equal(got, []uint64{0, 6}) {
		t.Fatalf("Valid(pro) again = %v", got)
	} else {
		got[0] = 99
	}
	if got := ix.Valid("pro", now); !slices.Equal(got, []uint64{0, 6}) {
		t.Fatalf("Valid(pro) after the caller changed its copy = %v", got)
	}
	if got := ix.Valid("pro", now.Add(24*time.Hour)); !slices.Equal(got, []uint64{0, 3}) {
		t.Fatalf("Valid(pro) tomorrow = %v, want [0 3]", got)
	}
	if got := ix.Valid("basic", now); !slices.Equal(got, []uint64{5}) {
		t.Fatalf("Valid(basic) = %v", got)
	}
	if got := ix.Valid("none", now); len(got) != 0 {
		t.Fatalf("Valid(none) = %v", got)
	}
	states := []struct {
		index uint64
		state ringverify.State
	}{{0, ringverify.Active}, {1, ringverify.Revoked}, {2, ringverify.Suspended}, {6, ringverify.Active}}
	for _, s := range states {
		m, err := ix.Member(s.index)
		if err != nil || m.State != s.state {
			t.Fatalf("Member(%d) = %+v, %v; want state %v", s.index, m, err, s.state)
		}
	}
	m, _ := ix.Member(6)
	if m.Key != lic[6].P || m.Plan != "pro" || !m.NotBefore.Equal(lic[6].NotBefore) || !m.NotAfter.Equal(lic[6].NotAfter) {
		t.Fatalf("Member(6) = %+v", m)
	}
	for _, i := range []uint64{7, 8, 9, 1 << 40} {
		if _, err := ix.Member(i); !errors.Is(err, ringverify.ErrUnknownMember) {
			t.Fatalf("Member(%d): %v, want ErrUnknownMember", i, err)
		}
	}
	// Lifting the suspension shows after the next Sync.
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return pgledger.Unsuspend(ctx, tx, 2) }); err != nil {
		t.Fatal(err)
	}
	ix.Sync(ctx, l.Store())
	if got := ix.Valid("pro", now); !slices.Equal(got, []uint64{0, 2, 6}) {
		t.Fatalf("after Unsuspend, Valid(pro) = %v", got)
	}
	// The ringverify Verifier accepts the index as its Members.
	if _, err := ringverify.NewVerifier(ringverify.VerifierConfig{Members: ix}); err != nil {
		t.Fatal(err)
	}
}

// TestIndexFollows checks that an index in another "process" (its own
// pool, only following the database) sees new rounds and suspensions within
// about a second.
func TestIndexFollows(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := pgtest.URL(t)
	db1, _ := pgxpool.New(ctx, url)
	defer db1.Close()
	db2, _ := pgxpool.New(ctx, url)
	defer db2.Close()
	_, signer, _ := testKeys(t)
	l := pgledger.New(db1, pgledger.Config{Signer: signer, Period: 100 * time.Millisecond})
	go l.RunSequencer(ctx)
	ix := ledger.NewIndex()
	go ix.Follow(ctx, pgledger.NewStore(db2), 200*time.Millisecond, nil)
	e := newLicense("pro", 20000, 20030)
	idx, err := l.Append(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			if time.Since(start) > 1500*time.Millisecond {
				t.Fatalf("the following index did not see %s within 1.5s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("%s seen after %v", what, time.Since(start).Round(time.Millisecond))
	}
	waitFor("the new license", func() bool { m, err := ix.Member(idx); return err == nil && m.State == ringverify.Active })
	pgx.BeginFunc(ctx, db1, func(tx pgx.Tx) error { return pgledger.Suspend(ctx, tx, idx) })
	start = time.Now()
	waitFor("the suspension", func() bool { m, _ := ix.Member(idx); return m.State == ringverify.Suspended })
}

// TestRoundInterrupted cancels rounds at random points (a failure injected
// at whatever step the round has reached: taking the entries, hashing,
// writing, the hook, the commit), and fails some in the hook and just
// before commit: every entry ends up on the log exactly once and the log
// stays sound.
func TestRoundInterrupted(t *testing.T) {
	db := pgtest.Pool(t)
	_, signer, verifier := testKeys(t)
	fail := 0
	cfg := pgledger.Config{Signer: signer, OnSequenced: func(ctx context.Context, tx pgx.Tx, round int64, seq []pgledger.Sequenced) error {
		if fail%3 == 1 {
			return errors.New("injected hook failure")
		}
		return nil
	}}
	pgledger.SetBeforeCommit(&cfg, func(ctx context.Context) error {
		if fail%3 == 2 {
			return errors.New("injected failure before commit")
		}
		return nil
	})
	l := pgledger.New(db, cfg)
	want := map[string]bool{}
	for i := range 300 {
		e := newLicense("pro", 20000, 20030)
		b, _ := e.MarshalBinary()
		want[string(b)] = true
		enqueue(t, db, fmt.Sprint(i), e)
		if i%20 != 19 {
			continue
		}
		// A few interrupted attempts after every 20 entries.
		for range 3 {
			fail++
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(mrand.IntN(30000))*time.Microsecond)
			l.Round(ctx)
			cancel()
		}
	}
	fail = 0
	// An interrupted round's backend may still hold the round lock for a
	// moment after its client gave up (the server notices the cancel or the
	// closed connection asynchronously): ErrLocked is then expected, briefly.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := l.Round(context.Background())
		if errors.Is(err, pgledger.ErrLocked) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	entries, _ := l.Store().ReadEntries(context.Background(), 0, 1000)
	if len(entries) != 300 {
		t.Fatalf("%d entries on the log, want 300", len(entries))
	}
	for _, e := range entries {
		if !want[string(e)] {
			t.Fatal("an entry is on the log twice or was never enqueued")
		}
		delete(want, string(e))
	}
	rep, err := ledger.Fsck(context.Background(), l.Store(), verifier)
	if err != nil || !rep.OK() {
		t.Fatalf("fsck: %v %v", err, rep.Problems)
	}
	t.Logf("%d rounds committed among the interrupted ones", rep.Rounds)
}
