package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/issuer/wallet"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/pgadmission"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/ledger/relay"
	"github.com/licensed/licensed/ringverify"
	"github.com/licensed/licensed/web"
)

// testServer is the real server (web.New over the real ledger, index and
// admission service) on a loopback port, with a sequencer running.
type testServer struct {
	url      string
	vkey     string
	pool     *pgxpool.Pool
	ledger   *pgledger.Ledger
	index    *ledger.Index
	admitted func() int64
}

const testPlan, testQuota = "basic", 3

func startServer(t testing.TB, opts ...func(*admission.Config)) *testServer {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, "dev.license.test")
	if err != nil {
		t.Fatal(err)
	}
	return startServerWithKey(t, skey, opts...)
}

// startServerWithKey starts a server on a fresh database whose ledger signs
// with skey: two of them make two different ledgers under one key, which is
// what a server showing a forked ledger looks like from outside.
func startServerWithKey(t testing.TB, skey string, opts ...func(*admission.Config)) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pool := pgtest.Pool(t)
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	led := pgledger.New(pool, pgledger.Config{Signer: signer, Period: 20 * time.Millisecond, Log: log})
	index := ledger.NewIndex()
	store := pgledger.NewStore(pool)
	acfg := admission.Config{
		Network: "dev",
		Quota: func(plan string) (uint32, bool) {
			return testQuota, plan == testPlan
		},
		Log: log,
	}
	for _, o := range opts {
		o(&acfg)
	}
	svc, err := admission.New(index, pgadmission.NewPostgresTags(pool), acfg)
	if err != nil {
		t.Fatal(err)
	}
	vkey := verifierKey(t, skey)
	srv := web.New(web.Config{}, web.Deps{DB: pool, Ledger: &web.LedgerDeps{Store: store, VerifierKey: vkey}, Admission: svc}, log)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); led.RunSequencer(ctx) }()
	go func() { defer wg.Done(); index.Follow(ctx, store, 20*time.Millisecond, log) }()
	go func() { defer wg.Done(); srv.Serve(ctx, l) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &testServer{url: "http://" + l.Addr().String(), vkey: vkey, pool: pool, ledger: led, index: index,
		admitted: func() int64 { return svc.Outcomes()["admitted"] }}
}

// mint appends a license of testPlan valid today for each address, at
// once (they share rounds), and returns their indexes in order.
func (s *testServer) mint(t *testing.T, addrs []issuer.Address) []uint64 {
	t.Helper()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	out := make([]uint64, len(addrs))
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var receipt [issuer.ReceiptSize]byte
			rand.Read(receipt[:])
			p := issuer.Payload{Plan: testPlan, NotBefore: today.AddDate(0, 0, -1), NotAfter: today.AddDate(0, 0, 30), DailyQuota: testQuota, Receipt: receipt}
			o, err := issuer.Mint(rand.Reader, addr, p)
			if err != nil {
				errs[i] = err
				return
			}
			out[i], errs[i] = s.ledger.Append(t.Context(), &ledger.LicenseEntry{
				Plan: p.Plan, NotBefore: p.NotBefore, NotAfter: p.NotAfter, R: o.R, P: o.P, ViewTag: o.ViewTag, Sealed: o.Sealed,
			})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s.waitIndex(t)
	return out
}

// waitIndex waits until the server's license index has caught up with the
// ledger, so the valid list includes everything appended.
func (s *testServer) waitIndex(t testing.TB) {
	t.Helper()
	cp, err := s.ledger.Store().Latest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.index.Size() < uint64(cp.Size) {
		if time.Now().After(deadline) {
			t.Fatalf("index stuck at %d of %d", s.index.Size(), cp.Size)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func randomAddresses(t testing.TB, n int) []issuer.Address {
	out := make([]issuer.Address, n)
	for i := range out {
		a, err := issuer.NewAccount(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = a.Address()
	}
	return out
}

// TestEndToEnd drives the real license verbs against the real server: a
// customer makes an account, a license is minted to it among many decoys,
// scan finds exactly it (and resumes), prove makes a ring proof that verifies
// against the ledger keys, and admit has it admitted.
func TestEndToEnd(t *testing.T) {
	srv := startServer(t)
	useAccount(t)
	t.Setenv(envLicenseServer, srv.url)
	t.Setenv(envLicenseLedgerKey, srv.vkey)

	code, _, errs := runLicense(t, "", "account", "new")
	if code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := runLicense(t, "", "account", "address")
	if code != 0 {
		t.Fatal(errs)
	}
	addr, err := issuer.ParseAddress(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}

	// 40 decoys, ours in the middle.
	addrs := randomAddresses(t, 40)
	addrs = append(addrs[:20], append([]issuer.Address{addr}, addrs[20:]...)...)
	idx := srv.mint(t, addrs)
	own := idx[20]

	code, out, errs = runLicense(t, "", "scan", "--quiet")
	if code != 0 {
		t.Fatalf("scan: %s", errs)
	}
	if !strings.Contains(out, "Scanned 41 new ledger entries") || !strings.Contains(out, "1 new license(s) found") {
		t.Fatalf("scan: %q", out)
	}
	code, out, _ = runLicense(t, "", "list")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("\n%d ", own)) || strings.Count(out, "\n") != 2 || !strings.Contains(out, "valid") {
		t.Fatalf("list does not show exactly license %d: %q", own, out)
	}
	// Nothing new: the scan resumes at the end.
	code, out, errs = runLicense(t, "", "scan", "--quiet")
	if code != 0 || !strings.Contains(out, "Scanned 0 new ledger entries (41 in all): 0 new") {
		t.Fatalf("second scan: %d %q %s", code, out, errs)
	}

	// Across a tile boundary: 250 more decoys and a second license.
	more := randomAddresses(t, 250)
	more = append(more, addr)
	idx2 := srv.mint(t, more)
	code, out, errs = runLicense(t, "", "scan", "--quiet")
	if code != 0 || !strings.Contains(out, "Scanned 251 new ledger entries (292 in all): 1 new") {
		t.Fatalf("third scan: %d %q %s", code, out, errs)
	}
	code, out, _ = runLicense(t, "", "list")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("\n%d ", idx2[250])) {
		t.Fatalf("list misses the second license %d: %q", idx2[250], out)
	}
	// The census of the three scans counts every license entry once.
	contents, _, err := wallet.Load(os.Getenv(envLicenseAccount), []byte(os.Getenv(envPassphrase)))
	if err != nil {
		t.Fatal(err)
	}
	if n := contents.CensusValid(testPlan, dayNumber(time.Now())); n != 292 {
		t.Fatalf("census counts %d valid licenses, want 292", n)
	}

	// Prove and admit.
	scope := "dev/" + time.Now().UTC().Format(time.DateOnly)
	dir := t.TempDir()
	proofs := make([]string, 0, 2*testQuota)
	for i := range 2 * testQuota {
		msg := hex.EncodeToString([]byte(fmt.Sprintf("data block %d", i)))
		file := filepath.Join(dir, fmt.Sprintf("proof%d.json", i))
		code, _, errs = runLicense(t, "", "prove", "--scope", scope, "--message", msg, "--out", file)
		if code != 0 {
			t.Fatalf("prove %d: %s", i, errs)
		}
		proofs = append(proofs, file)
		var req admitRequest
		b, _ := os.ReadFile(file)
		if err := json.Unmarshal(b, &req); err != nil {
			t.Fatal(err)
		}
		// Two licenses with quota 3: counters 0, 0, 1, 1, 2, 2.
		if req.Counter != uint32(i/2) || len(req.Ring) != ringverify.DefaultRingSize {
			t.Fatalf("proof %d: counter %d, ring %d", i, req.Counter, len(req.Ring))
		}
		verifyWithLedgerKeys(t, srv, &req)
	}
	code, _, errs = runLicense(t, "", "prove", "--scope", scope, "--message", "00")
	if code != 1 || !strings.Contains(errs, "whole daily quota") {
		t.Fatalf("prove past the quota: %d %s", code, errs)
	}
	for i, file := range proofs[:len(proofs)-1] { // the last one waits for a suspension below
		code, out, errs = runLicense(t, "", "admit", file)
		if code != 0 || !strings.Contains(out, `"admitted":true`) || !strings.Contains(out, `"plan":"basic"`) {
			t.Fatalf("admit %d: %d %q %s", i, code, out, errs)
		}
	}
	// A relay verifying locally, from its mirror of the ledger, admits the
	// same proofs.
	rc := &relay.Client{URL: srv.url}
	mirror, err := relay.NewMirror(rc, srv.vkey)
	if err != nil {
		t.Fatal(err)
	}
	if err := mirror.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	local, err := relay.NewLocal(mirror, admission.Config{Network: "dev", Quota: func(plan string) (uint32, bool) { return testQuota, plan == testPlan }})
	if err != nil {
		t.Fatal(err)
	}
	for i, file := range proofs {
		b, _ := os.ReadFile(file)
		req, err := admission.DecodeRequest(b)
		if err != nil {
			t.Fatalf("proof %d does not decode as an admission request: %v", i, err)
		}
		res, err := local.Admit(t.Context(), req)
		if err != nil || !res.Admitted || res.Plan != testPlan {
			t.Fatalf("local relay on proof %d: %+v %v", i, res, err)
		}
	}

	// A retry of the same proof is admitted again; a proof reusing a tag
	// for another message is refused, and so is a tampered one.
	if code, _, errs = runLicense(t, "", "admit", proofs[0]); code != 0 {
		t.Fatalf("retry: %s", errs)
	}
	var req admitRequest
	b, _ := os.ReadFile(proofs[0])
	json.Unmarshal(b, &req)
	req.Message = []byte("another block")
	bad := filepath.Join(dir, "bad.json")
	b, _ = json.Marshal(req)
	os.WriteFile(bad, b, 0o600)
	code, _, errs = runLicense(t, "", "admit", bad)
	if code != 1 || !strings.Contains(errs, "refused") {
		t.Fatalf("tampered proof: %d %s", code, errs)
	}
	oneSentence(t, errs)

	// A proof from a license suspended since (an open dispute) is refused.
	if err := pgx.BeginFunc(t.Context(), srv.pool, func(tx pgx.Tx) error {
		if err := pgledger.Suspend(t.Context(), tx, own); err != nil {
			return err
		}
		return pgledger.Suspend(t.Context(), tx, idx2[250])
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for m, _ := srv.index.Member(idx2[250]); m.State != ringverify.Suspended; m, _ = srv.index.Member(idx2[250]) {
		if time.Now().After(deadline) {
			t.Fatal("suspension not seen by the index")
		}
		time.Sleep(10 * time.Millisecond)
	}
	code, out, errs = runLicense(t, "", "admit", proofs[len(proofs)-1])
	if code != 1 || !strings.Contains(errs, "(member_suspended)") || !strings.Contains(out, `"code":"member_suspended"`) {
		t.Fatalf("admit from a suspended license: %d %q %s", code, out, errs)
	}
	oneSentence(t, errs)

	// Revocations on the ledger are found by scan and shown by list.
	for _, target := range []uint64{own, idx2[250]} {
		if _, err := srv.ledger.Append(t.Context(), &ledger.RevokeEntry{Target: target, Reason: ledger.RevokeRefund}); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs = runLicense(t, "", "scan", "--quiet")
	if code != 0 || !strings.Contains(out, "0 new license(s) found, 2 revoked") {
		t.Fatalf("scan after revocations: %d %q %s", code, out, errs)
	}
	code, out, _ = runLicense(t, "", "list")
	if code != 0 || strings.Count(out, "revoked") != 2 {
		t.Fatalf("list after revocations: %q", out)
	}
	code, _, errs = runLicense(t, "", "prove", "--scope", scope, "--message", "00")
	if code != 1 || !strings.Contains(errs, "none of the account's licenses is valid") {
		t.Fatalf("prove with revoked licenses: %d %s", code, errs)
	}
}

// verifyWithLedgerKeys checks a proof with ringverify.Verify against the
// keys the server's index holds for its ring.
func verifyWithLedgerKeys(t *testing.T, srv *testServer, req *admitRequest) {
	t.Helper()
	keys := make([]*ristretto255.Element, len(req.Ring))
	for i, idx := range req.Ring {
		m, err := srv.index.Member(idx)
		if err != nil {
			t.Fatal(err)
		}
		if m.Plan != testPlan {
			t.Fatalf("ring member %d of plan %q", idx, m.Plan)
		}
		keys[i], err = ristretto255.NewIdentityElement().SetCanonicalBytes(m.Key[:])
		if err != nil {
			t.Fatal(err)
		}
	}
	p, err := ringverify.ParseProof(append(append([]byte{}, req.Tag...), req.Signature...), len(req.Ring))
	if err != nil {
		t.Fatal(err)
	}
	if err := ringverify.Verify(keys, req.Scope, req.Counter, req.Message, p); err != nil {
		t.Fatalf("proof does not verify against the ledger keys: %v", err)
	}
}

// verifierKey returns the verifier key of a note signer key.
func verifierKey(t testing.TB, skey string) string {
	t.Helper()
	// PRIVATE+KEY+<name>+<hash>+<key>: the verifier key is
	// <name>+<hash>+<base64(alg ‖ public key)>.
	rest, ok := strings.CutPrefix(skey, "PRIVATE+KEY+")
	parts := strings.SplitN(rest, "+", 3) // the base64 key may hold '+'
	if !ok || len(parts) != 3 {
		t.Fatalf("unexpected signer key format")
	}
	parts = append([]string{"PRIVATE", "KEY"}, parts...)
	priv, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(priv) != 1+ed25519.SeedSize {
		t.Fatal("unexpected signer key encoding")
	}
	pub := ed25519.NewKeyFromSeed(priv[1:]).Public().(ed25519.PublicKey)
	vkey := parts[2] + "+" + parts[3] + "+" + base64.StdEncoding.EncodeToString(append([]byte{priv[0]}, pub...))
	if _, err := note.NewVerifier(vkey); err != nil {
		t.Fatal(err)
	}
	return vkey
}

// TestLedgerAudit checks that scan trusts the ledger only under the pinned
// key and only if each checkpoint extends the last one seen: a wrong key, a
// ledger that shrank and a forked ledger under the right key are refused.
func TestLedgerAudit(t *testing.T) {
	skey, _, err := note.GenerateKey(rand.Reader, "dev.license.test")
	if err != nil {
		t.Fatal(err)
	}
	srv := startServerWithKey(t, skey)
	fork := startServerWithKey(t, skey) // same key, other entries
	_, otherKey, _ := note.GenerateKey(rand.Reader, "dev.license.test")
	useAccount(t)
	t.Setenv(envLicenseServer, srv.url)
	if code, _, errs := runLicense(t, "", "account", "new"); code != 0 {
		t.Fatal(errs)
	}
	srv.mint(t, randomAddresses(t, 5))
	fork.mint(t, randomAddresses(t, 3))

	steps := []struct {
		name   string
		args   []string
		code   int
		output string
	}{
		{"no key", []string{"scan", "--quiet"}, 1, "no ledger key"},
		{"wrong key", []string{"scan", "--quiet", "--ledger-key", otherKey}, 1, "not signed by the pinned ledger key"},
		{"right key pins it", []string{"scan", "--quiet", "--ledger-key", srv.vkey}, 0, "Scanned 5 new ledger entries"},
		{"pinned key is used", []string{"scan", "--quiet"}, 0, "Scanned 0 new"},
		{"another key is refused", []string{"scan", "--quiet", "--ledger-key", otherKey}, 1, "differs from the key pinned"},
		{"shrunk ledger", []string{"scan", "--quiet", "--server", fork.url}, 1, "shrank from 5 entries to 3"},
		{"forked ledger", []string{"scan", "--quiet", "--server", fork.url}, 1, "not consistent"},
		{"the real one still works", []string{"scan", "--quiet"}, 0, "Scanned 0 new"},
	}
	for _, st := range steps {
		if st.name == "forked ledger" {
			fork.mint(t, randomAddresses(t, 4)) // 7 entries, not extending the 5 seen
		}
		code, out, errs := runLicense(t, "", st.args...)
		if code != st.code || !strings.Contains(out+errs, st.output) {
			t.Fatalf("%s: exit %d, %q %q; want %d and %q", st.name, code, out, errs, st.code, st.output)
		}
		if code == 1 {
			oneSentence(t, errs)
		}
	}
}

// enqueueDecoys puts n licenses to random addresses on the ledger in one
// transaction (one or a few rounds) and waits until they are sequenced.
func (s *testServer) enqueueDecoys(tb testing.TB, pool *pgxpool.Pool, n int) {
	tb.Helper()
	ctx := context.Background()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	acct, _ := issuer.NewAccount(rand.Reader)
	addr := acct.Address()
	before, err := s.ledger.Store().Latest(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for i := range n {
			p := issuer.Payload{Plan: testPlan, NotBefore: today, NotAfter: today.AddDate(0, 0, 30), DailyQuota: testQuota}
			o, err := issuer.Mint(rand.Reader, addr, p)
			if err != nil {
				return err
			}
			e := &ledger.LicenseEntry{Plan: p.Plan, NotBefore: p.NotBefore, NotAfter: p.NotAfter, R: o.R, P: o.P, ViewTag: o.ViewTag, Sealed: o.Sealed}
			if _, err := pgledger.Enqueue(ctx, tx, fmt.Sprintf("bench:%d:%d", before.Size, i), e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		cp, err := s.ledger.Store().Latest(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if cp.Size >= before.Size+int64(n) {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("ledger stuck at %d", cp.Size)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkScan measures a full scan through the real server: fetching and
// verifying entry and hash tiles, and trying every entry with the view key.
// It reports entries/s; the account file's key derivation is not timed.
func BenchmarkScan(b *testing.B) {
	for _, n := range []int{20000} {
		b.Run(fmt.Sprint("entries=", n), func(b *testing.B) {
			srv := startServer(b)
			srv.enqueueDecoys(b, srv.pool, n)
			useAccount(b)
			b.Setenv(envLicenseServer, srv.url)
			b.Setenv(envLicenseLedgerKey, srv.vkey)
			b.ResetTimer()
			var scanned time.Duration
			for i := range b.N {
				b.StopTimer()
				b.Setenv(envLicenseAccount, filepath.Join(b.TempDir(), fmt.Sprint("account", i)))
				if code, _, errs := runLicense(b, "", "account", "new"); code != 0 {
					b.Fatal(errs)
				}
				b.StartTimer()
				start := time.Now()
				code, out, errs := runLicense(b, "", "scan", "--quiet")
				scanned += time.Since(start)
				if code != 0 || !strings.Contains(out, fmt.Sprintf("Scanned %d new", n)) {
					b.Fatalf("scan: %q %s", out, errs)
				}
			}
			b.ReportMetric(float64(n*b.N)/scanned.Seconds(), "entries/s")
		})
	}
}

// TestScanDetectsTampering changes the ledger behind the server's back
// (superuser SQL, append-only triggers off): scan must refuse to trust an
// entry, a hash tile or a checkpoint that does not match the signed root,
// and must not record any progress.
func TestScanDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper string
		want   string
	}{
		{"entry row", `update ledger_entries set data = set_byte(data, length(data) - 1, get_byte(data, length(data) - 1) # 1) where idx = 7`,
			"ledger entry 7 from"},
		{"hash tile row", `update ledger_tiles set data = set_byte(data, 40, get_byte(data, 40) # 1) where level = 0 and n = 0 and width = 20`,
			"does not match the signed checkpoint"},
		{"checkpoint row", `update ledger_checkpoints set note = convert_to(replace(convert_from(note, 'UTF8'), E'\n20\n', E'\n19\n'), 'UTF8') where size = 20`,
			"not signed by the pinned ledger key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startServer(t)
			useAccount(t)
			t.Setenv(envLicenseServer, srv.url)
			t.Setenv(envLicenseLedgerKey, srv.vkey)
			if code, _, errs := runLicense(t, "", "account", "new"); code != 0 {
				t.Fatal(errs)
			}
			srv.mint(t, randomAddresses(t, 20))
			err := pgx.BeginFunc(t.Context(), srv.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(t.Context(), `set local session_replication_role = replica`); err != nil {
					return err
				}
				tag, err := tx.Exec(t.Context(), tt.tamper)
				if err == nil && tag.RowsAffected() != 1 {
					err = fmt.Errorf("%d rows changed", tag.RowsAffected())
				}
				return err
			})
			if err != nil {
				t.Fatalf("tampering: %v", err)
			}
			code, out, errs := runLicense(t, "", "scan", "--quiet")
			if code != 1 || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, %q %q; want 1 and %q", code, out, errs, tt.want)
			}
			oneSentence(t, errs)
			code, out, _ = runLicense(t, "", "account", "show")
			if code != 0 || !strings.Contains(out, "scanned:     0 entries") {
				t.Fatalf("a refused scan recorded progress: %q", out)
			}
		})
	}
}

// TestProveWithPoW runs against a server that asks for a proof of work and
// has a free tier: a proof without one is refused, with --pow-bits it is
// admitted, and --free makes a request the free tier admits without a
// license.
func TestProveWithPoW(t *testing.T) {
	srv := startServer(t, func(c *admission.Config) { c.PoWDifficulty, c.FreeDifficulty = 6, 10 })
	addr := newCustomer(t, srv)
	srv.mint(t, append(randomAddresses(t, 20), addr))
	if code, _, errs := runLicense(t, "", "scan"); code != 0 {
		t.Fatal(errs)
	}
	scope := "dev/" + time.Now().UTC().Format(time.DateOnly)
	dir := t.TempDir()
	steps := []struct {
		name   string
		prove  []string
		code   int
		answer string
	}{
		{"no proof of work", []string{"--message", "01"}, 1, "(pow_required)"},
		{"proof of work", []string{"--message", "02", "--pow-bits", "6"}, 0, `"plan":"basic"`},
		{"free tier", []string{"--message", "03", "--pow-bits", "10", "--free"}, 0, `"plan":"free"`},
		{"free tier, too little work", []string{"--message", "04", "--pow-bits", "6", "--free"}, 1, "refused"},
	}
	for i, st := range steps {
		file := filepath.Join(dir, fmt.Sprint(i))
		for try := 0; ; try++ {
			args := append([]string{"prove", "--scope", scope, "--out", file}, st.prove...)
			if try > 0 {
				args = append(args, "--message", fmt.Sprintf("%02x%02x", i, try))
			}
			if code, _, errs := runLicense(t, "", args...); code != 0 {
				t.Fatalf("%s: prove: %s", st.name, errs)
			}
			if st.code == 0 || st.prove[len(st.prove)-1] != "--free" {
				break
			}
			// Work for 6 bits has 10 or more one time in 16: that proof
			// would rightly be admitted. Prove another message until the
			// work really is too little.
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var req admission.Request
			if err := json.Unmarshal(b, &req); err != nil || req.PoW == nil {
				t.Fatalf("%s: proof file %s: %v", st.name, b, err)
			}
			if admission.LeadingZeroBits(admission.PoWHash(req.Scope, req.Message, req.Tag, req.PoW.Timestamp, req.PoW.Nonce)) < 10 || try == 50 {
				break
			}
		}
		code, out, errs := runLicense(t, "", "admit", file)
		if code != st.code || !strings.Contains(out+errs, st.answer) {
			t.Fatalf("%s: admit: exit %d, %q %q; want %d and %q", st.name, code, out, errs, st.code, st.answer)
		}
	}
	// Through a pipe: prove writes the request to stdout, admit reads "-".
	code, proof, errs := runLicense(t, "", "prove", "--scope", scope, "--message", "05", "--pow-bits", "10", "--free")
	if code != 0 || !json.Valid([]byte(proof)) {
		t.Fatalf("prove to stdout: %d %q %s", code, proof, errs)
	}
	if code, out, errs := runLicense(t, proof, "admit", "-"); code != 0 || !strings.Contains(out, `"plan":"free"`) {
		t.Fatalf("admit -: %d %q %s", code, out, errs)
	}
}

// TestScanResumesAfterInterrupt interrupts a scan after its first batch
// (as Ctrl-C would): the progress is saved, and the next scan reads only the
// rest and still finds the license in it.
func TestScanResumesAfterInterrupt(t *testing.T) {
	srv := startServer(t)
	addr := newCustomer(t, srv)
	srv.enqueueDecoys(t, srv.pool, 300)
	idx := srv.mint(t, []issuer.Address{addr})
	if idx[0] != 300 {
		t.Fatalf("license at %d, want 300", idx[0])
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	saved := scanBatchTiles
	scanBatchTiles, scanAfterBatch = 1, cancel
	defer func() { scanBatchTiles, scanAfterBatch = saved, nil }()
	var stdout, stderr strings.Builder
	code := runWithInput(ctx, []string{"scan"}, strings.NewReader(""), &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "scan interrupted after 256 of 301 entries") {
		t.Fatalf("interrupted scan: %d %q %q", code, stdout.String(), stderr.String())
	}
	scanAfterBatch = nil
	// Resume on a terminal: the progress bar shows, with a rate and an ETA.
	master, slave := openPTY(t)
	var screen syncBuffer
	go io.Copy(&screen, master)
	stdout.Reset()
	code = runWithInput(t.Context(), []string{"scan"}, strings.NewReader(""), &stdout, slave)
	if code != 0 || !strings.Contains(stdout.String(), "Scanned 45 new ledger entries (301 in all): 1 new license(s) found") {
		t.Fatalf("resumed scan: %d %q %q", code, stdout.String(), screen.String())
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(screen.String(), "45/45") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := screen.String(); !strings.Contains(s, "scanning") || !strings.Contains(s, "entries/s") || !strings.Contains(s, "45/45") {
		t.Fatalf("no progress bar with count and rate on the terminal: %q", s)
	}
}

// TestTwoCustomers: two accounts, each with a license among decoys, each
// finds only its own license, and both are admitted with proofs whose rings
// may share members.
func TestTwoCustomers(t *testing.T) {
	srv := startServer(t)
	useAccount(t)
	t.Setenv(envLicenseServer, srv.url)
	t.Setenv(envLicenseLedgerKey, srv.vkey)
	dir := t.TempDir()
	accounts := []string{filepath.Join(dir, "alice"), filepath.Join(dir, "bob")}
	var addrs []issuer.Address
	for _, a := range accounts {
		if code, _, errs := runLicense(t, "", "account", "new", "--account", a); code != 0 {
			t.Fatal(errs)
		}
		_, out, _ := runLicense(t, "", "account", "address", "--account", a)
		addr, err := issuer.ParseAddress(strings.TrimSpace(out))
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, addr)
	}
	idx := srv.mint(t, append(append(randomAddresses(t, 15), addrs[0]), append(randomAddresses(t, 15), addrs[1])...))
	owned := []uint64{idx[15], idx[31]}
	scope := "dev/" + time.Now().UTC().Format(time.DateOnly)
	tags := map[string]bool{}
	for i, a := range accounts {
		code, out, errs := runLicense(t, "", "--account", a, "scan") // a global flag before the verb
		if code != 0 || !strings.Contains(out, "1 new license(s) found") {
			t.Fatalf("scan %d: %q %s", i, out, errs)
		}
		_, out, _ = runLicense(t, "", "list", "--account", a)
		if !strings.Contains(out, fmt.Sprintf("\n%d ", owned[i])) || strings.Contains(out, fmt.Sprintf("\n%d ", owned[1-i])) {
			t.Fatalf("account %d lists %q, want only %d", i, out, owned[i])
		}
		file := filepath.Join(dir, fmt.Sprint("proof", i))
		if code, _, errs := runLicense(t, "", "prove", "--account", a, "--scope", scope, "--message", "beef", "--out", file); code != 0 {
			t.Fatal(errs)
		}
		b, _ := os.ReadFile(file)
		var req admitRequest
		json.Unmarshal(b, &req)
		tags[string(req.Tag)] = true
		if code, out, errs := runLicense(t, "", "admit", file); code != 0 || !strings.Contains(out, `"admitted":true`) {
			t.Fatalf("admit %d: %q %s", i, out, errs)
		}
	}
	if len(tags) != 2 {
		t.Fatal("two licenses made the same tag for the same scope and counter")
	}
}

// TestScanWarnsOnMismatch: a license whose sealed payload and public fields
// disagree is kept with the public fields (those relays check), with a
// warning.
func TestScanWarnsOnMismatch(t *testing.T) {
	srv := startServer(t)
	addr := newCustomer(t, srv)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	p := issuer.Payload{Plan: testPlan, NotBefore: today, NotAfter: today.AddDate(0, 0, 30), DailyQuota: 2}
	o, err := issuer.Mint(rand.Reader, addr, p)
	if err != nil {
		t.Fatal(err)
	}
	shorter := today.AddDate(0, 0, 10)
	if _, err := srv.ledger.Append(t.Context(), &ledger.LicenseEntry{Plan: p.Plan, NotBefore: p.NotBefore, NotAfter: shorter,
		R: o.R, P: o.P, ViewTag: o.ViewTag, Sealed: o.Sealed}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runLicense(t, "", "scan")
	if code != 0 || !strings.Contains(out, "1 new license(s) found") || !strings.Contains(errs, "warning: your license at ledger entry 0") {
		t.Fatalf("scan: %d %q %q", code, out, errs)
	}
	_, out, _ = runLicense(t, "", "list")
	if !strings.Contains(out, shorter.Format(time.DateOnly)) {
		t.Fatalf("list does not show the public validity %s: %q", shorter.Format(time.DateOnly), out)
	}
}

// newCustomer points the license tool at srv with a new account and
// returns the account's license address.
func newCustomer(t *testing.T, srv *testServer) issuer.Address {
	t.Helper()
	useAccount(t)
	t.Setenv(envLicenseServer, srv.url)
	t.Setenv(envLicenseLedgerKey, srv.vkey)
	if code, _, errs := runLicense(t, "", "account", "new"); code != 0 {
		t.Fatal(errs)
	}
	_, out, _ := runLicense(t, "", "account", "address")
	addr, err := issuer.ParseAddress(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
