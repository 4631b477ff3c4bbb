package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/launch/relayproc"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/web"
)

var (
	licenseBinOnce sync.Once
	licenseBin     string
	licenseBinErr  error
)

// startRelay runs `license relay` (built once per test binary) against
// server with the relay key, and returns its URL once it listens.
func startRelay(t *testing.T, server, ledgerKey, key string, sync time.Duration) string {
	t.Helper()
	licenseBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "license-bin-")
		if err != nil {
			licenseBinErr = err
			return
		}
		licenseBin, licenseBinErr = relayproc.Build(dir)
	})
	if licenseBinErr != nil {
		t.Fatal(licenseBinErr)
	}
	r, err := relayproc.Start(licenseBin, relayproc.Config{Server: server, LedgerKey: ledgerKey, Network: admissiontest.Network, Key: key, Sync: sync})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r.URL
}

// relayAdmit posts r to a relay's POST /admit and returns the status and
// the answer's code.
func relayAdmit(t *testing.T, url string, r *admission.Request) (int, string) {
	t.Helper()
	b, _ := json.Marshal(r)
	resp, err := http.Post(url+"/admit", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	var res admission.Result
	json.NewDecoder(resp.Body).Decode(&res)
	return resp.StatusCode, res.Code
}

// TestNetworkOfRelays runs the documented deployment at small scale: two
// `licensed serve` replicas on one Postgres (one of them sequences) and
// four `license relay` processes verifying proofs locally against their
// mirrors and registering tags with the servers (two relays each). 50
// concurrent uses of one tag, spread over the four relays, admit exactly
// one message; the same block at every relay is admitted at each; a
// license suspended in the database is refused by every relay within one
// sync of the feed publishing it.
func TestNetworkOfRelays(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.URL(t)
	db, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := admissiontest.New(t, db, 30)
	f.StopSequencer() // the servers sequence from here on
	dir := t.TempDir()
	plans := filepath.Join(dir, "plans.toml")
	os.WriteFile(plans, []byte(fmt.Sprintf("[[plan]]\nid = %q\nname = \"Basic\"\nprice = 500\ncurrency = \"usd\"\nduration_days = 30\ndaily_quota = %d\n",
		admissiontest.Basic, admissiontest.BasicQuota)), 0o600)
	os.WriteFile(filepath.Join(dir, "ledger.key"), []byte(f.SignerKey+"\n"), 0o600)
	var keys [4]string
	var lines []string
	for i := range keys {
		key, line, err := web.NewRelayKey(fmt.Sprint("relay-", i))
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = key
		lines = append(lines, line)
	}
	keysFile := filepath.Join(dir, "relay-keys")
	os.WriteFile(keysFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600)

	var servers [2]*serveProc
	for i := range servers {
		servers[i] = startServeCmd(t, exec.Command(binary(t), "serve", "--database-url", dbURL, "--data-dir", dir, "--addr", "127.0.0.1:0",
			"--plans-file", plans, "--ledger-origin", admissiontest.Origin, "--network", admissiontest.Network,
			"--relay-keys-file", keysFile, "--log-format", "json", "--metrics-addr", "off"))
	}
	const syncPeriod = 500 * time.Millisecond
	var relays [4]string
	for i := range relays {
		relays[i] = startRelay(t, servers[i%2].url, f.VerifierKey, keys[i], syncPeriod)
	}

	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	scope := admissiontest.Scope(time.Now())
	same := f.Prove(t, c, ring, pi, scope, 0, []byte("one block, four relays"))
	for i, u := range relays {
		if status, code := relayAdmit(t, u, same); status != 200 {
			t.Fatalf("relay %d, the same block: %d %s", i, status, code)
		}
	}
	reqs := make([]*admission.Request, 50)
	for i := range reqs {
		reqs[i] = f.Prove(t, c, ring, pi, scope, 1, []byte(fmt.Sprint("block ", i)))
	}
	statuses := make([]int, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() {
			var code string
			statuses[i], code = relayAdmit(t, relays[i%4], r)
			if statuses[i] != 200 && code != "tag_used" {
				t.Errorf("use %d at relay %d: %d %s", i, i%4, statuses[i], code)
			}
		})
	}
	wg.Wait()
	admitted := 0
	for _, s := range statuses {
		if s == 200 {
			admitted++
		}
	}
	if admitted != 1 {
		t.Fatalf("%d of 50 concurrent uses of one tag over 4 relays were admitted, want exactly 1", admitted)
	}

	// Suspend the second customer's license (as a dispute does, in the
	// database): once the sequencer publishes it, every relay refuses it
	// after its next sync.
	c2 := f.Customers[1]
	ring2, pi2 := f.Ring(t, c2, 16)
	before := f.Prove(t, c2, ring2, pi2, scope, 0, []byte("before the dispute"))
	if status, code := relayAdmit(t, relays[0], before); status != 200 {
		t.Fatalf("before the suspension: %d %s", status, code)
	}
	_, size0, err := f.Ledger.Store().LatestSuspensions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return pgledger.Suspend(ctx, tx, c2.License.Index) }); err != nil {
		t.Fatal(err)
	}
	var published time.Time
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, n, err := f.Ledger.Store().LatestSuspensions(ctx); err == nil && n > size0 {
			published = time.Now()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the servers' sequencer did not publish the suspension within 10 s")
		}
	}
	for i, u := range relays {
		for relayFeedSize(t, u) <= size0 {
			// One sync period, plus the sync's own time and the feed's 5 s
			// cache, which a relay talking to the server directly does not
			// meet.
			if time.Since(published) > syncPeriod+2*time.Second {
				t.Fatalf("relay %d had not synced the suspension %v after it was published (sync every %v)", i, time.Since(published), syncPeriod)
			}
			time.Sleep(20 * time.Millisecond)
		}
		r := f.Prove(t, c2, ring2, pi2, scope, 1, []byte(fmt.Sprint("during the dispute at relay ", i)))
		if status, code := relayAdmit(t, u, r); status != 400 || code != "member_suspended" {
			t.Fatalf("relay %d, a ring with the suspended license: %d %s, want 400 member_suspended", i, status, code)
		}
	}
}

// relayFeedSize returns the suspension feed size a relay's mirror synced.
func relayFeedSize(t *testing.T, url string) int64 {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Suspensions int64 `json:"suspensions_size"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Suspensions
}
