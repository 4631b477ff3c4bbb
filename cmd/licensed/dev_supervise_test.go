package main

import (
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDevRestartsItsPostgres: a SIGKILL of the managed postmaster is
// logged, the cluster is started again, and dev serves again by itself.
func TestDevRestartsItsPostgres(t *testing.T) {
	dataDir, err := os.MkdirTemp("", "licensed-dev-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dataDir)
	cmd, url, logs := startDev(t, dataDir)
	order := url + "/v1/orders/aaaaaaaaaaaaaaaaaaaaaaaaaa" // no such order: a 404 needs the database
	if code := get(t, order); code != http.StatusNotFound {
		t.Fatalf("GET an unknown order = %d, want 404; logs:\n%s", code, logs)
	}
	pid := postmasterPid(t, dataDir)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	sawDown := false
	for {
		code := get(t, url+"/readyz")
		if code != http.StatusOK {
			sawDown = true
		}
		if code == http.StatusOK && get(t, order) == http.StatusNotFound && postmasterPid(t, dataDir) != pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev did not serve again within 60 s of the SIGKILL; logs:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("serving again %v after the SIGKILL (saw it down: %v)", time.Since(start).Round(time.Millisecond), sawDown)
	// The supervisor logs the restart once its own connection gets in,
	// which may be a moment after the server's pool.
	for _, want := range []string{"the managed Postgres exited", "restarted the managed Postgres"} {
		for wait := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), want); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(wait) {
				t.Fatalf("no %q in the logs:\n%s", want, logs)
			}
		}
	}
	// And Ctrl-C still takes the new postmaster down with it.
	newPid := postmasterPid(t, dataDir)
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("licensed dev after Ctrl-C: %v; logs:\n%s", err, logs)
	}
	waitGone(t, newPid)
}
