package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/ledger/poll"
	"github.com/licensed/licensed/ledger/poll/pgpoll"
	"github.com/licensed/licensed/web"
)

// pollServer is the real server with the ledger, its index and the polls
// (no admission), on a loopback port, with a clock the test can move on.
type pollServer struct {
	*testServer
	polls *pgpoll.Store
	skew  atomic.Int64 // added to the server's clock, in seconds
	skey  string
}

func startPollServer(t *testing.T) *pollServer {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, "dev.license.test")
	if err != nil {
		t.Fatal(err)
	}
	return startPollServerWithKey(t, skey)
}

// startPollServerWithKey starts a poll server whose ledger and polls sign
// with skey: two of them show two different logs under one key.
func startPollServerWithKey(t *testing.T, skey string) *pollServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	pool := pgtest.Pool(t)
	log := slog.New(slog.DiscardHandler)
	led := pgledger.New(pool, pgledger.Config{Signer: signer, Period: 20 * time.Millisecond, Log: log})
	index := ledger.NewIndex()
	store := pgledger.NewStore(pool)
	polls, err := pgpoll.New(pool, signer, index)
	if err != nil {
		t.Fatal(err)
	}
	s := &pollServer{polls: polls, skey: skey}
	vkey := verifierKey(t, skey)
	srv := web.New(web.Config{}, web.Deps{DB: pool, Ledger: &web.LedgerDeps{Store: store, VerifierKey: vkey},
		Polls: &web.PollDeps{Store: polls, Now: func() time.Time { return time.Now().Add(time.Duration(s.skew.Load()) * time.Second) }}}, log)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { led.RunSequencer(ctx) })
	wg.Go(func() { index.Follow(ctx, store, 20*time.Millisecond, log) })
	wg.Go(func() { srv.Serve(ctx, l) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	s.testServer = &testServer{url: "http://" + l.Addr().String(), vkey: vkey, pool: pool, ledger: led, index: index}
	return s
}

// mintOne appends a license of plan valid [nb, na) for addr.
func (s *pollServer) mintOne(t *testing.T, addr issuer.Address, plan string, nb, na time.Time) uint64 {
	t.Helper()
	var receipt [issuer.ReceiptSize]byte
	rand.Read(receipt[:])
	p := issuer.Payload{Plan: plan, NotBefore: nb, NotAfter: na, DailyQuota: 1, Receipt: receipt}
	o, err := issuer.Mint(rand.Reader, addr, p)
	if err != nil {
		t.Fatal(err)
	}
	i, err := s.ledger.Append(t.Context(), &ledger.LicenseEntry{Plan: plan, NotBefore: nb, NotAfter: na, R: o.R, P: o.P, ViewTag: o.ViewTag, Sealed: o.Sealed})
	if err != nil {
		t.Fatal(err)
	}
	s.waitIndex(t)
	return i
}

// TestPollEndToEnd: 17 licenses of one account vote through the license
// tool, each anonymously among decoys; a double vote, an ineligible plan, an
// expired license and a ballot after the close are refused; the recount of
// `license poll verify` matches the published tally and each voter finds
// their ballot; a ballot changed in the database is detected.
func TestPollEndToEnd(t *testing.T) {
	srv := startPollServer(t)
	useAccount(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // poll verify's state files
	t.Setenv(envLicenseServer, srv.url)
	t.Setenv(envLicenseLedgerKey, srv.vkey)
	if code, _, errs := runLicense(t, "", "account", "new"); code != 0 {
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
	const voters = 17
	addrs := randomAddresses(t, 30)
	for range voters {
		addrs = append(addrs, addr)
	}
	idx := srv.mint(t, addrs) // plan basic, valid from yesterday for 30 days
	mine := idx[30:]
	today := time.Now().UTC().Truncate(24 * time.Hour)
	expired := srv.mintOne(t, addr, testPlan, today.AddDate(0, 0, -20), today)
	otherPlan := srv.mintOne(t, addr, "pro", today.AddDate(0, 0, -1), today.AddDate(0, 0, 30))
	if code, _, errs := runLicense(t, "", "scan", "--quiet"); code != 0 {
		t.Fatal(errs)
	}

	opens := time.Now().Truncate(time.Second)
	cp, err := srv.ledger.Store().Latest(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	p := &poll.Poll{ID: "icon-colour", Question: "Which colour for the icon?", Options: []string{"blue", "green", "orange"},
		Plans: []string{testPlan}, Opens: opens, Closes: opens.Add(time.Hour), Electorate: uint64(cp.Size), MinRing: 11}
	if _, err := srv.polls.Create(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	// A second poll, opening in half an hour, its tally hidden until the close.
	soon := &poll.Poll{ID: "soon", Question: "Later?", Options: []string{"yes", "no"}, Plans: []string{testPlan},
		Opens: opens.Add(30 * time.Minute), Closes: opens.Add(90 * time.Minute), Electorate: uint64(cp.Size), HiddenTally: true, MinRing: 11}
	if _, err := srv.polls.Create(t.Context(), soon); err != nil {
		t.Fatal(err)
	}
	// A license bought once the poll is announced does not vote.
	late := srv.mintOne(t, addr, testPlan, today.AddDate(0, 0, -1), today.AddDate(0, 0, 30))
	if code, _, errs := runLicense(t, "", "scan", "--quiet"); code != 0 {
		t.Fatal(errs)
	}
	dir := t.TempDir()
	want := make([]int64, 3)
	for i := range voters {
		receipt := filepath.Join(dir, fmt.Sprintf("receipt%d.json", i))
		code, _, errs := runLicense(t, "", "vote", "--poll", p.ID, "--option", fmt.Sprint(i%3), "--receipt", receipt)
		if code != 0 {
			t.Fatalf("vote %d: %s", i, errs)
		}
		want[i%3]++
	}
	// Every license of the account has voted.
	code, _, errs = runLicense(t, "", "vote", "--poll", p.ID, "--option", "0")
	if code != 1 || !strings.Contains(errs, "no license of this account may vote") {
		t.Fatalf("18th vote: %d %s", code, errs)
	}
	oneSentence(t, errs)
	refusals := []struct {
		name    string
		license uint64
		want    string
	}{
		{"double vote", mine[4], "already_voted"},
		{"ineligible plan", otherPlan, `of plan "pro"`},
		{"expired license", expired, "was not valid when the poll opened"},
		{"license minted after the poll was made", late, "minted after the poll was made"},
	}
	for _, tc := range refusals {
		code, _, errs := runLicense(t, "", "vote", "--poll", p.ID, "--option", "1", "--license", fmt.Sprint(tc.license))
		if code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: %d %s", tc.name, code, errs)
		}
		oneSentence(t, errs)
	}

	// The recount, live (the tally is not hidden), and each voter's check.
	code, out, errs = runLicense(t, "", "poll", "verify", p.ID, "--receipt", filepath.Join(dir, "receipt7.json"))
	if code != 0 || !strings.Contains(out, "the recount matches the published tally") || !strings.Contains(out, "your ballot is leaf 8") {
		t.Fatalf("poll verify: %d %s %s", code, out, errs)
	}
	for i, o := range p.Options {
		if !strings.Contains(out, fmt.Sprintf("%d. %s: %d\n", i, o, want[i])) {
			t.Fatalf("poll verify counts, want %v: %s", want, out)
		}
	}

	// A ballot before the opening is refused and spends nothing: the same
	// license votes once the poll is open.
	code, _, errs = runLicense(t, "", "vote", "--poll", soon.ID, "--option", "0")
	if code != 1 || !strings.Contains(errs, "poll_not_open") {
		t.Fatalf("vote before the opening: %d %s", code, errs)
	}
	srv.skew.Store(int64(45 * time.Minute / time.Second))
	soonReceipt := filepath.Join(dir, "soon.json")
	if code, _, errs = runLicense(t, "", "vote", "--poll", soon.ID, "--option", "0", "--receipt", soonReceipt); code != 0 {
		t.Fatalf("vote once open: %s", errs)
	}
	// Hidden until the close: the log and the voter's ballot check, no count.
	code, out, errs = runLicense(t, "", "poll", "verify", soon.ID, "--receipt", soonReceipt)
	if code != 0 || !strings.Contains(out, "the tally is hidden until the close") || !strings.Contains(out, "your ballot is leaf 1") || strings.Contains(out, "yes:") {
		t.Fatalf("poll verify %s while hidden: %d %s %s", soon.ID, code, out, errs)
	}

	// After the close no ballot is taken.
	srv.skew.Store(int64(2 * time.Hour / time.Second))
	code, _, errs = runLicense(t, "", "vote", "--poll", p.ID, "--option", "1", "--license", fmt.Sprint(mine[0]))
	if code != 1 || !strings.Contains(errs, "poll_closed") {
		t.Fatalf("vote after close: %d %s", code, errs)
	}
	if code, out, errs = runLicense(t, "", "poll", "verify", p.ID); code != 0 || !strings.Contains(out, "closed") {
		t.Fatalf("poll verify after close: %d %s %s", code, out, errs)
	}
	if code, out, errs = runLicense(t, "", "poll", "verify", soon.ID); code != 0 || !strings.Contains(out, "0. yes: 1\n") || !strings.Contains(out, "the recount matches") {
		t.Fatalf("poll verify %s after its close: %d %s %s", soon.ID, code, out, errs)
	}

	// A server with the same key showing another log of the same poll (here
	// a fresh one, as if rolled back) is caught by the state of the runs
	// before, and by a voter's receipt.
	fork := startPollServerWithKey(t, srv.skey)
	if _, err := fork.polls.Create(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runLicense(t, "", "poll", "verify", p.ID, "--server", fork.url)
	if code != 1 || !strings.Contains(errs, "forked or rolled it back") {
		t.Fatalf("poll verify of a forked log: %d %s %s", code, out, errs)
	}
	code, out, errs = runLicense(t, "", "poll", "verify", p.ID, "--server", fork.url, "--state", filepath.Join(dir, "fresh"), "--receipt", filepath.Join(dir, "receipt7.json"))
	if code != 1 || !strings.Contains(errs, "is NOT in poll") {
		t.Fatalf("poll verify of a forked log with a receipt: %d %s %s", code, out, errs)
	}

	// A server that publishes a tally other than its log's: the recount
	// differs.
	if _, err := srv.pool.Exec(t.Context(), `
		alter table poll_leaves disable trigger poll_leaves_append_only;
		update poll_leaves set option = (option + 1) % 3 where poll_id = 'icon-colour' and idx = 6;
		alter table poll_leaves enable trigger poll_leaves_append_only`); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runLicense(t, "", "poll", "verify", p.ID)
	if code != 1 || !strings.Contains(out, "FAILED: the published tally") || !strings.Contains(errs, "does not recount") {
		t.Fatalf("poll verify of a false tally: %d %s %s", code, out, errs)
	}
	t.Logf("false tally: %s", errs)

	// Someone with the database changes ballot 5's option: detected.
	if _, err := srv.pool.Exec(t.Context(), `
		alter table poll_leaves disable trigger poll_leaves_append_only;
		update poll_leaves set leaf = overlay(leaf placing '\x02'::bytea from 34 for 1) where poll_id = 'icon-colour' and idx = 5;
		alter table poll_leaves enable trigger poll_leaves_append_only`); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runLicense(t, "", "poll", "verify", p.ID)
	if code != 1 || !strings.Contains(errs, "tampered") {
		t.Fatalf("poll verify of a tampered log: %d %s %s", code, out, errs)
	}
	t.Logf("tampered log: %s", errs)
	oneSentence(t, errs)
}
