package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/issuer/walletsig"
	"github.com/licensed/licensed/ledger/tagfilter"
)

// waitFilter waits until the server's filter of scope holds the tag of req
// (its cache lasts up to 10 s).
func waitFilter(t *testing.T, srv *testServer, req *admitRequest) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(srv.url + "/v1/tags/filter?scope=" + url.QueryEscape(req.Scope))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		f, err := tagfilter.Parse(b)
		if err != nil {
			t.Fatalf("filter: %v", err)
		}
		if f.Contains(req.Counter, req.Tag) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the admitted tag never showed in the filter")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func readProof(t *testing.T, file string) *admitRequest {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var req admitRequest
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatal(err)
	}
	return &req
}

// TestRestoredAccountsNeverRepeatATag: an account derived from a wallet
// holds two licenses and proves on its first device; copies of it restored
// from an older account file, from the seed phrase and from the wallet
// again each scan, skip the counters used before (learned from the
// server's filter of used tags), and have their next proof admitted with a
// tag never seen before. A proof made and never sent is made again by the
// older file over the identical ring.
func TestRestoredAccountsNeverRepeatATag(t *testing.T) {
	srv := startServer(t)
	useAccount(t)
	t.Setenv(envLicenseServer, srv.url)
	t.Setenv(envLicenseLedgerKey, srv.vkey)
	dir := t.TempDir()
	btc := newBTCWallet("restore test wallet")
	sig := btc.sign(walletsig.Challenge)
	walletInput := btc.address() + "\n" + sig + "\n" + sig + "\n"

	first := filepath.Join(dir, "first")
	if code, _, errs := runLicense(t, walletInput, "account", "new", "--from-wallet", "--account", first); code != 0 {
		t.Fatal(errs)
	}
	_, out, _ := runLicense(t, "", "account", "address", "--account", first)
	addr, err := issuer.ParseAddress(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	srv.mint(t, append(append(randomAddresses(t, 10), addr), append(randomAddresses(t, 10), addr)...))
	if code, out, errs := runLicense(t, "", "scan", "--quiet", "--account", first); code != 0 || !strings.Contains(out, "2 new license(s) found") {
		t.Fatalf("scan: %q %s", out, errs)
	}
	older := filepath.Join(dir, "older")
	b, _ := os.ReadFile(first)
	os.WriteFile(older, b, 0o600)

	scope := "dev/" + time.Now().UTC().Format(time.DateOnly)
	tags := map[string]string{} // tag → which proof
	prove := func(account, name string) *admitRequest {
		t.Helper()
		file := filepath.Join(dir, name+".json")
		code, _, errs := runLicense(t, "", "prove", "--account", account, "--scope", scope, "--message", fmt.Sprintf("%x", name), "--out", file)
		if code != 0 {
			t.Fatalf("prove %s: %s", name, errs)
		}
		if !strings.Contains(errs, "Wrote a proof with counter ") {
			t.Fatalf("prove %s says %q", name, errs)
		}
		req := readProof(t, file)
		if !strings.Contains(errs, fmt.Sprintf("counter %d (", req.Counter)) {
			t.Fatalf("prove %s: the words %q and the JSON's counter %d disagree", name, errs, req.Counter)
		}
		return req
	}
	admit := func(req *admitRequest, name string) {
		t.Helper()
		if prev, ok := tags[string(req.Tag)]; ok {
			t.Fatalf("%s repeats the tag of %s", name, prev)
		}
		tags[string(req.Tag)] = name
		file := filepath.Join(dir, name+".json")
		if code, out, errs := runLicense(t, "", "admit", file, "--server", srv.url); code != 0 || !strings.Contains(out, `"admitted":true`) {
			t.Fatalf("admit %s: %q %s", name, out, errs)
		}
		if name != "from-wallet" { // the last: nobody proves after it
			waitFilter(t, srv, req)
		}
	}

	// The first device: license A counter 0, admitted; then license B
	// counter 0, made and never sent.
	a0 := prove(first, "first-a0")
	admit(a0, "first-a0")
	unsent := prove(first, "first-unsent")
	if a0.Counter != 0 || unsent.Counter != 0 || slices.Equal(a0.Ring, unsent.Ring) {
		t.Fatalf("first device: counters %d and %d", a0.Counter, unsent.Counter)
	}

	// The older account file knows of no proof: it skips license A's
	// counter 0 (in the filter), and makes license B's counter 0 again,
	// over the identical ring.
	again := prove(older, "older")
	if again.Counter != 0 || !slices.Equal(again.Ring, unsent.Ring) {
		t.Fatalf("the older file proved counter %d over ring %v; the unsent proof was counter 0 over %v", again.Counter, again.Ring, unsent.Ring)
	}
	if string(again.Tag) != string(unsent.Tag) {
		t.Fatal("the same license and counter made another tag")
	}
	admit(again, "older")
	// The proof never sent is now refused: its tag went with another message.
	if code, _, errs := runLicense(t, "", "admit", filepath.Join(dir, "first-unsent.json")); code != 1 || !strings.Contains(errs, "tag_used") {
		t.Fatalf("the unsent proof, sent late: %d %s", code, errs)
	}

	// Restored from the seed phrase: both counters 0 are in the filter.
	_, out, _ = runLicense(t, "", "account", "show", "--seed-phrase", "--account", first)
	_, phrase, ok := strings.Cut(out, "seed phrase: ")
	if !ok {
		t.Fatalf("no seed phrase in %q", out)
	}
	fromPhrase := filepath.Join(dir, "from-phrase")
	if code, _, errs := runLicense(t, phrase, "account", "new", "--restore", "--account", fromPhrase); code != 0 {
		t.Fatal(errs)
	}
	if code, out, errs := runLicense(t, "", "scan", "--quiet", "--account", fromPhrase); code != 0 || !strings.Contains(out, "2 new license(s) found") {
		t.Fatalf("scan: %q %s", out, errs)
	}
	p := prove(fromPhrase, "from-phrase")
	if p.Counter != 1 {
		t.Fatalf("the account restored from its seed phrase proved counter %d, want 1", p.Counter)
	}
	admit(p, "from-phrase")

	// Derived from the wallet again, on another machine.
	fromWallet := filepath.Join(dir, "from-wallet")
	if code, _, errs := runLicense(t, walletInput, "account", "new", "--from-wallet", "--account", fromWallet); code != 0 {
		t.Fatal(errs)
	}
	if code, out, errs := runLicense(t, "", "scan", "--quiet", "--account", fromWallet); code != 0 || !strings.Contains(out, "2 new license(s) found") {
		t.Fatalf("scan: %q %s", out, errs)
	}
	code, _, errs := runLicense(t, "", "prove", "--account", fromWallet, "--scope", scope, "--message", "77", "--out", filepath.Join(dir, "from-wallet.json"))
	if code != 0 || !strings.Contains(errs, "Skipped 2 counter(s)") && !strings.Contains(errs, "Skipped 1 counter(s)") {
		t.Fatalf("prove from the wallet-derived copy: %d %s", code, errs)
	}
	w := readProof(t, filepath.Join(dir, "from-wallet.json"))
	if w.Counter == 0 {
		t.Fatal("the wallet-derived copy reused a counter 0")
	}
	admit(w, "from-wallet")

	if got := srv.admitted(); got != int64(len(tags)) {
		t.Fatalf("%d admissions, want %d", got, len(tags))
	}
}
