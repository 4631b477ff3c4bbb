package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// buildLicensed builds this command once per test binary.
var licensedBin string

func binary(t *testing.T) string {
	t.Helper()
	if licensedBin != "" {
		return licensedBin
	}
	dir, err := os.MkdirTemp("", "licensed-bin-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "licensed")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	licensedBin = bin
	return bin
}

var urlLine = regexp.MustCompile(`running at (http://127\.0\.0\.1:\d+)/`)

// startDev runs `licensed dev` on dataDir and returns the process and its URL.
func startDev(t *testing.T, dataDir string) (*exec.Cmd, string, *logBuffer) {
	t.Helper()
	cmd := exec.Command(binary(t), "dev", "--data-dir", dataDir, "--addr", "127.0.0.1:0")
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
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := urlLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			cmd.Wait()
			t.Fatalf("licensed dev exited before printing its URL; logs:\n%s", logs)
		}
		return cmd, u, logs
	case <-time.After(90 * time.Second):
		t.Fatalf("licensed dev printed no URL within 90s; logs:\n%s", logs)
	}
	return nil, "", nil
}

// logBuffer collects a process's stderr; os/exec writes it from its own
// goroutine, so reads take the lock.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func postmasterPid(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "postgres", "data", "postmaster.pid"))
	if err != nil {
		t.Fatalf("no postmaster.pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func alive(pid int) bool {
	// Signal 0 checks existence; a zombie would still answer, but postgres is
	// reaped by its parent, licensed, which has exited or waited for it.
	return syscall.Kill(pid, 0) == nil
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("postgres (pid %d) is still running", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDevLifecycle runs the README's first command the way a newcomer does:
// it answers, Ctrl-C leaves no postgres behind, a second start reuses the data,
// and even a SIGKILL of licensed takes its postgres down with it.
func TestDevLifecycle(t *testing.T) {
	dataDir, err := os.MkdirTemp("", "licensed-dev-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dataDir)

	cmd, url, logs := startDev(t, dataDir)
	for _, path := range []string{"/healthz", "/readyz"} {
		if code := get(t, url+path); code != http.StatusOK {
			t.Fatalf("GET %s = %d, want 200; logs:\n%s", path, code, logs)
		}
	}
	key1, err := os.ReadFile(filepath.Join(dataDir, "ledger.key"))
	if err != nil {
		t.Fatalf("dev made no ledger key: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(dataDir, "ledger.key")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("ledger key mode %v, want 0600", fi.Mode().Perm())
	}
	pid := postmasterPid(t, dataDir)
	if !alive(pid) {
		t.Fatal("postgres is not running while dev runs")
	}

	// Ctrl-C.
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("licensed dev after Ctrl-C: %v; logs:\n%s", err, logs)
	}
	waitGone(t, pid)
	if !strings.Contains(logs.String(), "migrated the database") {
		t.Fatalf("the first start did not say it migrated the database:\n%s", logs)
	}

	// Second start: same key, no migration, same database.
	cmd, url, logs = startDev(t, dataDir)
	if code := get(t, url+"/readyz"); code != http.StatusOK {
		t.Fatalf("second start: readyz %d", code)
	}
	key2, _ := os.ReadFile(filepath.Join(dataDir, "ledger.key"))
	if string(key1) != string(key2) {
		t.Fatal("second start replaced the ledger key")
	}
	pid = postmasterPid(t, dataDir)

	// SIGKILL: postgres must not outlive licensed.
	cmd.Process.Kill()
	cmd.Wait() // also waits until all of its stderr is in logs
	waitGone(t, pid)
	if strings.Contains(logs.String(), "migrated the database") {
		t.Fatalf("second start migrated again:\n%s", logs)
	}

	// And it starts again after the crash.
	cmd, url, _ = startDev(t, dataDir)
	if code := get(t, url+"/readyz"); code != http.StatusOK {
		t.Fatalf("start after a crash: readyz %d", code)
	}
	pid = postmasterPid(t, dataDir)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("licensed dev after SIGTERM: %v", err)
	}
	waitGone(t, pid)
}

// TestReadyzFollowsDatabase runs the real Main in-process against its own
// cluster and stops the database under it.
func TestReadyzFollowsDatabase(t *testing.T) {
	c := pgtest.StartCluster(t, false)
	if err := c.EnsureDatabase(context.Background(), "licensed"); err != nil {
		t.Fatal(err)
	}
	m := &Main{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	m.Config = Config{Addr: "127.0.0.1:0", DatabaseURL: c.URL("licensed"), DataDir: t.TempDir(), Migrate: true, LedgerOrigin: "test.example/ledger"}
	keyFile := filepath.Join(m.Config.DataDir, "ledger.key")
	if _, err := createLedgerKey(keyFile, m.Config.LedgerOrigin); err != nil {
		t.Fatal(err)
	}
	serveMain(t, m)
	if code := get(t, m.URL+"/readyz"); code != http.StatusOK {
		t.Fatalf("readyz with the database up = %d", code)
	}
	c.Stop()
	if code := get(t, m.URL+"/readyz"); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database down = %d, want 503", code)
	}
	if code := get(t, m.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz with the database down = %d, want 200 (the process is alive)", code)
	}
}

func TestServeRefusesUnmigratedDatabase(t *testing.T) {
	u := pgtest.URL(t)
	ctx := context.Background()
	// A migrated clone, put back to version 0.
	m := &Main{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	m.Config = Config{Addr: "127.0.0.1:0", DatabaseURL: u, DataDir: t.TempDir(), LedgerOrigin: "test.example/ledger"}
	if _, err := createLedgerKey(m.Config.ledgerKeyFile(), m.Config.LedgerOrigin); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(ctx); err != nil {
		t.Fatalf("open on a migrated database: %v", err)
	}
	pool := m.DB
	if _, err := pool.Exec(ctx, `update schema_version set version = 0`); err != nil {
		t.Fatal(err)
	}
	m.Close()
	m2 := &Main{Log: m.Log, Config: m.Config}
	err := m2.Open(ctx)
	if err == nil || !strings.Contains(err.Error(), "licensed migrate") {
		t.Fatalf("open on an unmigrated database: %v, want advice to run 'licensed migrate'", err)
	}
}

// serveMain opens m and runs it until the test ends: then it cancels Run,
// waits for it and closes m.
func serveMain(t *testing.T, m *Main) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		m.Close()
	})
}
