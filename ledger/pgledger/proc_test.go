package pgledger_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/migrations"
)

// The test binary re-executed with childEnv set runs a sequencer (a
// separate process, as a second server would) until it is killed.
const (
	childEnv   = "LEDGER_TEST_SEQUENCER_URL"
	childKey   = "LEDGER_TEST_SEQUENCER_KEY"
	childStall = "LEDGER_TEST_SEQUENCER_STALL" // stall inside the first round, before commit
)

func sequencerChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	db, err := pgxpool.New(ctx, os.Getenv(childEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	signer, err := note.NewSigner(os.Getenv(childKey))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg := pgledger.Config{Signer: signer, Period: 20 * time.Millisecond}
	if os.Getenv(childStall) != "" {
		pgledger.SetBeforeCommit(&cfg, func(ctx context.Context) error {
			fmt.Println("stalling")
			time.Sleep(time.Hour)
			return nil
		})
	}
	fmt.Println("started")
	err = pgledger.New(db, cfg).RunSequencer(ctx)
	fmt.Fprintln(os.Stderr, err)
	return 0
}

type child struct {
	cmd   *exec.Cmd
	lines chan string
}

func startChild(t *testing.T, url, skey string, stall bool) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+url, childKey+"="+skey)
	if stall {
		cmd.Env = append(cmd.Env, childStall+"=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 10)}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() { c.kill() })
	c.wait(t, "started")
	return c
}

func (c *child) wait(t *testing.T, line string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("sequencer process ended before printing %q", line)
			}
			if l == line {
				return
			}
		case <-timeout:
			t.Fatalf("sequencer process did not print %q", line)
		}
	}
}

func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
	}
}

// migratedCluster starts a private cluster (which outlives killed
// sequencers) and returns the URL of a migrated database on it.
func migratedCluster(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	c := pgtest.StartCluster(t, false)
	if err := c.EnsureDatabase(ctx, "ledger"); err != nil {
		t.Fatal(err)
	}
	url := c.URL("ledger")
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, _, err := migrations.Up(ctx, conn); err != nil {
		t.Fatal(err)
	}
	return url
}

// acks records what Append acknowledged.
type acks struct {
	mu  sync.Mutex
	got map[uint64][]byte
	err []string
}

func (a *acks) add(idx uint64, data []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.got[idx]; dup {
		a.err = append(a.err, fmt.Sprintf("index %d acknowledged twice", idx))
	}
	a.got[idx] = data
}

// produce appends entries from workers goroutines until stop is closed,
// recording every acknowledgement.
func produce(ctx context.Context, l *pgledger.Ledger, a *acks, workers int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				e := newLicense("pro", 20000, 20030)
				b, _ := e.MarshalBinary()
				idx, err := l.Append(ctx, e)
				if err != nil {
					a.mu.Lock()
					a.err = append(a.err, err.Error())
					a.mu.Unlock()
					return
				}
				a.add(idx, b)
			}
		})
	}
	return &wg
}

// checkAcks verifies that every acknowledged entry is at its index, that
// nothing else was appended, and that fsck finds the log sound.
func checkAcks(t *testing.T, db *pgxpool.Pool, a *acks, v note.Verifier) {
	t.Helper()
	ctx := context.Background()
	if len(a.err) > 0 {
		t.Fatalf("appenders failed: %v", a.err[:min(5, len(a.err))])
	}
	store := pgledger.NewStore(db)
	c, _ := store.Latest(ctx)
	entries, err := store.ReadEntries(ctx, 0, int(c.Size)+10)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(a.got) {
		t.Fatalf("%d entries on the ledger, %d acknowledged", len(entries), len(a.got))
	}
	for idx, b := range a.got {
		if !bytes.Equal(entries[idx], b) {
			t.Fatalf("acknowledged index %d holds another entry", idx)
		}
	}
	rep, err := ledger.Fsck(ctx, store, v)
	if err != nil || !rep.OK() {
		t.Fatalf("fsck: %v %v", err, rep.Problems)
	}
	t.Logf("%d entries in %d rounds, all acknowledged and in place", rep.Entries, rep.Rounds)
}

// TestSequencerKilled kills the sequencer process in the middle of a round
// (after it wrote the round, before commit) and then repeatedly at random
// moments while entries stream in: no acknowledged entry is lost, none is
// appended twice, and the log stays sound.
func TestSequencerKilled(t *testing.T) {
	ctx := context.Background()
	url := migratedCluster(t)
	skey, _, verifier := testKeys(t)
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	app := pgledger.New(db, pgledger.Config{})
	a := &acks{got: map[uint64][]byte{}}

	// Killed inside a round: nothing of it is visible, everything stays
	// pending.
	stalled := startChild(t, url, skey, true)
	stop := make(chan struct{})
	wg := produce(ctx, app, a, 8, stop)
	stalled.wait(t, "stalling")
	stalled.kill()
	// Each of the 8 producers has one Append in flight (some may commit
	// their enqueue only now): all of them end up pending, none on the log.
	var entries, pending int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		db.QueryRow(ctx, `select (select count(*) from ledger_entries), (select count(*) from ledger_pending)`).Scan(&entries, &pending)
		if entries != 0 || pending == 8 {
			break
		}
	}
	a.mu.Lock()
	acked := len(a.got)
	a.mu.Unlock()
	if entries != 0 || pending != 8 || acked != 0 {
		t.Fatalf("after a kill mid-round: %d entries, %d pending, %d acknowledged; want 0, 8, 0", entries, pending, acked)
	}

	// Killed at random moments.
	for range 6 {
		c := startChild(t, url, skey, false)
		time.Sleep(time.Duration(50+rand.IntN(250)) * time.Millisecond)
		c.kill()
	}
	final := startChild(t, url, skey, false)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	final.kill()
	if len(a.got) < 50 {
		t.Fatalf("only %d entries acknowledged; the test did not exercise much", len(a.got))
	}
	checkAcks(t, db, a, verifier)
}

// TestTwoSequencerProcesses starts two sequencer processes at once while
// entries stream in, and kills the one that sequences: the log never forks,
// no index is reused, nothing acknowledged is lost.
func TestTwoSequencerProcesses(t *testing.T) {
	ctx := context.Background()
	url := migratedCluster(t)
	skey, _, verifier := testKeys(t)
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	app := pgledger.New(db, pgledger.Config{})
	a := &acks{got: map[uint64][]byte{}}
	stop := make(chan struct{})
	wg := produce(ctx, app, a, 8, stop)
	var both [2]*child
	var start sync.WaitGroup
	for i := range both {
		start.Go(func() { both[i] = startChild(t, url, skey, false) })
	}
	start.Wait()
	time.Sleep(700 * time.Millisecond)
	// Kill one, start a third, kill the other: whichever held the lock was
	// killed at some point, and a standby took over.
	both[0].kill()
	time.Sleep(500 * time.Millisecond)
	third := startChild(t, url, skey, false)
	time.Sleep(300 * time.Millisecond)
	both[1].kill()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	third.kill()
	checkAcks(t, db, a, verifier)
	if n := len(a.got); n < 20 {
		t.Fatalf("only %d acknowledged", n)
	}
}
