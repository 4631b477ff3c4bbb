package tlogclient_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/tlogclient"
)

// memLog is a log built in memory and served at C2SP paths, so the client
// is tested without a database; the Postgres-backed server is tested end to
// end in cmd/license.
type memLog struct {
	signer  note.Signer
	entries [][]byte
	hashes  []tlog.Hash
	files   map[string][]byte // path under /ledger/ → body

	mu       sync.Mutex
	block    string         // a path whose request waits for the client to give up
	arrived  chan struct{}  // receives when the blocked request arrives
	aborted  chan bool      // then whether the client's cancellation reached it
	requests map[string]int // requests by path
}

func (m *memLog) ReadHashes(ids []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(ids))
	for i, id := range ids {
		out[i] = m.hashes[id]
	}
	return out, nil
}

// round appends n license entries and publishes a checkpoint, its tiles
// and its entry bundles.
func (m *memLog) round(t *testing.T, n int) {
	old := int64(len(m.entries))
	for range n {
		var seed [64]byte
		rand.Read(seed[:])
		s, _ := ristretto255.NewScalar().SetUniformBytes(seed[:])
		e := &ledger.LicenseEntry{Plan: "pro", NotBefore: ledger.Day(20000), NotAfter: ledger.Day(20001), ViewTag: 1, Sealed: []byte("s")}
		copy(e.P[:], ristretto255.NewIdentityElement().ScalarBaseMult(s).Bytes())
		b, _ := e.MarshalBinary()
		hs, err := tlog.StoredHashes(int64(len(m.entries)), b, m)
		if err != nil {
			t.Fatal(err)
		}
		m.entries = append(m.entries, b)
		m.hashes = append(m.hashes, hs...)
	}
	size := int64(len(m.entries))
	for _, tile := range tlog.NewTiles(ledger.TileHeight, old, size) {
		data, err := tlog.ReadTileData(tile, m)
		if err != nil {
			t.Fatal(err)
		}
		lt := ledger.Tile{Level: tile.L, N: tile.N, Width: tile.W}
		m.files[lt.Path()] = data
		var bundle []byte
		for _, e := range m.entries[tile.N*256 : tile.N*256+int64(tile.W)] {
			bundle = ledger.AppendBundleEntry(bundle, e)
		}
		if tile.L == 0 {
			m.files[ledger.Tile{Level: ledger.EntriesLevel, N: tile.N, Width: tile.W}.Path()] = bundle
		}
	}
	root, _ := tlog.TreeHash(size, m)
	cp, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: m.signer.Name(), Size: size, Root: root}, m.signer)
	if err != nil {
		t.Fatal(err)
	}
	m.files["checkpoint"] = cp
}

func (m *memLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/ledger/")
	m.mu.Lock()
	m.requests[path]++
	block := m.block
	m.mu.Unlock()
	if path == block {
		m.arrived <- struct{}{}
		<-r.Context().Done() // only the client's cancellation ends it
		m.aborted <- r.Context().Err() != nil
		return
	}
	b, ok := m.files[path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write(b)
}

func newMemLog(t *testing.T) (*memLog, note.Verifier, string) {
	skey, vkey, _ := note.GenerateKey(rand.Reader, "mem.test/log")
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	m := &memLog{signer: s, files: map[string][]byte{}, requests: map[string]int{}, arrived: make(chan struct{}, 1), aborted: make(chan bool, 1)}
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return m, v, srv.URL
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	m, v, url := newMemLog(t)
	c := &tlogclient.Client{Server: url, Verifier: v}
	m.round(t, 300)
	res, err := c.Verify(ctx, nil, false)
	if err != nil || res.Size != 300 || res.Entries != 300 || res.Licenses != 300 {
		t.Fatalf("first Verify = %+v, %v", res, err)
	}
	m.round(t, 7)
	m.round(t, 600)
	res2, err := c.Verify(ctx, res.Checkpoint, false)
	if err != nil || res2.PreviousSize != 300 || res2.Entries != 607 {
		t.Fatalf("second Verify = %+v, %v", res2, err)
	}
	if res3, err := c.Verify(ctx, res2.Checkpoint, true); err != nil || res3.Entries != 907 {
		t.Fatalf("full Verify = %+v, %v", res3, err)
	}
}

func TestVerifyDetects(t *testing.T) {
	flip := func(path string, at int) func(m *memLog) {
		return func(m *memLog) { b := bytes.Clone(m.files[path]); b[at] ^= 1; m.files[path] = b }
	}
	var entry *tlogclient.EntryError
	var status *tlogclient.HTTPError
	cases := []struct {
		name   string
		tamper func(m *memLog)
		want   string
		is     error // errors.Is
		as     any   // errors.As
	}{
		{"entry in a bundle", flip("tile/entries/000", 100), "entry 1 does not match its leaf hash", tlogclient.ErrMismatch, &entry},
		{"level-0 tile", flip("tile/0/000", 5), "do not verify against the signed root", tlogclient.ErrMismatch, nil},
		{"level-1 tile", flip("tile/1/000.p/1", 5), "do not verify", tlogclient.ErrMismatch, nil},
		{"checkpoint", flip("checkpoint", 20), "does not verify", tlogclient.ErrMismatch, nil},
		{"short bundle", func(m *memLog) {
			b := m.files["tile/entries/001.p/44"]
			m.files["tile/entries/001.p/44"] = b[:len(b)-1]
		}, "entry bundle", tlogclient.ErrMismatch, nil},
		{"bundle one entry short", func(m *memLog) {
			var b []byte
			for _, e := range m.entries[256:299] {
				b = ledger.AppendBundleEntry(b, e)
			}
			m.files["tile/entries/001.p/44"] = b
		}, "has 43 entries, want 44", tlogclient.ErrMismatch, nil},
		{"short tile", func(m *memLog) {
			b := m.files["tile/0/001.p/44"]
			m.files["tile/0/001.p/44"] = b[:len(b)-1]
		}, "has 1407 bytes, want 1408", tlogclient.ErrMismatch, nil},
		{"missing tile", func(m *memLog) { delete(m.files, "tile/0/001.p/44") }, "404", nil, &status},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, v, url := newMemLog(t)
			m.round(t, 300)
			tc.tamper(m)
			_, err := (&tlogclient.Client{Server: url, Verifier: v}).Verify(context.Background(), nil, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify = %v, want an error with %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("Verify = %v, want one that is %v", err, tc.is)
			}
			if tc.as != nil && !errors.As(err, tc.as) {
				t.Fatalf("Verify = %v (%T), want a %T", err, err, tc.as)
			}
			switch tc.as {
			case &entry:
				if entry.Index != 1 {
					t.Fatalf("the tampered entry is reported at index %d, want 1", entry.Index)
				}
			case &status:
				if status.Status != http.StatusNotFound {
					t.Fatalf("the missing tile is reported as %d", status.Status)
				}
			}
		})
	}
}

// TestCancelStopsTileFetch has the server hold a request until the client
// gives up: cancelling the caller's context must end the fetch of a hash
// tile (alone, and inside the consistency check and an entry bundle's
// check) or an entry bundle, and reach the server as a closed request.
func TestCancelStopsTileFetch(t *testing.T) {
	cases := []struct {
		name  string
		block string
		call  func(ctx context.Context, c *tlogclient.Client, seen []byte) error
	}{
		{"hash tile", "tile/0/001.p/51", func(ctx context.Context, c *tlogclient.Client, _ []byte) error {
			_, err := c.TileReader(ctx).ReadTiles([]tlog.Tile{{H: ledger.TileHeight, L: 0, N: 1, W: 51}})
			return err
		}},
		{"hash tile of the consistency check", "tile/0/001.p/51", func(ctx context.Context, c *tlogclient.Client, seen []byte) error {
			_, err := c.Verify(ctx, seen, false)
			return err
		}},
		{"hash tile of a bundle's leaves", "tile/0/000", func(ctx context.Context, c *tlogclient.Client, _ []byte) error {
			cp, _, err := c.Checkpoint(ctx)
			if err != nil {
				return err
			}
			_, err = c.Bundle(ctx, cp, 0)
			return err
		}},
		{"entry bundle", "tile/entries/001.p/51", func(ctx context.Context, c *tlogclient.Client, _ []byte) error {
			cp, _, err := c.Checkpoint(ctx)
			if err != nil {
				return err
			}
			for _, err := range c.Entries(ctx, cp, 0, 307) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, v, url := newMemLog(t)
			c := &tlogclient.Client{Server: url, Verifier: v}
			m.round(t, 300)
			first, err := c.Verify(context.Background(), nil, false)
			if err != nil {
				t.Fatal(err)
			}
			m.round(t, 7)
			m.mu.Lock()
			m.block = tc.block
			m.mu.Unlock()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- tc.call(ctx, c, first.Checkpoint) }()
			select {
			case <-m.arrived:
			case err := <-errc:
				t.Fatalf("the call returned before its request was held: %v", err)
			case <-time.After(10 * time.Second):
				t.Fatal("the held request never reached the server")
			}
			cancel()
			if err := <-errc; !errors.Is(err, context.Canceled) {
				t.Fatalf("after cancelling: %v, want context.Canceled", err)
			}
			if !<-m.aborted {
				t.Fatal("the server's request was not cancelled")
			}
		})
	}
}

// TestEntries reads ranges of a log of 907 entries (three full bundles and
// a partial one) and checks they are the log's entries, in order.
func TestEntries(t *testing.T) {
	ctx := context.Background()
	m, v, url := newMemLog(t)
	c := &tlogclient.Client{Server: url, Verifier: v}
	m.round(t, 300)
	m.round(t, 7)
	m.round(t, 600)
	cp, _, err := c.Checkpoint(ctx)
	if err != nil || cp.Size != 907 {
		t.Fatalf("Checkpoint = %+v, %v", cp, err)
	}
	for _, r := range [][2]int64{{0, 907}, {250, 600}, {256, 512}, {906, 907}, {5, 5}, {0, 1}} {
		var got [][]byte
		next := r[0]
		for b, err := range c.Entries(ctx, cp, r[0], r[1]) {
			if err != nil {
				t.Fatalf("%v: %v", r, err)
			}
			if b.Start != next {
				t.Fatalf("%v: a bundle starts at %d, want %d", r, b.Start, next)
			}
			next += int64(len(b.Entries))
			got = append(got, b.Entries...)
		}
		want := m.entries[r[0]:r[1]]
		if len(got) != len(want) {
			t.Fatalf("%v: %d entries, want %d", r, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%v: entry %d differs", r, r[0]+int64(i))
			}
		}
	}
	for _, r := range [][2]int64{{0, 908}, {-1, 3}, {10, 9}} {
		for _, err := range c.Entries(ctx, cp, r[0], r[1]) {
			if err == nil {
				t.Fatalf("%v: entries outside the checkpoint were yielded", r)
			}
		}
	}
	if _, err := c.Bundle(ctx, cp, 4); err == nil {
		t.Fatal("Bundle beyond the checkpoint succeeded")
	}
}

// TestPartialTileFallback serves a log that no longer has the partial tiles
// of an earlier checkpoint: the client reads the full tiles in their place
// (C2SP tlog-tiles) and still checks them against that checkpoint.
func TestPartialTileFallback(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*memLog, *tlogclient.Client, ledger.Checkpoint) {
		m, v, url := newMemLog(t)
		c := &tlogclient.Client{Server: url, Verifier: v}
		m.round(t, 300)
		cp := tlogclient.Checkpoint(t, c)
		m.round(t, 300) // tiles 1 are now full
		delete(m.files, "tile/0/001.p/44")
		delete(m.files, "tile/entries/001.p/44")
		return m, c, cp
	}
	t.Run("good", func(t *testing.T) {
		m, c, cp := setup(t)
		b, err := c.Bundle(ctx, cp, 1)
		if err != nil {
			t.Fatal(err)
		}
		if b.Start != 256 || len(b.Entries) != 44 || !bytes.Equal(b.Entries[43], m.entries[299]) {
			t.Fatalf("bundle 1 under size 300: start %d, %d entries", b.Start, len(b.Entries))
		}
		if m.requests["tile/entries/001"] != 1 || m.requests["tile/0/001"] != 1 {
			t.Fatalf("the full tiles were not read: %v", m.requests)
		}
	})
	t.Run("tampered full bundle", func(t *testing.T) {
		m, c, cp := setup(t)
		b := bytes.Clone(m.files["tile/entries/001"])
		b[100] ^= 1
		m.files["tile/entries/001"] = b
		var ee *tlogclient.EntryError
		if _, err := c.Bundle(ctx, cp, 1); !errors.As(err, &ee) || ee.Index != 257 {
			t.Fatalf("Bundle = %v, want entry 257 refused", err)
		}
	})
	t.Run("tampered full tile", func(t *testing.T) {
		m, c, cp := setup(t)
		b := bytes.Clone(m.files["tile/0/001"])
		b[40] ^= 1
		m.files["tile/0/001"] = b
		if _, err := c.Bundle(ctx, cp, 1); !errors.Is(err, tlogclient.ErrMismatch) {
			t.Fatalf("Bundle = %v, want ErrMismatch", err)
		}
	})
	t.Run("full bundle short", func(t *testing.T) {
		m, c, cp := setup(t)
		var b []byte
		for _, e := range m.entries[256:511] {
			b = ledger.AppendBundleEntry(b, e)
		}
		m.files["tile/entries/001"] = b
		if _, err := c.Bundle(ctx, cp, 1); !errors.Is(err, tlogclient.ErrMismatch) {
			t.Fatalf("Bundle = %v, want ErrMismatch", err)
		}
	})
}

// TestFollowKeepsFewTiles follows a log round after round: the client
// keeps only the tiles later reads need (no level-0 tile, one width of each
// partial tile), not every tile it read.
func TestFollowKeepsFewTiles(t *testing.T) {
	ctx := context.Background()
	m, v, url := newMemLog(t)
	c := &tlogclient.Client{Server: url, Verifier: v}
	var seen []byte
	for range 40 {
		m.round(t, 37)
		res, err := c.Verify(ctx, seen, false)
		if err != nil {
			t.Fatal(err)
		}
		seen = res.Checkpoint
	}
	// 1480 entries: the partial level-0 tile at the right edge and the
	// partial level-1 tile above it.
	if n := tlogclient.CachedTiles(c); n != 2 {
		t.Fatalf("the client keeps %d tiles, want 2", n)
	}
	m.mu.Lock()
	clear(m.requests)
	m.mu.Unlock()
	if _, err := c.Verify(ctx, seen, false); err != nil {
		t.Fatal(err)
	}
	if len(m.requests) != 1 || m.requests["checkpoint"] != 1 {
		t.Fatalf("verifying an unchanged log made requests %v", m.requests)
	}
}

func TestVerifyForkAndRollback(t *testing.T) {
	ctx := context.Background()
	a, v, urlA := newMemLog(t)
	b, _, urlB := newMemLog(t)
	b.signer = a.signer // one key, two histories
	a.round(t, 10)
	b.round(t, 10)
	b.round(t, 5)
	seen, err := (&tlogclient.Client{Server: urlA, Verifier: v}).Verify(ctx, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&tlogclient.Client{Server: urlB, Verifier: v}).Verify(ctx, seen.Checkpoint, false); !errors.Is(err, tlogclient.ErrFork) || !strings.Contains(err.Error(), "fork") {
		t.Fatalf("fork: %v", err)
	}
	a.round(t, 20)
	seen, _ = (&tlogclient.Client{Server: urlA, Verifier: v}).Verify(ctx, seen.Checkpoint, false)
	if _, err := (&tlogclient.Client{Server: urlB, Verifier: v}).Verify(ctx, seen.Checkpoint, false); !errors.Is(err, tlogclient.ErrFork) || !strings.Contains(err.Error(), "rollback") {
		t.Fatalf("rollback: %v", err)
	}
	// The same size with another root, through Consistent.
	c := &tlogclient.Client{Server: urlB, Verifier: v}
	b.round(t, 15) // 30 entries, as a has
	cpB := tlogclient.Checkpoint(t, c)
	old, err := ledger.OpenCheckpoint(seen.Checkpoint, v)
	if err != nil || old.Size != cpB.Size {
		t.Fatalf("sizes %d and %d, %v", old.Size, cpB.Size, err)
	}
	if err := c.Consistent(ctx, old, cpB); !errors.Is(err, tlogclient.ErrFork) || !strings.Contains(err.Error(), "two different signed roots") {
		t.Fatalf("same size, other root: %v", err)
	}
	if err := c.Consistent(ctx, cpB, cpB); err != nil {
		t.Fatalf("a checkpoint is not consistent with itself: %v", err)
	}
	if err := c.Consistent(ctx, ledger.Checkpoint{}, cpB); err != nil {
		t.Fatalf("nothing seen before: %v", err)
	}
}

// TestForkSeenThenRealLog shows a client a fork of the log it follows,
// then the real log again at the fork's size: the fork is refused, and the
// tiles it verified against the fork's root are not used for the real log.
func TestForkSeenThenRealLog(t *testing.T) {
	ctx := context.Background()
	a, v, urlA := newMemLog(t)
	b, _, urlB := newMemLog(t)
	b.signer = a.signer
	a.round(t, 10)
	b.round(t, 30)
	c := &tlogclient.Client{Server: urlA, Verifier: v}
	seen, err := c.Verify(ctx, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	c.Server = urlB
	if _, err := c.Verify(ctx, seen.Checkpoint, false); !errors.Is(err, tlogclient.ErrFork) {
		t.Fatalf("fork: %v", err)
	}
	a.round(t, 20) // 30 entries, as the fork has: the same tile paths
	c.Server = urlA
	if res, err := c.Verify(ctx, seen.Checkpoint, false); err != nil || res.Size != 30 {
		t.Fatalf("the real log after a fork was seen: %+v, %v", res, err)
	}
}
