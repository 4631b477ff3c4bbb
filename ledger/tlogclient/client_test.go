package tlogclient_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
		copy(e.P[:], ristretto255.NewElement().ScalarBaseMult(s).Bytes())
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
	b, ok := m.files[strings.TrimPrefix(r.URL.Path, "/ledger/")]
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
	m := &memLog{signer: s, files: map[string][]byte{}}
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
		return func(m *memLog) { b := []byte(string(m.files[path])); b[at] ^= 1; m.files[path] = b }
	}
	cases := []struct {
		name   string
		tamper func(m *memLog)
		want   string
	}{
		{"entry in a bundle", flip("tile/entries/000", 100), "does not match its leaf hash"},
		{"level-0 tile", flip("tile/0/000", 5), "do not verify against the signed root"},
		{"level-1 tile", flip("tile/1/000.p/1", 5), "do not verify"},
		{"checkpoint", flip("checkpoint", 20), "does not verify"},
		{"short bundle", func(m *memLog) {
			b := m.files["tile/entries/001.p/44"]
			m.files["tile/entries/001.p/44"] = b[:len(b)-1]
		}, "entry bundle"},
		{"missing tile", func(m *memLog) { delete(m.files, "tile/0/001.p/44") }, "404"},
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
		})
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
	if _, err := (&tlogclient.Client{Server: urlB, Verifier: v}).Verify(ctx, seen.Checkpoint, false); err == nil || !strings.Contains(err.Error(), "fork") {
		t.Fatalf("fork: %v", err)
	}
	a.round(t, 20)
	seen, _ = (&tlogclient.Client{Server: urlA, Verifier: v}).Verify(ctx, seen.Checkpoint, false)
	if _, err := (&tlogclient.Client{Server: urlB, Verifier: v}).Verify(ctx, seen.Checkpoint, false); err == nil || !strings.Contains(err.Error(), "rollback") {
		t.Fatalf("rollback: %v", err)
	}
}
