package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/tlogclient"
	"github.com/licensed/licensed/ledger/witness"
)

// TestDevWitnesses: `licensed dev` starts three local witnesses, writes
// their policy, and serves checkpoints a quorum of them cosigned, from size
// zero on; the witnesses stop with it.
func TestDevWitnesses(t *testing.T) {
	dataDir, err := os.MkdirTemp("", "licensed-dev-") // the managed postgres must enter it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	cmd, url, logs := startDev(t, dataDir)
	policyPath := filepath.Join(dataDir, "witness-policy")
	policy, err := tlogclient.LoadPolicy(policyPath)
	if err != nil {
		t.Fatalf("dev wrote no witness policy: %v; logs:\n%s", err, logs)
	}
	if len(policy.Witnesses) != 3 || policy.Quorum() != "2 of w1, w2, w3" {
		t.Fatalf("dev's policy: %d witnesses, quorum %s", len(policy.Witnesses), policy.Quorum())
	}
	resp, err := http.Get(url + "/ledger/key")
	if err != nil {
		t.Fatal(err)
	}
	vkey, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		t.Fatal(err)
	}
	c := &tlogclient.Client{Server: url, Verifier: v, Policy: policy}
	var res *tlogclient.Result
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err = c.Verify(t.Context(), nil, true)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("dev's checkpoint with its policy: %v; logs:\n%s", err, logs)
	}
	if res.Size != 0 || len(res.Cosigners) < 2 {
		t.Fatalf("dev's first checkpoint: size %d cosigned by %v", res.Size, res.Cosigners)
	}
	cp, _ := ledger.OpenCheckpoint(res.Checkpoint, v)
	if cp.Root != ledger.EmptyRoot {
		t.Fatal("size 0 without the empty tree's root")
	}
	// The witnesses are dev's children and stop with it.
	pids := witnessPids(t, dataDir)
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	for _, pid := range pids {
		waitGone(t, pid)
	}
	// fsck accepts the log that starts at size 0.
	out, err := exec.Command(binary(t), "ledger", "fsck", "--data-dir", dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("licensed ledger fsck: %v\n%s", err, out)
	}
	t.Logf("fsck: %s", out)
}

// witnessPids finds the litewitness processes whose database is in dataDir.
func witnessPids(t *testing.T, dataDir string) []int {
	t.Helper()
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), "litewitness") || !strings.Contains(string(b), dataDir) {
			continue
		}
		var pid int
		for _, c := range e.Name() {
			pid = pid*10 + int(c-'0')
		}
		pids = append(pids, pid)
	}
	if len(pids) != 3 {
		t.Fatalf("%d litewitness processes for %s, want 3", len(pids), dataDir)
	}
	return pids
}

// TestWitnessCommand runs the relay operator's one command, `licensed
// witness`, and cosigns a checkpoint of size 0 with it.
func TestWitnessCommand(t *testing.T) {
	skey, vkey, _ := note.GenerateKey(rand.Reader, "witness.test/ledger")
	signer, _ := note.NewSigner(skey)
	dir := t.TempDir()
	cmd := exec.Command(binary(t), "witness", "--name", "relay.test/witness", "--log-key", vkey, "--dir", dir, "--listen", "127.0.0.1:0")
	stdout, _ := cmd.StdoutPipe()
	logs := &logBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGINT); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	var url, line string
	for sc.Scan() {
		if m := regexp.MustCompile(`at (http://\S+) `).FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
		if strings.HasPrefix(sc.Text(), "witness NAME ") {
			line = sc.Text()
			break
		}
	}
	if url == "" || line == "" {
		t.Fatalf("licensed witness printed no URL and policy line; logs:\n%s", logs)
	}
	p, err := witness.ParsePolicy([]byte(line + "\nquorum NAME\n"))
	if err != nil {
		t.Fatalf("its line %q is not a policy line: %v", line, err)
	}
	cp, _ := ledger.SignCheckpoint(ledger.Checkpoint{Origin: "witness.test/ledger", Size: 0, Root: ledger.EmptyRoot}, signer)
	body, _ := (&witness.AddCheckpoint{OldSize: 0, Checkpoint: cp}).MarshalText()
	resp, err := http.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	cosig, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("add-checkpoint: %s %s", resp.Status, cosig)
	}
	if _, err := p.Check(append(cp, cosig...), 0); err != nil {
		t.Fatal(err)
	}
}
