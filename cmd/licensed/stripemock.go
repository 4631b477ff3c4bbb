package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// stripeMock is a running stripe-mock (github.com/stripe/stripe-mock, pinned
// as a tool in go.mod): a stateless fake of the Stripe API. It sends no
// webhooks; the dev checkout page stands in for them.
type stripeMock struct {
	URL  string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// stripeMockBinary finds the stripe-mock binary: $LICENSED_STRIPE_MOCK_BIN,
// then stripe-mock in PATH (`go install tool` puts it there), then the
// module's pinned tool (`go tool -n stripe-mock`, which builds it once).
func stripeMockBinary(ctx context.Context) (string, error) {
	if p := os.Getenv("LICENSED_STRIPE_MOCK_BIN"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "-n", "stripe-mock").Output()
	if err != nil {
		return "", fmt.Errorf("couldn't find stripe-mock: run 'go install tool' in the repository, or set LICENSED_STRIPE_MOCK_BIN (%v)", err)
	}
	p := string(out)
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p, nil
}

// freePort returns a free TCP port on loopback (free when asked: another
// process may take it before stripe-mock does, then start fails and says so).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startStripeMock starts stripe-mock with both its HTTP and HTTPS listeners
// on loopback (by default it binds every interface) and waits until it
// answers. log receives its output.
func startStripeMock(ctx context.Context, log io.Writer) (*stripeMock, error) {
	bin, err := stripeMockBinary(ctx)
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	httpsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:"+strconv.Itoa(httpPort), "-https-addr", "127.0.0.1:"+strconv.Itoa(httpsPort))
	cmd.Stdout, cmd.Stderr = log, log
	// If licensed dies, even by SIGKILL, stripe-mock goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("couldn't start stripe-mock: %w", err)
	}
	sm := &stripeMock{URL: "http://127.0.0.1:" + strconv.Itoa(httpPort), cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(sm.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(httpPort), time.Second)
		if err == nil {
			c.Close()
			return sm, nil
		}
		select {
		case <-sm.done:
			return nil, fmt.Errorf("stripe-mock exited at start: %v", cmd.ProcessState)
		case <-ctx.Done():
			sm.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			sm.Stop()
			return nil, errors.New("stripe-mock did not answer within 30 s")
		}
	}
}

// Stop ends stripe-mock and waits for it.
func (sm *stripeMock) Stop() {
	sm.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-sm.done:
	case <-time.After(5 * time.Second):
		sm.cmd.Process.Kill()
		<-sm.done
	}
}
