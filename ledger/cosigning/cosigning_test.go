package cosigning_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/internal/launch/litewitness"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/cosigning"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/ledger/tlogclient"
	"github.com/licensed/licensed/ledger/witness"
	"github.com/licensed/licensed/web"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const origin = "cosigning.test/ledger"

// logKey is the ledger's key pair.
type logKey struct {
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

func newLogKey(t testing.TB) logKey {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return logKey{s, v, vkey}
}

// witnesses are litewitness processes, run from their folders.
type witnesses struct {
	t     testing.TB
	key   logKey
	dirs  []string
	addrs []string
	procs []*litewitness.Process
	vkeys []string
}

func startWitnesses(t testing.TB, key logKey, n int) *witnesses {
	t.Helper()
	if err := litewitness.Available(); err != nil {
		t.Fatal(err) // `make tools` installs it
	}
	ws := &witnesses{t: t, key: key}
	for i := range n {
		ws.dirs = append(ws.dirs, t.TempDir())
		ws.addrs = append(ws.addrs, "127.0.0.1:0")
		ws.procs = append(ws.procs, nil)
		ws.vkeys = append(ws.vkeys, "")
		ws.start(i)
	}
	t.Cleanup(func() {
		for _, p := range ws.procs {
			if p != nil {
				p.Stop()
			}
		}
	})
	return ws
}

// start (re)starts witness i on its address and from its folder.
func (ws *witnesses) start(i int) {
	ws.t.Helper()
	p, err := litewitness.Start(context.Background(), litewitness.Config{
		Dir: ws.dirs[i], Name: fmt.Sprintf("witness%d.test/lw", i+1), Listen: ws.addrs[i], LogKey: ws.key.vkey,
	})
	if err != nil {
		ws.t.Fatal(err)
	}
	ws.procs[i], ws.addrs[i], ws.vkeys[i] = p, strings.TrimPrefix(p.URL, "http://"), p.VerifierKey
}

func (ws *witnesses) stop(i int) {
	ws.procs[i].Stop()
	ws.procs[i] = nil
}

// policy is a tlog-policy of the witnesses with their URLs, k of n.
func (ws *witnesses) policy(t testing.TB, k int) *witness.Policy {
	var b strings.Builder
	b.WriteString("log " + ws.key.vkey + "\n")
	var names []string
	for i := range ws.dirs {
		name := fmt.Sprintf("w%d", i+1)
		names = append(names, name)
		b.WriteString(witness.FormatWitnessLine(name, ws.vkeys[i], "http://"+ws.addrs[i]))
	}
	b.WriteString(witness.GroupLine("local", k, names))
	b.WriteString("quorum local\n")
	p, err := witness.ParsePolicy([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// server is a ledger with a running sequencer, a Cosigner, and the web
// server that serves it.
type server struct {
	led    *pgledger.Ledger
	cos    *cosigning.Cosigner
	url    string // serves the cosigned checkpoint
	rawURL string // serves the latest checkpoint as the ledger signed it
	client *tlogclient.Client
}

func startServer(t testing.TB, key logKey, p *witness.Policy, startCosigner bool) (*server, func()) {
	t.Helper()
	db := pgtest.Pool(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	led := pgledger.New(db, pgledger.Config{Signer: key.signer, Period: 10 * time.Millisecond})
	wg.Go(func() { led.RunSequencer(ctx) })
	cos, err := cosigning.New(db, led.Store(), cosigning.Config{Policy: p, MaxBackoff: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	run := func() { wg.Go(func() { cos.Run(ctx) }) }
	if startCosigner {
		run()
	}
	log := slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(web.New(web.Config{}, web.Deps{DB: db, Ledger: &web.LedgerDeps{Store: led.Store(), VerifierKey: key.vkey, Witnessed: cos}}, log).Handler())
	t.Cleanup(srv.Close)
	raw := httptest.NewServer(web.New(web.Config{}, web.Deps{DB: db, Ledger: &web.LedgerDeps{Store: led.Store(), VerifierKey: key.vkey}}, log).Handler())
	t.Cleanup(raw.Close)
	s := &server{led: led, cos: cos, url: srv.URL, rawURL: raw.URL,
		client: &tlogclient.Client{Server: srv.URL, Verifier: key.verifier, Policy: p}}
	// The sequencer has started the log at size 0.
	waitFor(t, "the checkpoint of size 0", func() bool {
		c, _ := led.Store().Latest(ctx)
		return c.Note != nil
	})
	return s, run
}

func (s *server) append(t testing.TB, n int) {
	t.Helper()
	for range n {
		// Random targets: two ledgers never hold the same entries.
		var b [4]byte
		rand.Read(b[:])
		target := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24
		if _, err := s.led.Append(context.Background(), &ledger.RevokeEntry{Target: target, Reason: ledger.RevokeOperator}); err != nil {
			t.Fatal(err)
		}
	}
}

func waitFor(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// served waits until the client accepts a checkpoint of size n, and
// returns its cosigners.
func (s *server) served(t testing.TB, n int64) []string {
	t.Helper()
	var res *tlogclient.Result
	var last error
	waitFor(t, fmt.Sprintf("a cosigned checkpoint of size %d", n), func() bool {
		r, err := s.client.Verify(context.Background(), nil, true)
		res, last = r, err
		return err == nil && r.Size == n
	})
	if last != nil {
		t.Fatal(last)
	}
	return res.Cosigners
}

func status(s *server, name string) cosigning.WitnessStatus {
	for _, st := range s.cos.Status() {
		if st.Name == name {
			return st
		}
	}
	return cosigning.WitnessStatus{}
}

// TestWitnessesQuorum runs three litewitness processes, quorum two: the
// server serves only checkpoints two of them cosigned, keeps serving with
// one down, lets it catch up when it is back, and stops advancing (while
// its rounds go on) without a quorum.
func TestWitnessesQuorum(t *testing.T) {
	key := newLogKey(t)
	ws := startWitnesses(t, key, 3)
	p := ws.policy(t, 2)
	s, _ := startServer(t, key, p, true)
	ctx := context.Background()

	// From size zero: the empty log's checkpoint is cosigned.
	if got := s.served(t, 0); len(got) < 2 {
		t.Fatalf("size 0 cosigned by %v", got)
	}
	s.append(t, 3)
	waitFor(t, "all three cosign size 3", func() bool {
		got := s.served(t, 3)
		return len(got) == 3
	})

	// One witness down: still cosigned by the two others.
	ws.stop(2)
	s.append(t, 2)
	if got := s.served(t, 5); !slices.Equal(got, []string{"w1", "w2"}) {
		t.Fatalf("with w3 down, size 5 cosigned by %v", got)
	}
	waitFor(t, "w3's failure in its status", func() bool {
		st := status(s, "w3")
		return st.LastError != "" && st.Submissions[cosigning.ResultUnreachable] > 0 && st.CosignedSize == 3
	})

	// Back: it catches up from size 3 with one proof.
	ws.start(2)
	waitFor(t, "w3 catches up", func() bool { return status(s, "w3").CosignedSize == 5 })
	if st := status(s, "w3"); st.LastError != "" || st.Submissions[cosigning.ResultRefused] != 0 {
		t.Fatalf("w3 after catching up: %+v", st)
	}

	// Two down: rounds go on, the served checkpoint stays at 5.
	ws.stop(1)
	ws.stop(2)
	s.append(t, 1)
	time.Sleep(300 * time.Millisecond)
	if c, _ := s.led.Store().Latest(ctx); c.Size != 6 {
		t.Fatalf("latest size %d, want 6: the witnesses blocked the sequencer", c.Size)
	}
	if got := s.served(t, 5); !slices.Contains(got, "w1") {
		t.Fatalf("served checkpoint cosigners %v", got)
	}
	// The latest checkpoint, served without its quorum, is refused in one
	// sentence.
	raw := &tlogclient.Client{Server: s.rawURL, Verifier: key.verifier, Policy: p}
	_, _, err := raw.Checkpoint(ctx)
	var qe *witness.QuorumError
	if !errors.As(err, &qe) || qe.Size != 6 {
		t.Fatalf("uncosigned checkpoint: %v, want a QuorumError", err)
	}
	t.Logf("refusal: %v", err)
	if strings.Count(err.Error(), ". ") != 0 || !strings.Contains(err.Error(), "short of the policy's quorum (2 of w1, w2, w3)") {
		t.Fatalf("refusal %q", err)
	}
	ws.start(1)
	s.served(t, 6)

	// The whole log checks out, with its size-0 checkpoint.
	rep, err := ledger.Fsck(ctx, s.led.Store(), key.verifier)
	if err != nil || !rep.OK() {
		t.Fatalf("fsck: %v %v", err, rep.Problems)
	}
}

// TestWitnessConflict: a witness that is ahead of what the server knows
// answers 409 with its size; the server proves from there.
func TestWitnessConflict(t *testing.T) {
	key := newLogKey(t)
	ws := startWitnesses(t, key, 1)
	p := ws.policy(t, 1)
	s, run := startServer(t, key, p, false)
	s.append(t, 4)
	// The witness learns size 2... no: it learns the latest, 4, directly.
	c, _ := s.led.Store().Latest(context.Background())
	body, _ := (&witness.AddCheckpoint{OldSize: 0, Checkpoint: c.Note}).MarshalText()
	resp, err := http.Post("http://"+ws.addrs[0]+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("direct submission: %v %v", resp.Status, err)
	}
	resp.Body.Close()
	s.append(t, 3)
	run()
	s.served(t, 7)
	st := status(s, "w1")
	if st.Submissions[cosigning.ResultConflict] != 1 || st.Submissions[cosigning.ResultCosigned] < 1 {
		t.Fatalf("submissions %v, want one conflict then cosignatures", st.Submissions)
	}
}

// TestSplitView: the operator runs a second ledger with the same key and
// origin and another history (a rewritten log, or one shown to some
// clients only). The witnesses, which cosigned the first, refuse it with
// 422; its server has no quorum to serve, and clients refuse its
// checkpoint.
func TestSplitView(t *testing.T) {
	key := newLogKey(t)
	ws := startWitnesses(t, key, 3)
	p := ws.policy(t, 2)
	honest, _ := startServer(t, key, p, true)
	honest.append(t, 3)
	honest.served(t, 3)

	fork, _ := startServer(t, key, p, true)
	fork.append(t, 5)
	defer func() {
		if t.Failed() {
			t.Logf("fork's witnesses: %+v", fork.cos.Status())
		}
	}()
	waitFor(t, "the witnesses refuse the fork", func() bool {
		for _, name := range []string{"w1", "w2", "w3"} {
			if status(fork, name).Submissions[cosigning.ResultRefused] == 0 {
				return false
			}
		}
		return true
	})
	ctx := context.Background()
	if _, ok, err := fork.cos.Served(ctx); ok || err != nil {
		t.Fatalf("the fork has a checkpoint to serve: %v %v", ok, err)
	}
	_, _, err := fork.client.Checkpoint(ctx)
	var he *tlogclient.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusServiceUnavailable {
		t.Fatalf("fork's server: %v, want 503", err)
	}
	raw := &tlogclient.Client{Server: fork.rawURL, Verifier: key.verifier, Policy: p}
	var qe *witness.QuorumError
	if _, _, err := raw.Checkpoint(ctx); !errors.As(err, &qe) {
		t.Fatalf("fork's latest checkpoint: %v, want a QuorumError", err)
	}
	// Also at the same size: a second checkpoint of size 3.
	forged, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: origin, Size: 3, Root: [32]byte{1}}, key.signer)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := (&witness.AddCheckpoint{OldSize: 3, Checkpoint: forged}).MarshalText()
	resp, err := http.Post("http://"+ws.addrs[0]+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a second checkpoint of size 3: %s, want 422", resp.Status)
	}
	// The honest log goes on being cosigned.
	honest.append(t, 1)
	honest.served(t, 4)
}

// BenchmarkCosignRound measures, per round, the time from a round's commit
// (Append returns) to its checkpoint being served with the cosignatures of
// a quorum (2 of 3 local litewitness processes), and reports p50 and p99.
// Run it as: go test -run '^$' -bench CosignRound -benchtime 200x ./ledger/cosigning
func BenchmarkCosignRound(b *testing.B) {
	key := newLogKey(b)
	ws := startWitnesses(b, key, 3)
	p := ws.policy(b, 2)
	s, _ := startServer(b, key, p, true)
	ctx := context.Background()
	s.served(b, 0)
	var all []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		idx, err := s.led.Append(ctx, &ledger.RevokeEntry{Target: uint64(i), Reason: ledger.RevokeOperator})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		for {
			n, ok, err := s.cos.Served(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if ok {
				cp, err := ledger.OpenCheckpoint(n, key.verifier)
				if err != nil {
					b.Fatal(err)
				}
				if cp.Size > int64(idx) {
					break
				}
			}
			time.Sleep(200 * time.Microsecond)
		}
		all = append(all, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	q := func(f float64) float64 { return float64(all[int(f*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// TestSchema checks what migration 014 enforces: a checkpoint of size 0 is
// the empty tree's, of round 0; cosignatures are append-only.
func TestSchema(t *testing.T) {
	db := pgtest.Pool(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		root  []byte
		round int
		ok    bool
	}{
		{"zero root", make([]byte, 32), 0, false},
		{"round 1", ledger.EmptyRoot[:], 1, false},
		{"empty tree", ledger.EmptyRoot[:], 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := db.Exec(ctx, `insert into ledger_checkpoints (size, root, note, round) values (0, $1, 'n', $2)`, tc.root, tc.round)
			if (err == nil) != tc.ok {
				t.Fatalf("insert: %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if _, err := db.Exec(ctx, `insert into ledger_cosignatures (size, key_name, key_id, signed_at, line) values (0, 'w', 1, now(), '— w AAAA')`); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`update ledger_cosignatures set line = '— w BBBB'`,
		`delete from ledger_cosignatures`,
		`truncate ledger_cosignatures`,
		`insert into ledger_cosignatures (size, key_name, key_id, signed_at, line) values (7, 'w', 1, now(), '— w AAAA')`,
		`insert into ledger_cosignatures (size, key_name, key_id, signed_at, line) values (0, 'v', 1, now(), 'w AAAA')`,
	} {
		if _, err := db.Exec(ctx, sql); err == nil {
			t.Errorf("%s: accepted", sql)
		}
	}
}
