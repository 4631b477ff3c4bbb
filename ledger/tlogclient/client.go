// Package tlogclient reads the public license ledger from outside, over
// HTTP, trusting nothing but the log's pinned verifier key. It is the one
// client of the ledger's C2SP paths under <Server>/ledger/, used by the
// auditor (`license ledger verify`), by `license scan` and `license prove`,
// and by a relay's mirror (package ledger/relay).
//
// Use it as
//
//	c := &tlogclient.Client{Server: "https://licenses.example", Verifier: v}
//	res, err := c.Verify(ctx, lastSeen, false)
//	// on success, store res.Checkpoint as the next lastSeen
//
// or, to follow the log and read its entries:
//
//	cp, _, err := c.Checkpoint(ctx)             // signed by the pinned key
//	err = c.Consistent(ctx, seen, cp)           // extends what was seen: ErrFork if not
//	for b, err := range c.Entries(ctx, cp, seen.Size, cp.Size) {
//		// b.Entries[i] is entry b.Start+i, as the signed tree commits to it
//	}
//
// What it checks: the checkpoint's signature (C2SP tlog-checkpoint); that
// it extends a checkpoint seen before (a consistency check computed from
// hash tiles, not a rollback nor a fork); every hash tile (C2SP tlog-tiles)
// against the signed root, with tlog.TileHashReader; and every entry of an
// entry bundle against its verified leaf hash. Callers parse the entries
// (ledger.ParseEntry). Every call takes the caller's context, down to each
// tile request.
//
// With a Policy (a C2SP tlog-policy: which witnesses, and how many of them),
// a checkpoint also needs the cosignatures of a quorum of the policy's
// witnesses (C2SP tlog-cosignature). A witness cosigns only a checkpoint
// consistent with every one of this log it cosigned before, so a quorum
// means the checkpoint is on the one history those witnesses saw: not a view
// shown to this client alone.
//
// Failures wrap ErrFork (the log is not an extension of what was seen) or
// ErrMismatch (the server's data does not verify: a checkpoint not signed
// by the key, a tile, bundle or entry that does not match the signed root;
// an entry is also an *EntryError), or are a *witness.QuorumError (the
// checkpoint is short of the policy's quorum), an *HTTPError (the server
// answered another status than 200), a context error, or a network error.
package tlogclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/witness"
)

// Client reads one ledger. It is safe for concurrent use, and keeps the
// hash tiles it verified that later reads need again (tiles above level 0,
// and the partial tiles at the tree's right edge), so following a log
// costs one request per new tile.
type Client struct {
	// Server is the base URL of the license server (the ledger lives under
	// /ledger/).
	Server string
	// Verifier is the pinned checkpoint key; its name is the log's origin.
	Verifier note.Verifier
	// HTTP is the client to use (default: one with a 30 s timeout per
	// request).
	HTTP *http.Client
	// Policy, if set, is the witness policy every checkpoint fetched must
	// satisfy on top of the log's signature: cosignatures of a quorum of
	// its witnesses (see LoadPolicy). A checkpoint short of the quorum is
	// refused with a *witness.QuorumError.
	Policy *witness.Policy

	mu    sync.Mutex
	tiles map[tileKey]cachedTile
}

// ErrFork is a log that is not an extension of a checkpoint seen before:
// it shrank (rollback), or shows another root for the same size or another
// history under a larger one (fork). The server misbehaves: stop trusting
// it, and keep both signed checkpoints as evidence.
var ErrFork = errors.New("tlogclient: the log is not an extension of the checkpoint seen before")

// ErrMismatch is data from the server that does not verify: a checkpoint
// not signed by the pinned key, or a hash tile, entry bundle or entry that
// does not match the signed checkpoint.
var ErrMismatch = errors.New("tlogclient: the server's data does not verify")

// An EntryError is an entry whose record hash is not the leaf hash the
// signed tree holds at its index. It matches ErrMismatch.
type EntryError struct {
	Index int64
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("tlogclient: entry %d does not match its leaf hash in the signed tree", e.Index)
}

func (e *EntryError) Is(target error) bool { return target == ErrMismatch }

// An HTTPError is an answer other than 200 to a GET of Path (relative to
// <Server>/ledger/).
type HTTPError struct {
	Path   string
	Status int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("tlogclient: GET %s: %d %s", e.Path, e.Status, http.StatusText(e.Status))
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
	// Cosigners are the policy's witnesses that cosigned the checkpoint
	// (nil without a policy).
	Cosigners []string
}

// A Bundle is entries of the log, each checked against its leaf hash under
// a signed checkpoint: Entries[i] is the entry at ledger index Start+i. The
// entries alias the fetched bundle.
type Bundle struct {
	Start   int64
	Entries [][]byte
}

// Size limits of the documents fetched.
const (
	maxCheckpoint = 16 << 10
	maxBundle     = ledger.TileWidth * (2 + ledger.MaxEntrySize)
)

var defaultHTTP = &http.Client{Timeout: 30 * time.Second}

// get fetches <Server>/ledger/<path>, at most limit bytes.
func (c *Client) get(ctx context.Context, path string, limit int) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(c.Server, "/")+"/ledger/"+path, nil)
	if err != nil {
		return nil, fmt.Errorf("tlogclient: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("tlogclient: GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{Path: path, Status: resp.StatusCode}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("tlogclient: GET %s: %w", path, err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("%w: GET %s: larger than %d bytes", ErrMismatch, path, limit)
	}
	return b, nil
}

// getTile fetches tile t. A partial tile the server no longer serves (404)
// is read as the full tile, whose first entries or hashes are the same
// (C2SP tlog-tiles); full reports which one was read.
func (c *Client) getTile(ctx context.Context, t ledger.Tile, limit func(width int) int) (b []byte, full bool, err error) {
	b, err = c.get(ctx, t.Path(), limit(t.Width))
	var he *HTTPError
	if errors.As(err, &he) && he.Status == http.StatusNotFound && t.Width < ledger.TileWidth {
		t.Width = ledger.TileWidth
		b, err = c.get(ctx, t.Path(), limit(t.Width))
		full = true
	}
	return b, full, err
}

// Checkpoint fetches the server's latest checkpoint and verifies its
// signature with the pinned key (a checkpoint of size 0 must also have the
// empty tree's root) and, with a Policy, its witnesses' cosignatures. It
// returns the checkpoint and the signed note.
func (c *Client) Checkpoint(ctx context.Context) (ledger.Checkpoint, []byte, error) {
	if c.Verifier == nil {
		return ledger.Checkpoint{}, nil, errors.New("tlogclient: no verifier key")
	}
	if c.Policy != nil && !c.Policy.ListsLog(c.Verifier.Name(), c.Verifier.KeyHash()) {
		return ledger.Checkpoint{}, nil, fmt.Errorf("tlogclient: the witness policy lists logs, but not the ledger's key %s", c.Verifier.Name())
	}
	msg, err := c.get(ctx, "checkpoint", maxCheckpoint)
	if err != nil {
		return ledger.Checkpoint{}, nil, err
	}
	cp, err := ledger.OpenCheckpoint(msg, c.Verifier)
	if err != nil {
		return ledger.Checkpoint{}, nil, fmt.Errorf("%w: the server's checkpoint: %w", ErrMismatch, err)
	}
	if cp.Size == 0 && cp.Root != ledger.EmptyRoot {
		return ledger.Checkpoint{}, nil, fmt.Errorf("%w: the server's checkpoint of size 0 does not have the empty tree's root", ErrMismatch)
	}
	if c.Policy != nil {
		if _, err := c.Policy.Check(msg, cp.Size); err != nil {
			return ledger.Checkpoint{}, nil, err
		}
	}
	return cp, msg, nil
}

// LoadPolicy reads a C2SP tlog-policy file (see package ledger/witness)
// for Client.Policy.
func LoadPolicy(path string) (*witness.Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tlogclient: couldn't read the witness policy: %w", err)
	}
	p, err := witness.ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("tlogclient: %s: %w", path, err)
	}
	return p, nil
}

// Consistent checks that the log under cur extends the one under old, a
// checkpoint verified before (nothing to check if old.Size is 0). Both
// checkpoints must be verified ones. It fails with ErrFork if cur is smaller
// (rollback), has another root at the same size, or a tree whose first
// old.Size entries do not hash to old.Root (computed from hash tiles
// verified against cur.Root).
func (c *Client) Consistent(ctx context.Context, old, cur ledger.Checkpoint) error {
	switch {
	case old.Size == 0:
		return nil
	case cur.Size < old.Size:
		return fmt.Errorf("%w: the log shrank from %d to %d entries (rollback)", ErrFork, old.Size, cur.Size)
	case cur.Size == old.Size:
		if cur.Root != old.Root {
			return fmt.Errorf("%w: two different signed roots for size %d (fork)", ErrFork, cur.Size)
		}
		return nil
	}
	h, err := tlog.TreeHash(old.Size, c.HashReader(ctx, cur))
	if err != nil {
		return fmt.Errorf("%w (checking consistency from %d to %d entries)", err, old.Size, cur.Size)
	}
	if h != old.Root {
		c.dropTiles() // they are the fork's
		return fmt.Errorf("%w: the log of size %d is not an extension of the one of size %d seen before (fork)", ErrFork, cur.Size, old.Size)
	}
	return nil
}

// HashReader returns the hashes of the tree under cp (a verified
// checkpoint), read from hash tiles that tlog.TileHashReader verifies
// against cp.Root, each fetched with ctx. A verification failure wraps
// ErrMismatch.
func (c *Client) HashReader(ctx context.Context, cp ledger.Checkpoint) tlog.HashReader {
	return hashReader{tlog.TileHashReader(tlog.Tree{N: cp.Size, Hash: cp.Root}, c.TileReader(ctx)), c}
}

type hashReader struct {
	hr tlog.HashReader
	c  *Client
}

func (r hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	h, err := r.hr.ReadHashes(indexes)
	if err != nil {
		// TileHashReader returns the tile reader's errors as they are,
		// and its own when tiles do not verify.
		var fe *fetchError
		if errors.As(err, &fe) {
			return nil, fe.err
		}
		// A kept tile may be the one that does not verify (kept from a
		// fork): the next read fetches them all again.
		r.c.dropTiles()
		return nil, fmt.Errorf("%w: hash tiles do not verify against the signed root: %v", ErrMismatch, err)
	}
	return h, nil
}

// dropTiles forgets the kept tiles.
func (c *Client) dropTiles() {
	c.mu.Lock()
	c.tiles = nil
	c.mu.Unlock()
}

// fetchError marks a tile reader's error, to tell it apart from a
// verification failure of TileHashReader.
type fetchError struct{ err error }

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

// TileReader returns a tlog.TileReader over the server's hash tiles whose
// requests carry ctx: cancelling it stops the tile being fetched. Its tiles
// are not verified; use it with tlog.TileHashReader, which verifies them and
// then lets c keep those it will need again.
func (c *Client) TileReader(ctx context.Context) tlog.TileReader {
	return &tileReader{ctx: ctx, c: c}
}

type tileReader struct {
	ctx context.Context
	c   *Client
}

// tileKey is a tile without its width: the cache keeps one width of each.
type tileKey struct {
	level int
	n     int64
}

type cachedTile struct {
	width int
	data  []byte
}

func (r *tileReader) Height() int { return ledger.TileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		r.c.mu.Lock()
		ct, ok := r.c.tiles[tileKey{t.L, t.N}]
		r.c.mu.Unlock()
		if ok && ct.width == t.W {
			out[i] = ct.data
			continue
		}
		want := t.W * tlog.HashSize
		lt := ledger.Tile{Level: t.L, N: t.N, Width: t.W}
		b, full, err := r.c.getTile(r.ctx, lt, func(w int) int { return w * tlog.HashSize })
		if err != nil {
			return nil, &fetchError{err}
		}
		switch {
		case full && len(b) == ledger.TileWidth*tlog.HashSize:
			b = b[:want:want]
		case full || len(b) != want:
			return nil, &fetchError{fmt.Errorf("%w: tile %s has %d bytes, want %d", ErrMismatch, lt.Path(), len(b), want)}
		}
		out[i] = b
	}
	return out, nil
}

// SaveTiles is called with the tiles TileHashReader verified. The client
// keeps those a later read needs again: tiles above level 0, shared by
// every read, and the partial level-0 tile at the tree's right edge, which
// every read of that tree needs. A full level-0 tile is read once, for its
// entries, and not kept; neither is a partial tile once another width of it
// is saved, so the cache stays small however long the log is followed.
func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	r.c.mu.Lock()
	defer r.c.mu.Unlock()
	if r.c.tiles == nil {
		r.c.tiles = map[tileKey]cachedTile{}
	}
	for i, t := range tiles {
		k := tileKey{t.L, t.N}
		if t.L == 0 && t.W == ledger.TileWidth {
			delete(r.c.tiles, k)
			continue
		}
		r.c.tiles[k] = cachedTile{t.W, data[i]}
	}
}

// Bundle returns the entries of entry bundle n under cp (a verified
// checkpoint): entries n·256 to n·256+255, or to cp.Size−1 in the last
// bundle, each checked against its leaf hash, which is read from hash tiles
// verified against cp.Root. An entry that does not match is an
// *EntryError; a bundle that is malformed or holds another number of
// entries wraps ErrMismatch.
func (c *Client) Bundle(ctx context.Context, cp ledger.Checkpoint, n int64) (Bundle, error) {
	start := n * ledger.TileWidth
	if n < 0 || start >= cp.Size {
		return Bundle{}, fmt.Errorf("tlogclient: entry bundle %d is beyond the checkpoint of %d entries", n, cp.Size)
	}
	width := int(min(cp.Size-start, ledger.TileWidth))
	t := ledger.Tile{Level: ledger.EntriesLevel, N: n, Width: width}
	b, full, err := c.getTile(ctx, t, func(w int) int { return w * (2 + ledger.MaxEntrySize) })
	if err != nil {
		return Bundle{}, err
	}
	entries, err := ledger.ParseBundle(b)
	if err != nil {
		return Bundle{}, fmt.Errorf("%w: entry bundle %s: %v", ErrMismatch, t.Path(), err)
	}
	if full && len(entries) == ledger.TileWidth {
		entries = entries[:width]
	}
	if len(entries) != width {
		return Bundle{}, fmt.Errorf("%w: entry bundle %s has %d entries, want %d", ErrMismatch, t.Path(), len(entries), width)
	}
	ids := make([]int64, width)
	for i := range ids {
		ids[i] = tlog.StoredHashIndex(0, start+int64(i))
	}
	leaves, err := c.HashReader(ctx, cp).ReadHashes(ids)
	if err != nil {
		return Bundle{}, fmt.Errorf("%w (the leaves of entries %d–%d)", err, start, start+int64(width)-1)
	}
	for i, e := range entries {
		if tlog.RecordHash(e) != leaves[i] {
			return Bundle{}, &EntryError{Index: start + int64(i)}
		}
	}
	return Bundle{Start: start, Entries: entries}, nil
}

// Entries yields the entries from index start to end−1 under cp (a verified
// checkpoint), bundle by bundle in order, as Bundle checks them; the first
// and last bundles are cut to the range. It stops at the first error, which
// it yields with a zero Bundle.
func (c *Client) Entries(ctx context.Context, cp ledger.Checkpoint, start, end int64) iter.Seq2[Bundle, error] {
	return func(yield func(Bundle, error) bool) {
		if start < 0 || start > end || end > cp.Size {
			yield(Bundle{}, fmt.Errorf("tlogclient: entries %d to %d are not within the checkpoint of %d entries", start, end, cp.Size))
			return
		}
		for n := start / ledger.TileWidth; start < end && n*ledger.TileWidth < end; n++ {
			b, err := c.Bundle(ctx, cp, n)
			if err != nil {
				yield(Bundle{}, err)
				return
			}
			if skip := start - b.Start; skip > 0 {
				b.Start, b.Entries = start, b.Entries[skip:]
			}
			if over := b.Start + int64(len(b.Entries)) - end; over > 0 {
				b.Entries = b.Entries[:int64(len(b.Entries))-over]
			}
			if !yield(b, nil) {
				return
			}
		}
	}
}

// Verify fetches the latest checkpoint and checks, in order: its signature
// against the pinned key; that it does not roll back or fork from lastSeen
// (a signed checkpoint from an earlier run, or nil); and that every entry
// from lastSeen's size on (from 0 when full or without lastSeen) is in the
// log exactly as its tile leaf says and is a canonical ledger entry. Any
// failure is an error saying what does not match: the log or the server
// misbehaves.
func (c *Client) Verify(ctx context.Context, lastSeen []byte, full bool) (*Result, error) {
	if c.Verifier == nil {
		return nil, errors.New("tlogclient: no verifier key")
	}
	var old ledger.Checkpoint
	if lastSeen != nil {
		var err error
		if old, err = ledger.OpenCheckpoint(lastSeen, c.Verifier); err != nil {
			return nil, fmt.Errorf("tlogclient: the last seen checkpoint does not verify: %w", err)
		}
	}
	cur, msg, err := c.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.Consistent(ctx, old, cur); err != nil {
		return nil, err
	}
	res := &Result{Checkpoint: msg, Size: cur.Size, Root: cur.Root, PreviousSize: old.Size}
	if c.Policy != nil {
		res.Cosigners, _ = c.Policy.Cosigners(msg)
	}
	from := old.Size
	if full {
		from = 0
	}
	for b, err := range c.Entries(ctx, cur, from, cur.Size) {
		if err != nil {
			return nil, err
		}
		for i, e := range b.Entries {
			parsed, err := ledger.ParseEntry(e)
			if err != nil {
				return nil, fmt.Errorf("tlogclient: entry %d: %w", b.Start+int64(i), err)
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
