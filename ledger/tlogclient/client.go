// Package tlogclient audits the public license ledger from outside, over
// HTTP, trusting nothing but the log's pinned verifier key: it fetches the
// signed checkpoint (C2SP tlog-checkpoint), proves it consistent with the
// last checkpoint the auditor saw using hash tiles (C2SP tlog-tiles) that
// it verifies against the signed root, and checks that the entry bundles
// hash to the tiles' leaves and are canonical ledger entries.
//
// Use it as
//
//	c := &tlogclient.Client{Server: "https://licenses.example", Verifier: v}
//	res, err := c.Verify(ctx, lastSeen, false)
//	// on success, store res.Checkpoint as the next lastSeen
//
// It makes no database or server-side assumption beyond the C2SP paths
// under <Server>/ledger/.
package tlogclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger"
)

// Client audits one ledger.
type Client struct {
	// Server is the base URL of the license server (the ledger lives under
	// /ledger/).
	Server string
	// Verifier is the pinned checkpoint key; its name is the log's origin.
	Verifier note.Verifier
	// HTTP is the client to use (default: one with a 30 s timeout per
	// request).
	HTTP *http.Client

	mu    sync.Mutex
	tiles map[tlog.Tile][]byte
}

// Result is what Verify established.
type Result struct {
	// Checkpoint is the verified signed checkpoint note; keep it and pass it
	// as lastSeen next time.
	Checkpoint []byte
	Size       int64
	Root       tlog.Hash
	// PreviousSize is the size of lastSeen (0 if none).
	PreviousSize int64
	// Entries is how many entries were downloaded and checked against the
	// tiles.
	Entries int64
	// Licenses and Revocations count the checked entries by kind.
	Licenses, Revocations int64
}

const maxBody = 1 << 20

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.Server, "/")+"/ledger/"+path, nil)
	if err != nil {
		return nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("tlogclient: GET %s: %s", path, resp.Status)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("tlogclient: GET %s: answer too large", path)
	}
	return b, nil
}

// Height, ReadTiles and SaveTiles make c a tlog.TileReader.
func (c *Client) Height() int { return ledger.TileHeight }

func (c *Client) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		c.mu.Lock()
		b, ok := c.tiles[t]
		c.mu.Unlock()
		if !ok {
			var err error
			path := ledger.Tile{Level: t.L, N: t.N, Width: t.W}.Path()
			b, err = c.get(context.Background(), path)
			if err != nil {
				return nil, err
			}
			if len(b) != t.W*tlog.HashSize {
				return nil, fmt.Errorf("tlogclient: tile %s has %d bytes, want %d", path, len(b), t.W*tlog.HashSize)
			}
		}
		out[i] = b
	}
	return out, nil
}

// SaveTiles keeps tiles that tlog has verified against the root.
func (c *Client) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tiles == nil {
		c.tiles = map[tlog.Tile][]byte{}
	}
	for i, t := range tiles {
		c.tiles[t] = data[i]
	}
}

// Verify fetches the latest checkpoint and checks, in order: its signature
// against the pinned key; that it does not roll back or fork from lastSeen
// (a signed checkpoint from an earlier run, or nil), with a consistency
// proof computed from verified tiles; and that every entry from lastSeen's
// size on (from 0 when full or without lastSeen) is in the log exactly as
// its tile leaf says and is a canonical ledger entry. Any failure is an
// error saying what does not match: the log or the server misbehaves.
func (c *Client) Verify(ctx context.Context, lastSeen []byte, full bool) (*Result, error) {
	if c.Verifier == nil {
		return nil, fmt.Errorf("tlogclient: no verifier key")
	}
	var old ledger.Checkpoint
	if lastSeen != nil {
		var err error
		if old, err = ledger.OpenCheckpoint(lastSeen, c.Verifier); err != nil {
			return nil, fmt.Errorf("tlogclient: the last seen checkpoint does not verify: %w", err)
		}
	}
	msg, err := c.get(ctx, "checkpoint")
	if err != nil {
		return nil, err
	}
	cur, err := ledger.OpenCheckpoint(msg, c.Verifier)
	if err != nil {
		return nil, fmt.Errorf("tlogclient: the server's checkpoint: %w", err)
	}
	res := &Result{Checkpoint: msg, Size: cur.Size, Root: cur.Root, PreviousSize: old.Size}
	tree := tlog.Tree{N: cur.Size, Hash: cur.Root}
	hr := tlog.TileHashReader(tree, c)
	switch {
	case cur.Size < old.Size:
		return nil, fmt.Errorf("tlogclient: the log shrank from %d to %d entries (rollback)", old.Size, cur.Size)
	case cur.Size == old.Size && cur.Root != old.Root:
		return nil, fmt.Errorf("tlogclient: two different signed roots for size %d (fork)", cur.Size)
	case old.Size > 0 && cur.Size > old.Size:
		p, err := tlog.ProveTree(cur.Size, old.Size, hr)
		if err != nil {
			return nil, fmt.Errorf("tlogclient: couldn't prove consistency from %d to %d: %w", old.Size, cur.Size, err)
		}
		if err := tlog.CheckTree(p, cur.Size, cur.Root, old.Size, old.Root); err != nil {
			return nil, fmt.Errorf("tlogclient: the log of size %d is not an extension of the one of size %d seen before (fork): %w", cur.Size, old.Size, err)
		}
	}
	from := old.Size
	if full {
		from = 0
	}
	for n := from / ledger.TileWidth; n*ledger.TileWidth < cur.Size; n++ {
		start := n * ledger.TileWidth
		width := int(min(cur.Size-start, ledger.TileWidth))
		bundle, err := c.get(ctx, ledger.Tile{Level: ledger.EntriesLevel, N: n, Width: width}.Path())
		if err != nil {
			return nil, err
		}
		entries, err := ledger.ParseBundle(bundle)
		if err != nil {
			return nil, fmt.Errorf("tlogclient: entry bundle %d: %w", n, err)
		}
		if len(entries) != width {
			return nil, fmt.Errorf("tlogclient: entry bundle %d has %d entries, want %d", n, len(entries), width)
		}
		ids := make([]int64, width)
		for i := range ids {
			ids[i] = tlog.StoredHashIndex(0, start+int64(i))
		}
		leaves, err := hr.ReadHashes(ids)
		if err != nil {
			return nil, fmt.Errorf("tlogclient: the hash tiles for entries %d–%d do not verify against the signed root: %w", start, start+int64(width)-1, err)
		}
		for i, e := range entries {
			idx := start + int64(i)
			if idx < from {
				continue
			}
			if tlog.RecordHash(e) != leaves[i] {
				return nil, fmt.Errorf("tlogclient: entry %d does not match its leaf hash in the signed tree", idx)
			}
			parsed, err := ledger.ParseEntry(e)
			if err != nil {
				return nil, fmt.Errorf("tlogclient: entry %d: %w", idx, err)
			}
			switch parsed.Kind() {
			case ledger.KindLicense:
				res.Licenses++
			case ledger.KindRevoke:
				res.Revocations++
			}
			res.Entries++
		}
	}
	return res, nil
}
