// Package stripemock runs the pinned stripe-mock (github.com/stripe/stripe-mock,
// a tool line in go.mod) for tests: one process per test, on loopback only,
// stopped when the test ends. stripe-mock is stateless and sends no webhooks;
// tests sign their own events (payments.SignEvent).
package stripemock

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	once   sync.Once
	binary string
	binErr error
)

// Binary returns the path of the stripe-mock binary: $LICENSED_STRIPE_MOCK_BIN,
// or the module's pinned tool as `go tool -n stripe-mock` builds it (once,
// then from the build cache).
func Binary() (string, error) {
	once.Do(func() {
		if p := os.Getenv("LICENSED_STRIPE_MOCK_BIN"); p != "" {
			binary = p
			return
		}
		out, err := exec.Command("go", "tool", "-n", "stripe-mock").Output()
		if err != nil {
			binErr = fmt.Errorf("stripemock: couldn't build the pinned stripe-mock: %v", err)
			return
		}
		binary = strings.TrimSpace(string(out))
	})
	return binary, binErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start starts a stripe-mock for this test and returns its API URL
// (http://127.0.0.1:PORT). It fails the test if stripe-mock cannot run: it is
// part of the test set-up, like Postgres.
func Start(tb testing.TB) string {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		url, err := start(tb, bin)
		if err == nil {
			return url
		}
		if attempt == 3 {
			tb.Fatalf("stripemock: %v", err)
		}
	}
}

func start(tb testing.TB, bin string) (string, error) {
	hp, err := freePort()
	if err != nil {
		return "", err
	}
	sp, err := freePort()
	if err != nil {
		return "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(hp)
	cmd := exec.Command(bin, "-http-addr", addr, "-https-addr", "127.0.0.1:"+strconv.Itoa(sp))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			tb.Cleanup(stop)
			return "http://" + addr, nil
		}
		select {
		case <-done:
			return "", errors.New("stripe-mock exited at start (port taken?)")
		case <-time.After(25 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", errors.New("stripe-mock did not answer within 30 s")
		}
	}
}
