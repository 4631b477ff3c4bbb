package pgcluster

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestSupervise: a postmaster killed with SIGKILL is started again on the
// same data, and Stop ends the supervision for good.
func TestSupervise(t *testing.T) {
	dir, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	c, err := Start(ctx, Config{Dir: dir})
	if err != nil {
		if os.Getenv("CI") != "true" && err == ErrNoServer {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	defer c.Stop()
	if err := c.EnsureDatabase(ctx, "kept"); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	supervised := make(chan struct{})
	go func() { defer close(supervised); c.Supervise(ctx, slog.New(slog.NewTextHandler(&logs, nil))) }()

	for round := range 2 {
		pid := c.Pid()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			// Running again on the same data, and the restart logged (the
			// log line may follow the new postmaster's first connection).
			if c.Pid() != pid && strings.Count(logs.String(), "restarted the managed Postgres") == round+1 {
				if conn, err := pgx.Connect(ctx, c.URL("kept")); err == nil { // the data survived
					conn.Close(ctx)
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: not running again within 60 s; logs:\n%s", round, logs.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if n := strings.Count(logs.String(), "restarted the managed Postgres"); n != 2 {
		t.Fatalf("%d restarts logged, want 2:\n%s", n, logs.String())
	}
	pid := c.Pid()
	c.Stop()
	select {
	case <-supervised:
	case <-time.After(10 * time.Second):
		t.Fatal("Supervise still runs after Stop")
	}
	if syscall.Kill(pid, 0) == nil {
		t.Fatalf("postmaster %d still runs after Stop", pid)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
