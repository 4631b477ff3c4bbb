package main

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevPortTakenStartsNothing: with its port taken, `licensed dev` stops
// at once, says which port, and has started no database, made no key and
// printed no password.
func TestDevPortTakenStartsNothing(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dataDir := t.TempDir()
	cmd := exec.Command(binary(t), "dev", "--data-dir", dataDir, "--addr", l.Addr().String())
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("licensed dev on a taken port exited 0:\n%s", out)
	}
	if !strings.Contains(string(out), l.Addr().String()) || !strings.Contains(string(out), "--addr") {
		t.Fatalf("the error does not name the port and the flag:\n%s", out)
	}
	for _, f := range []string{"postgres", "ledger.key", "ops-password", "btcd"} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err == nil {
			t.Errorf("%s was made before the port was checked", f)
		}
	}
	if strings.Contains(string(out), "password") {
		t.Fatalf("a password was printed:\n%s", out)
	}
}

// TestToolsFindTheDevDatabase: beside a running `licensed dev` (started in
// a folder with its default data folder), `licensed ledger fsck` and
// `licensed reconcile` need no database URL; after dev stops they start its
// cluster themselves. dev prints the database URL, and /metrics is on its
// own listener, not on the customer port.
func TestToolsFindTheDevDatabase(t *testing.T) {
	work, err := os.MkdirTemp("", "licensed-tools-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(work)
	if err := os.Chmod(work, 0o755); err != nil { // the postgres user enters it
		t.Fatal(err)
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DATABASE_URL") && !strings.HasPrefix(kv, "LICENSED_") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(binary(t), "dev", "--addr", "127.0.0.1:0")
	cmd.Dir, cmd.Env = work, env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var url, dbLine, metrics string
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(90 * time.Second)
	for metrics == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("licensed dev exited; logs:\n%s", logs)
			}
			if m := urlLine.FindStringSubmatch(line); m != nil {
				url = m[1]
			}
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "database: "); ok {
				dbLine = v
			}
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "metrics: "); ok {
				metrics = v
			}
		case <-deadline:
			t.Fatalf("licensed dev printed no metrics URL within 90s; logs:\n%s", logs)
		}
	}
	go func() {
		for range lines {
		}
	}()
	if url == "" || !strings.HasPrefix(dbLine, "postgres://") || !strings.Contains(dbLine, ".licensed%2Fpostgres%2Frun") {
		t.Fatalf("dev printed URL %q, database %q", url, dbLine)
	}
	if code := get(t, url+"/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics on the customer port: %d, want 404", code)
	}
	if code := get(t, metrics); code != http.StatusOK {
		t.Fatalf("GET %s: %d", metrics, code)
	}
	tool := func(args ...string) (string, int) {
		t.Helper()
		c := exec.Command(binary(t), args...)
		c.Dir, c.Env = work, env
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := tool("ledger", "fsck"); code != 0 || !strings.Contains(out, "ok: every tile") {
		t.Fatalf("ledger fsck beside dev: exit %d\n%s", code, out)
	}
	if out, code := tool("reconcile"); code == 2 || strings.Contains(out, "no database") {
		t.Fatalf("reconcile beside dev: exit %d\n%s", code, out)
	}
	// Dev stopped: the tools start its cluster for their own run.
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if out, code := tool("ledger", "fsck", "--data-dir", ".licensed"); code != 0 || !strings.Contains(out, "ok: every tile") {
		t.Fatalf("ledger fsck after dev stopped: exit %d\n%s", code, out)
	}
	// Elsewhere, without a database, the usage error says what to do.
	if out, code := tool("ledger", "fsck", "--data-dir", filepath.Join(work, "nothing")); code != 2 || !strings.Contains(out, "DATABASE_URL") {
		t.Fatalf("fsck without a database: exit %d\n%s", code, out)
	}
}

func TestPlainHTTPOnTheInternet(t *testing.T) {
	for _, tt := range []struct {
		addr, public string
		warn         bool
	}{
		{"127.0.0.1:8080", "", false},
		{"localhost:8080", "", false},
		{"[::1]:8080", "", false},
		{"0.0.0.0:8080", "", true},
		{":8080", "", true},
		{"203.0.113.5:80", "http://shop.example", true},
		{"0.0.0.0:8080", "https://shop.example", false},
	} {
		if got := plainHTTPOnTheInternet(tt.addr, tt.public); got != tt.warn {
			t.Errorf("plainHTTPOnTheInternet(%q, %q) = %v, want %v", tt.addr, tt.public, got, tt.warn)
		}
	}
}
