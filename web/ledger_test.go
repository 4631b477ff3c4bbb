package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
)

// TestMain is the web package's (shared by all its test files): tests that
// need Postgres get it from pgtest.
func TestMain(m *testing.M) { pgtest.Main(m) }

func testLicenseEntry() *ledger.LicenseEntry {
	var seed [64]byte
	rand.Read(seed[:])
	s, _ := ristretto255.NewScalar().SetUniformBytes(seed[:])
	e := &ledger.LicenseEntry{Plan: "pro", NotBefore: ledger.Day(20414), NotAfter: ledger.Day(20444), ViewTag: 9, Sealed: []byte("sealed payload")}
	copy(e.P[:], ristretto255.NewIdentityElement().ScalarBaseMult(s).Bytes())
	rand.Read(e.R[:])
	return e
}

// ledgerServer returns a server over a ledger with rounds of the given sizes.
func ledgerServer(t *testing.T, rounds ...int) (*httptest.Server, ledger.Store, note.Verifier, string) {
	t.Helper()
	ctx := context.Background()
	db := pgtest.Pool(t)
	skey, vkey, _ := note.GenerateKey(rand.Reader, "web.test/ledger")
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	for r, n := range rounds {
		for i := range n {
			var e ledger.Entry = testLicenseEntry()
			if r == 1 && i == 0 {
				e = &ledger.RevokeEntry{Target: 1, Reason: ledger.RevokeRefund}
			}
			err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
				_, err := pgledger.Enqueue(ctx, tx, fmt.Sprintf("%d/%d", r, i), e)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := l.Round(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s := New(Config{}, Deps{DB: db, Ledger: &LedgerDeps{Store: l.Store(), VerifierKey: vkey}}, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv, l.Store(), verifier, vkey
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestLedgerEndpoints(t *testing.T) {
	srv, store, verifier, vkey := ledgerServer(t, 3, 300, 2)
	ctx := context.Background()
	const size = 305
	tile := func(level int, n int64, w int) []byte {
		b, err := store.ReadTile(ctx, ledger.Tile{Level: level, N: n, Width: w})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cases := []struct {
		name   string
		path   string
		status int
		code   string // error code, for errors
		cache  string
		check  func(t *testing.T, body []byte)
	}{
		{"checkpoint", "/ledger/checkpoint", 200, "", "public, max-age=5", func(t *testing.T, b []byte) {
			c, err := ledger.OpenCheckpoint(b, verifier)
			if err != nil || c.Size != size {
				t.Fatalf("checkpoint %+v, %v", c, err)
			}
		}},
		{"key", "/ledger/key", 200, "", "public, max-age=3600", func(t *testing.T, b []byte) {
			if strings.TrimSpace(string(b)) != vkey {
				t.Fatalf("key %q", b)
			}
		}},
		{"full hash tile", "/ledger/tile/0/000", 200, "", immutableCache, func(t *testing.T, b []byte) {
			if !bytes.Equal(b, tile(0, 0, 256)) || len(b) != 256*32 {
				t.Fatal("wrong tile")
			}
		}},
		{"partial hash tile", "/ledger/tile/0/001.p/49", 200, "", immutableCache, func(t *testing.T, b []byte) {
			if !bytes.Equal(b, tile(0, 1, 49)) {
				t.Fatal("wrong tile")
			}
		}},
		{"level 1 tile", "/ledger/tile/1/000.p/1", 200, "", immutableCache, nil},
		{"older partial width", "/ledger/tile/0/000.p/3", 200, "", immutableCache, nil},
		{"unpublished width", "/ledger/tile/0/001.p/50", 404, "not_found", "", nil},
		{"full entry bundle", "/ledger/tile/entries/000", 200, "", immutableCache, func(t *testing.T, b []byte) {
			es, err := ledger.ParseBundle(b)
			if err != nil || len(es) != 256 {
				t.Fatalf("bundle: %d entries, %v", len(es), err)
			}
			hashes := tile(0, 0, 256)
			for i, e := range es {
				if h := tlog.RecordHash(e); !bytes.Equal(h[:], hashes[32*i:32*i+32]) {
					t.Fatalf("bundle entry %d does not hash to the tile's leaf", i)
				}
			}
		}},
		{"partial entry bundle", "/ledger/tile/entries/001.p/49", 200, "", immutableCache, func(t *testing.T, b []byte) {
			if es, err := ledger.ParseBundle(b); err != nil || len(es) != 49 {
				t.Fatalf("bundle: %d entries, %v", len(es), err)
			}
		}},
		{"entry bundle beyond the log", "/ledger/tile/entries/001.p/50", 404, "not_found", "", nil},
		{"bad tile path", "/ledger/tile/0/0001", 400, "bad_tile_path", "", nil},
		{"bundle index past int64 (wraps to -2^63)", "/ledger/tile/entries/x036/x028/x797/x018/x963/968", 400, "bad_tile_path", "", nil},
		{"bundle index past int64 (wraps to 0)", "/ledger/tile/entries/x072/x057/x594/x037/x927/936", 400, "bad_tile_path", "", nil},
		{"entries", "/v1/ledger/entries?start=2&count=301", 200, "", "public, max-age=5", func(t *testing.T, b []byte) {
			var out struct {
				TreeSize int64       `json:"tree_size"`
				Entries  []EntryJSON `json:"entries"`
			}
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			if out.TreeSize != size || len(out.Entries) != 301 {
				t.Fatalf("tree size %d, %d entries", out.TreeSize, len(out.Entries))
			}
			lic := out.Entries[0]
			if lic.Index != 2 || lic.Kind != "license" || lic.Plan != "pro" || lic.NotBefore != "2025-11-22" || lic.NotAfter != "2025-12-22" {
				t.Fatalf("license entry %+v", lic)
			}
			parsed, _ := ledger.ParseEntry(mustDecode(t, lic.Raw))
			le := parsed.(*ledger.LicenseEntry)
			if lic.P != base64.StdEncoding.EncodeToString(le.P[:]) || lic.R != base64.StdEncoding.EncodeToString(le.R[:]) {
				t.Fatalf("r/p are not the standard base64 of the entry's keys: %+v", lic)
			}
			raw, _ := store.ReadEntries(ctx, 2, 1)
			if lic.Raw != base64.StdEncoding.EncodeToString(raw[0]) {
				t.Fatal("raw encoding differs")
			}
			revokes := 0
			for _, e := range out.Entries {
				if e.Kind == "revoke" {
					revokes++
					if e.Index < 3 || e.Index >= 303 || e.Target == nil || *e.Target != 1 || e.Reason != "refund" || e.Plan != "" {
						t.Fatalf("revoke entry %+v", e)
					}
				}
			}
			if revokes != 1 {
				t.Fatalf("%d revoke entries, want 1", revokes)
			}
		}},
		{"entries past the end", "/v1/ledger/entries?start=400&count=2", 200, "", "public, max-age=5", func(t *testing.T, b []byte) {
			if !strings.Contains(string(b), `"entries":[]`) {
				t.Fatalf("%s", b)
			}
		}},
		{"entries count 0", "/v1/ledger/entries?start=0&count=0", 400, "bad_parameter", "", nil},
		{"entries count too big", "/v1/ledger/entries?start=0&count=1001", 400, "bad_parameter", "", nil},
		{"entries negative start", "/v1/ledger/entries?start=-1&count=1", 400, "bad_parameter", "", nil},
		{"entries no start", "/v1/ledger/entries?count=1", 400, "bad_parameter", "", nil},
		{"inclusion", "/v1/ledger/proof/inclusion?index=300&tree_size=305", 200, "", immutableCache, func(t *testing.T, b []byte) {
			var out struct{ Proof []string }
			json.Unmarshal(b, &out)
			p := make(tlog.RecordProof, len(out.Proof))
			for i, s := range out.Proof {
				h, _ := base64.StdEncoding.DecodeString(s)
				copy(p[i][:], h)
			}
			c, _ := store.Latest(ctx)
			raw, _ := store.ReadEntries(ctx, 300, 1)
			if err := tlog.CheckRecord(p, size, c.Root, 300, tlog.RecordHash(raw[0])); err != nil {
				t.Fatal(err)
			}
		}},
		{"inclusion index at size", "/v1/ledger/proof/inclusion?index=305&tree_size=305", 400, "bad_proof_request", "", nil},
		{"inclusion beyond latest", "/v1/ledger/proof/inclusion?index=1&tree_size=306", 404, "not_found", "", nil},
		{"inclusion bad number", "/v1/ledger/proof/inclusion?index=x&tree_size=3", 400, "bad_parameter", "", nil},
		{"consistency", "/v1/ledger/proof/consistency?old=3&new=305", 200, "", immutableCache, func(t *testing.T, b []byte) {
			var out struct{ Proof []string }
			json.Unmarshal(b, &out)
			p := make(tlog.TreeProof, len(out.Proof))
			for i, s := range out.Proof {
				h, _ := base64.StdEncoding.DecodeString(s)
				copy(p[i][:], h)
			}
			cps, _ := store.Checkpoints(ctx)
			if err := tlog.CheckTree(p, size, cps[2].Root, 3, cps[0].Root); err != nil {
				t.Fatal(err)
			}
		}},
		{"no metrics on the customer port", "/metrics", 404, "not_found", "", nil},
		{"consistency from 0", "/v1/ledger/proof/consistency?old=0&new=3", 400, "bad_proof_request", "", nil},
		{"consistency backwards", "/v1/ledger/proof/consistency?old=5&new=3", 400, "bad_proof_request", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := get(t, srv.URL+tc.path)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.code != "" {
				var e Error
				if err := json.Unmarshal(body, &e); err != nil || e.Code != tc.code {
					t.Fatalf("error %s, want code %s", body, tc.code)
				}
				if cc := resp.Header.Get("Cache-Control"); strings.Contains(cc, "immutable") {
					t.Fatalf("an error is cached as immutable: %s", cc)
				}
			}
			if tc.cache != "" && resp.Header.Get("Cache-Control") != tc.cache {
				t.Fatalf("Cache-Control %q, want %q", resp.Header.Get("Cache-Control"), tc.cache)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

func TestLedgerEmpty(t *testing.T) {
	srv, _, _, _ := ledgerServer(t)
	resp, body := get(t, srv.URL+"/ledger/checkpoint")
	if resp.StatusCode != 404 || !strings.Contains(string(body), "not_found") {
		t.Fatalf("empty ledger checkpoint: %d %s", resp.StatusCode, body)
	}
	resp, _ = get(t, srv.URL+"/ledger/tile/entries/000.p/1")
	if resp.StatusCode != 404 {
		t.Fatalf("bundle of an empty ledger: %d", resp.StatusCode)
	}
}

// TestLedgerSizeZero: once its sequencer has started, a ledger without
// entries serves a signed checkpoint of size 0 with the empty tree's root.
func TestLedgerSizeZero(t *testing.T) {
	db := pgtest.Pool(t)
	skey, vkey, _ := note.GenerateKey(rand.Reader, "web.test/ledger")
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.RunSequencer(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	srv := httptest.NewServer(New(Config{}, Deps{DB: db, Ledger: &LedgerDeps{Store: l.Store(), VerifierKey: vkey}}, slog.New(slog.DiscardHandler)).Handler())
	t.Cleanup(srv.Close)
	var resp *http.Response
	var body []byte
	for range 500 {
		if resp, body = get(t, srv.URL+"/ledger/checkpoint"); resp.StatusCode == 200 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("checkpoint of a started empty ledger: %d %s", resp.StatusCode, body)
	}
	c, err := ledger.OpenCheckpoint(body, verifier)
	if err != nil || c.Size != 0 || c.Root != ledger.EmptyRoot {
		t.Fatalf("checkpoint %+v, %v; want size 0 and root %x", c, err, ledger.EmptyRoot)
	}
	if c.Root != tlog.Hash(sha256.Sum256(nil)) {
		t.Fatal("EmptyRoot is not SHA-256 of the empty string")
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEntryJSONUnparseable: an entry that does not parse is shown as such,
// whatever its kind byte says (it once panicked on a typed nil entry).
func TestEntryJSONUnparseable(t *testing.T) {
	for _, b := range [][]byte{
		{ledger.EntryVersion, byte(ledger.KindLicense), 3, 'a'},
		{ledger.EntryVersion, byte(ledger.KindRevoke)},
		{ledger.EntryVersion, 9},
		{7},
	} {
		if j := entryJSON(5, b); j.Kind != "unparseable" || j.Index != 5 || j.Raw == "" {
			t.Errorf("entryJSON(%x) = %+v, want an unparseable entry 5 with its raw bytes", b, j)
		}
	}
}
