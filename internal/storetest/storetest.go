// Package storetest is the conformance suite for ledger.Store
// implementations that also write rounds (pgledger.Store), in the manner of
// x/mod's sumdb/storage test. Use it from the tests of every such store: they
// call Run with a function that returns a fresh, empty instance. It is
// internal: test scaffolding that nothing outside this module imports.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger"
)

// Store is a ledger.Store that also writes rounds, as pgledger.Store does:
// WriteRound writes r in tx and fails with an error wrapping
// ledger.ErrConflict if r.First is not the log's size or anything in r is
// already stored.
type Store interface {
	ledger.Store
	Begin(ctx context.Context) (pgx.Tx, error)
	WriteRound(ctx context.Context, tx pgx.Tx, r *ledger.RoundRecord) error
}

// Run checks the ledger.Store contract on stores made by newStore, which
// must return an empty store for each call.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	skey, _, err := note.GenerateKey(rand.Reader, "storetest.example/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		run  func(t *testing.T, s Store, signer note.Signer)
	}{
		{"Empty", testEmpty},
		{"RoundsReadBack", testRoundsReadBack},
		{"Conflict", testConflict},
		{"Rollback", testRollback},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t), signer) })
	}
}

// license returns the encoding of a fresh license entry and its key.
func license(t *testing.T) ([]byte, []byte) {
	var seed [64]byte
	rand.Read(seed[:])
	s, _ := ristretto255.NewScalar().SetUniformBytes(seed[:])
	e := &ledger.LicenseEntry{Plan: "pro", NotBefore: ledger.Day(20000), NotAfter: ledger.Day(20030), ViewTag: 1, Sealed: []byte("sealed")}
	copy(e.P[:], ristretto255.NewIdentityElement().ScalarBaseMult(s).Bytes())
	rand.Read(e.R[:])
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b, e.P[:]
}

// writeRound builds and commits a round of n license entries.
func writeRound(t *testing.T, s Store, signer note.Signer, n int) *ledger.RoundRecord {
	t.Helper()
	ctx := context.Background()
	cur, err := s.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rec := &ledger.RoundRecord{Round: cur.Round + 1, First: cur.Size, Committed: time.Now().Truncate(time.Microsecond)}
	for range n {
		b, p := license(t)
		rec.Entries = append(rec.Entries, b)
		rec.Keys = append(rec.Keys, p)
	}
	old := tlog.HashReaderFunc(func(ids []int64) ([]tlog.Hash, error) { return s.ReadHashes(ctx, ids) })
	if err := ledger.BuildRound(rec, old, signer); err != nil {
		t.Fatal(err)
	}
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := s.WriteRound(ctx, tx, rec); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return rec
}

func testEmpty(t *testing.T, s Store, _ note.Signer) {
	ctx := context.Background()
	c, err := s.Latest(ctx)
	if err != nil || c.Size != 0 || c.Note != nil {
		t.Fatalf("Latest on an empty store = %+v, %v", c, err)
	}
	if es, err := s.ReadEntries(ctx, 0, 10); err != nil || len(es) != 0 {
		t.Fatalf("ReadEntries on an empty store = %d entries, %v", len(es), err)
	}
	if _, err := s.ReadTile(ctx, ledger.Tile{Level: 0, N: 0, Width: 1}); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("ReadTile on an empty store: %v, want ErrNotFound", err)
	}
	if _, err := s.ReadHashes(ctx, []int64{0}); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("ReadHashes on an empty store: %v, want ErrNotFound", err)
	}
	if cps, err := s.Checkpoints(ctx); err != nil || len(cps) != 0 {
		t.Fatalf("Checkpoints = %d, %v", len(cps), err)
	}
}

func testRoundsReadBack(t *testing.T, s Store, signer note.Signer) {
	ctx := context.Background()
	var recs []*ledger.RoundRecord
	var all [][]byte
	for _, n := range []int{1, 300, 17, 256} {
		r := writeRound(t, s, signer, n)
		recs = append(recs, r)
		all = append(all, r.Entries...)
	}
	size := int64(len(all))
	// Entries, in order, with a read that overruns the end.
	got, err := s.ReadEntries(ctx, 0, len(all)+5)
	if err != nil || len(got) != len(all) {
		t.Fatalf("ReadEntries = %d entries, %v; want %d", len(got), err, len(all))
	}
	for i := range all {
		if !bytes.Equal(got[i], all[i]) {
			t.Fatalf("entry %d differs", i)
		}
	}
	mid, _ := s.ReadEntries(ctx, 299, 3)
	if len(mid) != 3 || !bytes.Equal(mid[0], all[299]) {
		t.Fatal("ReadEntries from the middle is wrong")
	}
	// Hashes: every stored hash is the one tlog computes from the entries.
	var want []tlog.Hash
	r := tlog.HashReaderFunc(func(ids []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(ids))
		for i, id := range ids {
			out[i] = want[id]
		}
		return out, nil
	})
	for i, e := range all {
		hs, err := tlog.StoredHashes(int64(i), e, r)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, hs...)
	}
	ids := make([]int64, len(want))
	for i := range ids {
		ids[i] = int64(len(ids) - 1 - i) // reversed: order must follow the request
	}
	hs, err := s.ReadHashes(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if hs[i] != want[id] {
			t.Fatalf("stored hash %d differs", id)
		}
	}
	// Tiles: every published width reads back exactly.
	var tiles int
	for _, rec := range recs {
		for _, td := range rec.Tiles {
			data, err := s.ReadTile(ctx, td.Tile)
			if err != nil || !bytes.Equal(data, td.Data) {
				t.Fatalf("tile %s: %v", td.Tile.Path(), err)
			}
			tiles++
		}
	}
	var listed int
	if err := s.Tiles(ctx, func(ledger.TileData) error { listed++; return nil }); err != nil || listed != tiles {
		t.Fatalf("Tiles listed %d, %v; want %d", listed, err, tiles)
	}
	if _, err := s.ReadTile(ctx, ledger.Tile{Level: 0, N: 1, Width: 5}); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("ReadTile of an unpublished width: %v", err)
	}
	// Checkpoints and rounds.
	c, err := s.Latest(ctx)
	if err != nil || c.Size != size || !bytes.Equal(c.Note, recs[len(recs)-1].Signed) || c.Round != int64(len(recs)) {
		t.Fatalf("Latest = size %d round %d, %v", c.Size, c.Round, err)
	}
	root, _ := tlog.TreeHash(size, r)
	if c.Root != root {
		t.Fatal("Latest root is not the tree hash")
	}
	cps, err := s.Checkpoints(ctx)
	if err != nil || len(cps) != len(recs) {
		t.Fatalf("Checkpoints = %d, %v", len(cps), err)
	}
	rounds, err := s.Rounds(ctx)
	if err != nil || len(rounds) != len(recs) {
		t.Fatalf("Rounds = %d, %v", len(rounds), err)
	}
	for i, rec := range recs {
		if cps[i].Size != rec.First+int64(len(rec.Entries)) || cps[i].Root != rec.Root {
			t.Fatalf("checkpoint %d = %+v", i, cps[i])
		}
		ri := rounds[i]
		if ri.Round != rec.Round || ri.First != rec.First || ri.Count != len(rec.Entries) || !ri.CommittedAt.Equal(rec.Committed) {
			t.Fatalf("round %d = %+v", i, ri)
		}
	}
}

func testConflict(t *testing.T, s Store, signer note.Signer) {
	ctx := context.Background()
	first := writeRound(t, s, signer, 3)
	try := func(name string, rec *ledger.RoundRecord) {
		t.Run(name, func(t *testing.T) {
			tx, err := s.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			if err := s.WriteRound(ctx, tx, rec); !errors.Is(err, ledger.ErrConflict) {
				t.Fatalf("WriteRound = %v, want ErrConflict", err)
			}
		})
	}
	// The same round again (a second writer that built it from the same
	// state): refused.
	try("replay", first)
	// A round that starts before the end (a fork).
	fork := &ledger.RoundRecord{Round: 2, First: 2, Committed: time.Now()}
	b, p := license(t)
	fork.Entries, fork.Keys = [][]byte{b}, [][]byte{p}
	try("fork", fork)
	// A round whose key P is already on the ledger.
	dup := &ledger.RoundRecord{Round: 2, First: 3, Committed: time.Now(), Entries: [][]byte{first.Entries[0]}, Keys: [][]byte{first.Keys[0]}}
	old := tlog.HashReaderFunc(func(ids []int64) ([]tlog.Hash, error) { return s.ReadHashes(ctx, ids) })
	if err := ledger.BuildRound(dup, old, signer); err != nil {
		t.Fatal(err)
	}
	try("duplicate key", dup)
	if c, _ := s.Latest(ctx); c.Size != 3 {
		t.Fatalf("log size %d after refused rounds, want 3", c.Size)
	}
}

func testRollback(t *testing.T, s Store, signer note.Signer) {
	ctx := context.Background()
	writeRound(t, s, signer, 2)
	rec := &ledger.RoundRecord{Round: 2, First: 2, Committed: time.Now()}
	for range 5 {
		b, p := license(t)
		rec.Entries = append(rec.Entries, b)
		rec.Keys = append(rec.Keys, p)
	}
	old := tlog.HashReaderFunc(func(ids []int64) ([]tlog.Hash, error) { return s.ReadHashes(ctx, ids) })
	if err := ledger.BuildRound(rec, old, signer); err != nil {
		t.Fatal(err)
	}
	tx, err := s.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteRound(ctx, tx, rec); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(ctx)
	c, _ := s.Latest(ctx)
	es, _ := s.ReadEntries(ctx, 0, 100)
	if c.Size != 2 || len(es) != 2 {
		t.Fatalf("after a rolled-back round: size %d, %d entries; want 2", c.Size, len(es))
	}
	if _, err := s.ReadTile(ctx, rec.Tiles[0].Tile); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatal(fmt.Sprint("a rolled-back tile is readable: ", err))
	}
}
