package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/issuer/wallet"
	"github.com/licensed/licensed/ledger"
)

// auditedLedger reads the ledger through its C2SP tiles, trusting nothing
// the server says that it cannot check against a checkpoint signed with the
// pinned key: every hash tile is verified up to the checkpoint's root by
// tlog.TileHashReader, and every entry fetched is hashed and compared with
// its verified leaf hash.
type auditedLedger struct {
	api  *apiClient
	cp   ledger.Checkpoint
	tree tlog.Tree

	mu    sync.Mutex
	cache map[tlog.Tile][]byte // verified hash tiles above level 0
}

// maxCheckpointBytes bounds a signed checkpoint note.
const maxCheckpointBytes = 16 << 10

// auditLedger fetches the current checkpoint, checks its signature with the
// ledger key (the one given, or the one pinned in st) and its consistency
// with the checkpoint recorded in st, then records the key and the new
// checkpoint in st. The caller saves st.
func auditLedger(ctx context.Context, api *apiClient, st *wallet.LedgerState, key string) (*auditedLedger, error) {
	switch {
	case key == "" && st.Key == "":
		return nil, sayf("no ledger key: pass the ledger's verifier key with --ledger-key or %s (the server operator publishes it); it is then pinned in the account file.", envLicenseLedgerKey)
	case key == "":
		key = st.Key
	case st.Key != "" && key != st.Key:
		return nil, sayf("the ledger key given differs from the key pinned in the account file (%s); if the operator really changed it, make a new account file with 'license account new --restore'.", st.Key)
	}
	verifier, err := note.NewVerifier(key)
	if err != nil {
		return nil, sayf("the ledger key %q is not a note verifier key (origin+hash+base64).", key)
	}
	msg, err := api.do(ctx, http.MethodGet, "/ledger/checkpoint", nil, maxCheckpointBytes)
	var r *refusal
	if errors.As(err, &r) && r.Status == http.StatusNotFound {
		return nil, sayf("the server at %s has no ledger checkpoint: its ledger is empty, or it serves no ledger.", api.base)
	}
	if err != nil {
		return nil, err
	}
	cp, err := ledger.OpenCheckpoint(msg, verifier)
	if err != nil {
		return nil, sayf("the ledger checkpoint from %s is not signed by the pinned ledger key %s; do not trust this server's ledger.", api.base, verifier.Name())
	}
	l := &auditedLedger{api: api, cp: cp, tree: tlog.Tree{N: cp.Size, Hash: cp.Root}, cache: map[tlog.Tile][]byte{}}
	if st.Size > cp.Size {
		return nil, sayf("the ledger shrank from %d entries to %d: the server is showing a forked or rolled back ledger; do not trust it.", st.Size, cp.Size)
	}
	if len(st.Root) == len(tlog.Hash{}) && st.Size > 0 {
		var old tlog.Hash
		copy(old[:], st.Root)
		got, err := tlog.TreeHash(st.Size, l.hashReader(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, l.tileFailure(err)
		}
		if got != old {
			return nil, sayf("the ledger at %d entries is not consistent with the one seen before: the server is showing a forked ledger; do not trust it.", cp.Size)
		}
	}
	st.Key = key
	st.Size = cp.Size
	st.Root = cp.Root[:]
	return l, nil
}

// tileFailure turns an error from reading tiles into a sentence.
func (l *auditedLedger) tileFailure(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var se *sentenceError
	if errors.As(err, &se) {
		return se
	}
	var r *refusal
	if errors.As(err, &r) {
		return sayf("the server at %s did not serve a ledger tile (%s).", l.api.base, r.Message)
	}
	return sayf("a ledger tile from %s does not match the signed checkpoint: the server is showing a tampered ledger; do not trust it.", l.api.base)
}

// hashReader returns the verified hashes of the tree under the checkpoint.
func (l *auditedLedger) hashReader(ctx context.Context) tlog.HashReader {
	return tlog.TileHashReader(l.tree, &tileFetcher{ctx: ctx, l: l})
}

// tileFetcher is a tlog.TileReader over the server's C2SP tile paths, for
// one call (it carries that call's context).
type tileFetcher struct {
	ctx context.Context
	l   *auditedLedger
}

func (f *tileFetcher) Height() int { return ledger.TileHeight }

func (f *tileFetcher) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		f.l.mu.Lock()
		b, ok := f.l.cache[t]
		f.l.mu.Unlock()
		if ok {
			out[i] = b
			continue
		}
		b, err := f.l.fetchTile(f.ctx, ledger.Tile{Level: t.L, N: t.N, Width: t.W}, t.W*tlog.HashSize)
		if err != nil {
			return nil, err
		}
		if len(b) != t.W*tlog.HashSize {
			return nil, fmt.Errorf("tile %s has %d bytes", t.Path(), len(b))
		}
		out[i] = b
	}
	return out, nil
}

// SaveTiles is called with tiles TileHashReader has verified; those above
// level 0 are kept (they are few and shared by every lookup).
func (f *tileFetcher) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	f.l.mu.Lock()
	defer f.l.mu.Unlock()
	for i, t := range tiles {
		if t.L > 0 {
			f.l.cache[t] = data[i]
		}
	}
}

// fetchTile fetches a tile by its C2SP path. A partial tile the server no
// longer has is read as the prefix of the full tile, which holds the same
// data first. The result may be longer than asked for; callers cut it.
func (l *auditedLedger) fetchTile(ctx context.Context, t ledger.Tile, limit int) ([]byte, error) {
	const maxTileBytes = ledger.TileWidth * (2 + ledger.MaxEntrySize)
	b, err := l.api.do(ctx, http.MethodGet, "/ledger/"+t.Path(), nil, maxTileBytes)
	var r *refusal
	if errors.As(err, &r) && r.Status == http.StatusNotFound && t.Width < ledger.TileWidth {
		full := t
		full.Width = ledger.TileWidth
		b, err = l.api.do(ctx, http.MethodGet, "/ledger/"+full.Path(), nil, maxTileBytes)
	}
	if err != nil {
		return nil, err
	}
	if t.Level >= 0 && len(b) > limit {
		b = b[:limit]
	}
	return b, nil
}

// entryTile returns the entries of entry tile n under the checkpoint, each
// checked against its verified leaf hash. Entry i of the result has ledger
// index n·256 + i.
func (l *auditedLedger) entryTile(ctx context.Context, n int64) ([][]byte, error) {
	start := n * ledger.TileWidth
	width := min(l.cp.Size-start, ledger.TileWidth)
	if width <= 0 {
		return nil, fmt.Errorf("entry tile %d is beyond the checkpoint", n)
	}
	b, err := l.fetchTile(ctx, ledger.Tile{Level: ledger.EntriesLevel, N: n, Width: int(width)}, 0)
	if err != nil {
		return nil, l.tileFailure(err)
	}
	entries, err := ledger.ParseBundle(b)
	if err != nil || int64(len(entries)) < width {
		return nil, sayf("the ledger's entry tile %d from %s is malformed: the server is broken or tampered with; do not trust it.", n, l.api.base)
	}
	entries = entries[:width]
	indexes := make([]int64, width)
	for i := range indexes {
		indexes[i] = tlog.StoredHashIndex(0, start+int64(i))
	}
	hashes, err := l.hashReader(ctx).ReadHashes(indexes)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, l.tileFailure(err)
	}
	for i, e := range entries {
		if tlog.RecordHash(e) != hashes[i] {
			return nil, sayf("ledger entry %d from %s is not the one the signed checkpoint commits to: the server is showing a tampered ledger; do not trust it.", start+int64(i), l.api.base)
		}
	}
	return entries, nil
}

// entriesAt returns the verified, parsed entries at the given indexes,
// fetching each entry tile once.
func (l *auditedLedger) entriesAt(ctx context.Context, indexes []uint64) (map[uint64]ledger.Entry, error) {
	tiles := map[int64][][]byte{}
	out := make(map[uint64]ledger.Entry, len(indexes))
	for _, idx := range indexes {
		if idx >= uint64(l.cp.Size) {
			return nil, sayf("ledger index %d is beyond the ledger's signed checkpoint of %d entries.", idx, l.cp.Size)
		}
		n := int64(idx / ledger.TileWidth)
		bundle, ok := tiles[n]
		if !ok {
			var err error
			if bundle, err = l.entryTile(ctx, n); err != nil {
				return nil, err
			}
			tiles[n] = bundle
		}
		e, err := ledger.ParseEntry(bundle[idx%ledger.TileWidth])
		if err != nil {
			return nil, sayf("ledger entry %d is not a valid entry: the ledger is broken.", idx)
		}
		out[idx] = e
	}
	return out, nil
}
