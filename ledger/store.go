package ledger

import (
	"context"
	"errors"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// notFoundError is a missing entry, tile, hash or proof size; code "not_found".
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return "ledger: " + e.msg }
func (e *notFoundError) Code() string  { return "not_found" }
func (e *notFoundError) Is(target error) bool {
	return target == ErrNotFound
}

// NotFound returns an error matching ErrNotFound (code "not_found") that
// says what is missing; Store implementations return it for a hash or tile
// they do not hold.
func NotFound(msg string) error { return &notFoundError{msg} }

// ErrNotFound is matched by errors about something the log does not hold
// (yet): an index or tile beyond the latest checkpoint, a tile width never
// published.
var ErrNotFound = errors.New("ledger: not found")

// ErrConflict is returned by a store's WriteRound (pgledger.Store.WriteRound) when the round does not extend
// the log exactly (its first index is not the log's size, or an index or key
// P is already taken). The sequencer's lock makes it impossible in normal
// operation; it is what stops a second writer from forking the log.
var ErrConflict = errors.New("ledger: the round does not extend the log (conflicting writer)")

// A RoundRecord is everything one sequencer round commits.
type RoundRecord struct {
	Round   int64
	First   int64    // index of Entries[0]: the log's size before the round
	Entries [][]byte // canonical encodings
	Keys    [][]byte // per entry, P for a license entry, nil otherwise
	// HashStart is tlog.StoredHashIndex(0, First); Hashes are the stored
	// hashes from there on (tlog.StoredHashes of every entry, in order).
	HashStart int64
	Hashes    []tlog.Hash
	// Tiles are tlog.NewTiles(TileHeight, First, First+len(Entries)) with
	// their data.
	Tiles     []TileData
	Root      tlog.Hash
	Signed    []byte // the signed checkpoint note
	Committed time.Time
}

// TileData is a hash tile and its contents (32·Width bytes).
type TileData struct {
	Tile Tile
	Data []byte
}

// StoredCheckpoint is a checkpoint row.
type StoredCheckpoint struct {
	Size  int64
	Root  tlog.Hash
	Note  []byte
	Round int64
}

// RoundInfo is a round row: the round committed entries [First, First+Count).
type RoundInfo struct {
	Round       int64
	First       int64
	Count       int
	CommittedAt time.Time
}

// Store is what the index, the HTTP handlers, the proofs and fsck read of
// the ledger's durable state. Package ledger/pgledger implements it on
// Postgres (pgledger.Store, which also writes the rounds its sequencer
// builds with BuildRound); the interface states the contract they rely on,
// and the conformance suite in internal/storetest checks it.
//
// Every read sees only committed rounds. Nothing ever changes once written:
// a second write of an index, hash, tile width, checkpoint or round must
// fail with an error wrapping ErrConflict, and nothing else may alter the
// log tables.
type Store interface {
	// Latest returns the newest checkpoint, or a zero StoredCheckpoint (Size
	// 0, nil Note) for an empty log.
	Latest(ctx context.Context) (StoredCheckpoint, error)
	// ReadEntries returns the encodings of entries [start, start+count),
	// fewer if the log is shorter.
	ReadEntries(ctx context.Context, start int64, count int) ([][]byte, error)
	// ReadHashes returns the stored hashes at the given tlog storage indexes,
	// in order; a missing one is an error wrapping ErrNotFound.
	ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
	// ReadTile returns the data of the hash tile t exactly as published, or
	// an error wrapping ErrNotFound.
	ReadTile(ctx context.Context, t Tile) ([]byte, error)
	// Tiles calls fn for every stored hash tile, in (level, n, width) order.
	Tiles(ctx context.Context, fn func(TileData) error) error
	// Checkpoints returns every checkpoint, by size.
	Checkpoints(ctx context.Context) ([]StoredCheckpoint, error)
	// Rounds returns every round, by number.
	Rounds(ctx context.Context) ([]RoundInfo, error)
	// Suspended returns the indices of suspended licenses.
	Suspended(ctx context.Context) ([]uint64, error)
}
