package ledger

import (
	"bytes"
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// FsckReport is what Fsck found.
type FsckReport struct {
	Entries, Hashes, Tiles, Checkpoints, Rounds int
	// ConsistencyProofs is how many checkpoint pairs were proven consistent.
	ConsistencyProofs int
	// Problems lists every mismatch, in the order found; empty when the log
	// is sound.
	Problems []string
}

// OK reports whether Fsck found nothing wrong.
func (r *FsckReport) OK() bool { return len(r.Problems) == 0 }

func (r *FsckReport) problem(format string, args ...any) {
	if len(r.Problems) < 1000 {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// memHashes is a tlog.HashReader over a slice of stored hashes.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, id := range indexes {
		if id < 0 || id >= int64(len(m)) {
			return nil, fmt.Errorf("ledger: hash %d is beyond the log", id)
		}
		out[i] = m[id]
	}
	return out, nil
}

// Fsck checks the whole log in s against its entries: it recomputes every
// stored hash, every published tile and every checkpoint root from the
// entries alone, verifies every checkpoint's signature with v, checks that
// the rounds tile the log, and proves consistency between checkpoints with
// the stored hashes (every pair when there are at most 100 checkpoints,
// otherwise every consecutive pair and every checkpoint against the latest,
// which implies every pair). It returns an error only when it could not
// read the store; what it finds wrong is in the report.
func Fsck(ctx context.Context, s Store, v note.Verifier) (*FsckReport, error) {
	rep := &FsckReport{}
	cps, err := s.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	rep.Checkpoints = len(cps)
	var size int64
	if len(cps) > 0 {
		size = cps[len(cps)-1].Size
	}

	// Entries → recomputed hashes.
	computed := make(memHashes, 0, tlog.StoredHashCount(size))
	for start := int64(0); start < size; {
		es, err := s.ReadEntries(ctx, start, int(min(size-start, 10000)))
		if err != nil {
			return nil, err
		}
		if len(es) == 0 {
			rep.problem("entries from %d on are missing (latest checkpoint has %d)", start, size)
			return rep, nil
		}
		for i, data := range es {
			if _, err := ParseEntry(data); err != nil {
				rep.problem("entry %d does not parse: %v", start+int64(i), err)
			}
			hs, err := tlog.StoredHashes(start+int64(i), data, computed)
			if err != nil {
				return nil, err
			}
			computed = append(computed, hs...)
		}
		start += int64(len(es))
		rep.Entries += len(es)
	}
	if extra, err := s.ReadEntries(ctx, size, 1); err != nil {
		return nil, err
	} else if len(extra) > 0 {
		rep.problem("entry %d exists beyond the latest checkpoint (size %d)", size, size)
	}

	// Stored hashes.
	stored := make(memHashes, len(computed))
	const chunk = 20000
	for start := 0; start < len(computed); start += chunk {
		ids := make([]int64, min(chunk, len(computed)-start))
		for i := range ids {
			ids[i] = int64(start + i)
		}
		hs, err := s.ReadHashes(ctx, ids)
		if err != nil {
			rep.problem("stored hashes %d–%d: %v", start, start+len(ids)-1, err)
			// Fall back to the computed ones so the rest can be checked.
			copy(stored[start:], computed[start:start+len(ids)])
			continue
		}
		copy(stored[start:], hs)
	}
	for i := range computed {
		if stored[i] != computed[i] {
			lvl, n := tlog.SplitStoredHashIndex(int64(i))
			rep.problem("stored hash %d (level %d, node %d) does not match the entries", i, lvl, n)
		}
	}
	rep.Hashes = len(stored)

	// Checkpoints, rounds, expected tiles.
	rounds, err := s.Rounds(ctx)
	if err != nil {
		return nil, err
	}
	rep.Rounds = len(rounds)
	if len(cps) > 0 && cps[0].Size == 0 {
		// The checkpoint a new log starts with: no round, the empty tree.
		c := cps[0]
		if opened, err := OpenCheckpoint(c.Note, v); err != nil {
			rep.problem("checkpoint of size 0: %v", err)
		} else if opened.Size != 0 || opened.Root != EmptyRoot || c.Root != EmptyRoot || c.Round != 0 {
			rep.problem("checkpoint of size 0: it is not the empty tree's (root %x, round %d)", opened.Root[:4], c.Round)
		}
		cps = cps[1:]
	}
	if len(rounds) != len(cps) {
		rep.problem("%d rounds but %d checkpoints", len(rounds), len(cps))
	}
	expected := map[Tile]bool{}
	var prev int64
	for i, c := range cps {
		opened, err := OpenCheckpoint(c.Note, v)
		if err != nil {
			rep.problem("checkpoint of size %d: %v", c.Size, err)
		} else if opened.Size != c.Size || opened.Root != c.Root {
			rep.problem("checkpoint of size %d: its signed note says size %d root %x", c.Size, opened.Size, opened.Root[:4])
		}
		root, err := tlog.TreeHash(c.Size, computed)
		if err != nil {
			return nil, err
		}
		if root != c.Root {
			rep.problem("checkpoint of size %d: root does not match the entries", c.Size)
		}
		if i < len(rounds) {
			r := rounds[i]
			if r.First != prev || r.First+int64(r.Count) != c.Size || r.Round != c.Round {
				rep.problem("round %d (entries %d+%d) does not match checkpoint of size %d (round %d, previous size %d)", r.Round, r.First, r.Count, c.Size, c.Round, prev)
			}
		}
		for _, t := range tlog.NewTiles(TileHeight, prev, c.Size) {
			expected[fromTlog(t)] = true
		}
		prev = c.Size
	}

	// Consistency proofs from the stored hashes against the signed roots.
	check := func(a, b StoredCheckpoint) {
		p, err := tlog.ProveTree(b.Size, a.Size, stored)
		if err == nil {
			err = tlog.CheckTree(p, b.Size, b.Root, a.Size, a.Root)
		}
		if err != nil {
			rep.problem("checkpoints of sizes %d and %d are not consistent: %v", a.Size, b.Size, err)
		}
		rep.ConsistencyProofs++
	}
	if len(cps) <= 100 {
		for i := range cps {
			for j := i + 1; j < len(cps); j++ {
				check(cps[i], cps[j])
			}
		}
	} else {
		for i := 1; i < len(cps); i++ {
			check(cps[i-1], cps[i])
			if i < len(cps)-1 {
				check(cps[i-1], cps[len(cps)-1])
			}
		}
	}

	// Tiles: every stored one rebuilt from the entries, every published one
	// present.
	err = s.Tiles(ctx, func(td TileData) error {
		rep.Tiles++
		t := td.Tile
		if !expected[t] {
			rep.problem("tile %s was never published by a checkpoint", t.Path())
			return nil
		}
		delete(expected, t)
		want, err := tlog.ReadTileData(t.tlogTile(), computed)
		if err != nil {
			rep.problem("tile %s: %v", t.Path(), err)
		} else if !bytes.Equal(want, td.Data) {
			rep.problem("tile %s does not match the entries", t.Path())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for t := range expected {
		rep.problem("tile %s is missing", t.Path())
	}
	return rep, nil
}
