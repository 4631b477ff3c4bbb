// Package stripemock runs the pinned stripe-mock (github.com/stripe/stripe-mock,
// a tool line in go.mod), a stateless fake of the Stripe API that sends no
// webhooks: for tests (Start: one process per test, stopped when the test
// ends; tests sign their own events with fakestripe.SignEvent) and for
// `licensed dev` (Run, whose dev checkout page stands in for the webhooks).
// It listens on loopback only (by default stripe-mock binds every
// interface) and dies with its parent, even on SIGKILL.
package stripemock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	once   sync.Once
	binary string
	binErr error
)

// Binary returns the path of the stripe-mock binary: $LICENSED_STRIPE_MOCK_BIN,
// then stripe-mock in PATH (`go install tool` puts it there), then the
// module's pinned tool as `go tool -n stripe-mock` builds it (once, then from
// the build cache).
func Binary() (string, error) {
	once.Do(func() {
		if p := os.Getenv("LICENSED_STRIPE_MOCK_BIN"); p != "" {
			binary = p
			return
		}
		if p, err := exec.LookPath("stripe-mock"); err == nil {
			binary = p
			return
		}
		out, err := exec.Command("go", "tool", "-n", "stripe-mock").Output()
		if err != nil {
			binErr = fmt.Errorf("stripemock: couldn't find stripe-mock: run 'go install tool' in the repository, or set LICENSED_STRIPE_MOCK_BIN (%v)", err)
			return
		}
		binary = strings.TrimSpace(string(out))
	})
	return binary, binErr
}

// A Process is a running stripe-mock.
type Process struct {
	URL  string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// Stop ends stripe-mock and waits for it.
func (p *Process) Stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// freePort returns a free TCP port on loopback (free when asked: another
// process may take it before stripe-mock does; then stripe-mock exits and
// Run says so).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// errExited means stripe-mock exited at start, most likely because another
// process took its port first: trying again may work.
var errExited = errors.New("stripe-mock exited at start (port taken?)")

// Run starts stripe-mock with its HTTP and HTTPS listeners on loopback and
// waits until it answers. log receives its output (nil: discarded); args go
// to stripe-mock after the listener flags (e.g. -spec FILE -fixtures FILE).
func Run(ctx context.Context, log io.Writer, args ...string) (*Process, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	hp, err := freePort()
	if err != nil {
		return nil, err
	}
	sp, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(hp)
	cmd := exec.Command(bin, append([]string{"-http-addr", addr, "-https-addr", "127.0.0.1:" + strconv.Itoa(sp)}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("stripemock: couldn't start stripe-mock: %w", err)
	}
	p := &Process{URL: "http://" + addr, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, errExited
		case <-ctx.Done():
			p.Stop()
			return nil, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, errors.New("stripemock: stripe-mock did not answer within 30 s")
		}
	}
}

// TB is the part of testing.TB that Start uses.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Start starts a stripe-mock for this test (with args, as Run) and returns
// its API URL (http://127.0.0.1:PORT). It fails the test if stripe-mock
// cannot run: it is part of the test set-up, like Postgres.
func Start(tb TB, args ...string) string {
	tb.Helper()
	for attempt := 0; ; attempt++ {
		p, err := Run(context.Background(), nil, args...)
		if err == nil {
			tb.Cleanup(p.Stop)
			return p.URL
		}
		if !errors.Is(err, errExited) || attempt == 3 {
			tb.Fatalf("stripemock: %v", err)
		}
	}
}
