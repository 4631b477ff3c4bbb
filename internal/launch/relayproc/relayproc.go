// Package relayproc builds and runs `license relay` (cmd/license) as a
// process, for the tests and benchmarks of a network of relays: each relay
// verifies proofs against its own mirror of the ledger and registers tags
// with the server, as a relay operator runs it.
//
//	bin, err := relayproc.Build(tmpDir)  // go build of cmd/license
//	r, err := relayproc.Start(bin, relayproc.Config{Server: url, LedgerKey: vkey, Network: "main", Key: relayKey})
//	defer r.Stop()
//	http.Post(r.URL+"/admit", ...)
package relayproc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Build builds cmd/license into dir and returns the binary's path. It
// finds the module from the working directory (a test's package folder).
func Build(dir string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("relayproc: couldn't find the module: %w", err)
	}
	bin := filepath.Join(dir, "license")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/license")
	cmd.Dir = strings.TrimSpace(string(out))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("relayproc: go build ./cmd/license: %v\n%s", err, out)
	}
	return bin, nil
}

// Config is one relay's settings.
type Config struct {
	Server, LedgerKey, Network string
	// Key is the relay key; empty runs the relay with --memory (tags in
	// the process).
	Key string
	// Sync is the mirror's sync period (default 30 s).
	Sync time.Duration
}

// Relay is a running relay process.
type Relay struct {
	URL string
	Cmd *exec.Cmd

	mu   sync.Mutex
	logs bytes.Buffer
}

var listening = regexp.MustCompile(`^listening on (http://\S+)$`)

// Start runs the relay and waits (at most a minute) until it listens.
func Start(bin string, cfg Config) (*Relay, error) {
	args := []string{"relay", "--server", cfg.Server, "--ledger-key", cfg.LedgerKey, "--network", cfg.Network, "--listen", "127.0.0.1:0"}
	if cfg.Sync > 0 {
		args = append(args, "--sync", cfg.Sync.String())
	}
	if cfg.Key == "" {
		args = append(args, "--memory")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "LICENSE_RELAY_KEY="+cfg.Key)
	r := &Relay{Cmd: cmd}
	cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.logs.Write(p)
	})
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			cmd.Wait()
			return nil, fmt.Errorf("relayproc: license relay exited at start: %s", r.Logs())
		}
		r.URL = u
		return r, nil
	case <-time.After(time.Minute):
		r.Stop()
		return nil, errors.New("relayproc: license relay did not listen within a minute")
	}
}

// Logs returns what the relay wrote on standard error.
func (r *Relay) Logs() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.String()
}

// Stop kills the relay and waits for it.
func (r *Relay) Stop() {
	if r.Cmd.Process != nil {
		r.Cmd.Process.Kill()
		r.Cmd.Wait()
	}
}

// CPU returns the CPU time (user and system) the relay process has used,
// from /proc (Linux), in clock ticks of 10 ms.
func (r *Relay) CPU() (time.Duration, error) {
	if runtime.GOOS != "linux" {
		return 0, errors.New("relayproc: CPU reads /proc (Linux only)")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.Cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, errors.New("relayproc: short /proc stat")
	}
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
