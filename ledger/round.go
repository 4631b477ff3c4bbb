package ledger

import (
	"crypto/sha256"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// EmptyRoot is the root hash of the empty tree, SHA-256 of the empty string
// (RFC 6962, section 2.1): the root of the checkpoint of size 0.
var EmptyRoot = tlog.Hash(sha256.Sum256(nil))

// roundHashes is a tlog.HashReader over the hashes of the round being built
// (a slice from start on), falling back to the stored ones (read once each).
type roundHashes struct {
	old   tlog.HashReader
	start int64
	new   []tlog.Hash
	have  map[int64]tlog.Hash
}

func (r *roundHashes) get(id int64) (tlog.Hash, bool) {
	if id >= r.start && id < r.start+int64(len(r.new)) {
		return r.new[id-r.start], true
	}
	h, ok := r.have[id]
	return h, ok
}

func (r *roundHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	for _, id := range indexes {
		if _, ok := r.get(id); !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		hs, err := r.old.ReadHashes(missing)
		if err != nil {
			return nil, err
		}
		for i, id := range missing {
			r.have[id] = hs[i]
		}
	}
	for i, id := range indexes {
		out[i], _ = r.get(id)
	}
	return out, nil
}

// BuildRound computes rec's HashStart, stored hashes, tiles, root and signed
// checkpoint from rec.First, rec.Entries and old, a reader of the stored
// hashes of the log before the round.
func BuildRound(rec *RoundRecord, old tlog.HashReader, signer note.Signer) error {
	rec.HashStart = tlog.StoredHashIndex(0, rec.First)
	size := rec.First + int64(len(rec.Entries))
	r := &roundHashes{old: old, start: rec.HashStart, have: map[int64]tlog.Hash{},
		new: make([]tlog.Hash, 0, tlog.StoredHashCount(size)-rec.HashStart)}
	rec.Tiles = rec.Tiles[:0]
	for i, data := range rec.Entries {
		n := rec.First + int64(i)
		hs, err := tlog.StoredHashes(n, data, r)
		if err != nil {
			return fmt.Errorf("ledger: couldn't hash entry %d: %w", n, err)
		}
		r.new = append(r.new, hs...)
	}
	rec.Hashes = r.new
	if next := rec.HashStart + int64(len(r.new)); next != tlog.StoredHashCount(size) {
		return fmt.Errorf("ledger: bad hash count %d for size %d", next, size)
	}
	root, err := tlog.TreeHash(size, r)
	if err != nil {
		return fmt.Errorf("ledger: couldn't compute the root: %w", err)
	}
	rec.Root = root
	for _, t := range tlog.NewTiles(TileHeight, rec.First, size) {
		data, err := tlog.ReadTileData(t, r)
		if err != nil {
			return fmt.Errorf("ledger: couldn't build tile %s: %w", t.Path(), err)
		}
		rec.Tiles = append(rec.Tiles, TileData{Tile: fromTlog(t), Data: data})
	}
	rec.Signed, err = SignCheckpoint(Checkpoint{Origin: signer.Name(), Size: size, Root: root}, signer)
	return err
}
