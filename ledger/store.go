package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"
)

// notFoundError is a missing entry, tile, hash or proof size; code "not_found".
type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return "ledger: " + e.msg }
func (e *notFoundError) Code() string  { return "not_found" }
func (e *notFoundError) Is(target error) bool {
	return target == ErrNotFound
}

// ErrNotFound is matched by errors about something the log does not hold
// (yet): an index or tile beyond the latest checkpoint, a tile width never
// published.
var ErrNotFound = errors.New("ledger: not found")

// ErrConflict is returned by Store.WriteRound when the round does not extend
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

// Store is the ledger's durable state. The Postgres implementation
// (NewPostgresStore) is the only one; the interface states the contract the
// sequencer, the index, the HTTP handlers and fsck rely on, and
// package ledger/storetest checks it.
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
	// Begin starts a transaction for WriteRound.
	Begin(ctx context.Context) (pgx.Tx, error)
	// WriteRound writes r in tx. It fails with ErrConflict if r.First is not
	// the log's size or anything in r is already stored.
	WriteRound(ctx context.Context, tx pgx.Tx, r *RoundRecord) error
}

// querier is what pgx.Tx, *pgx.Conn and *pgxpool.Pool share.
type querier interface {
	Exec(ctx context.Context, sql string, arguments ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// PostgresStore is the Store on the tables of migration 002_ledger.
type PostgresStore struct {
	db *pgxpool.Pool
}

// NewPostgresStore returns the Store backed by db.
func NewPostgresStore(db *pgxpool.Pool) *PostgresStore { return &PostgresStore{db: db} }

var _ Store = (*PostgresStore)(nil)

func (s *PostgresStore) Begin(ctx context.Context) (pgx.Tx, error) { return s.db.Begin(ctx) }

func (s *PostgresStore) Latest(ctx context.Context) (StoredCheckpoint, error) {
	return latest(ctx, s.db)
}

func latest(ctx context.Context, q querier) (StoredCheckpoint, error) {
	var c StoredCheckpoint
	var root []byte
	err := q.QueryRow(ctx, `select size, root, note, round from ledger_checkpoints order by size desc limit 1`).Scan(&c.Size, &root, &c.Note, &c.Round)
	if errors.Is(err, pgx.ErrNoRows) {
		return StoredCheckpoint{}, nil
	}
	if err != nil {
		return StoredCheckpoint{}, fmt.Errorf("ledger: couldn't read the latest checkpoint: %w", err)
	}
	copy(c.Root[:], root)
	return c, nil
}

func (s *PostgresStore) ReadEntries(ctx context.Context, start int64, count int) ([][]byte, error) {
	rows, err := s.db.Query(ctx, `select idx, data from ledger_entries where idx >= $1 and idx < $2 order by idx`, start, start+int64(count))
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't read entries: %w", err)
	}
	defer rows.Close()
	out := make([][]byte, 0, count)
	for rows.Next() {
		var idx int64
		var data []byte
		if err := rows.Scan(&idx, &data); err != nil {
			return nil, fmt.Errorf("ledger: couldn't read entries: %w", err)
		}
		if idx != start+int64(len(out)) {
			return nil, fmt.Errorf("ledger: entry %d is missing", start+int64(len(out)))
		}
		out = append(out, data)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: couldn't read entries: %w", err)
	}
	return out, nil
}

func (s *PostgresStore) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	return readHashes(ctx, s.db, indexes)
}

func readHashes(ctx context.Context, q querier, indexes []int64) ([]tlog.Hash, error) {
	if len(indexes) == 0 {
		return nil, nil
	}
	rows, err := q.Query(ctx, `select id, hash from ledger_hashes where id = any($1)`, indexes)
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't read hashes: %w", err)
	}
	defer rows.Close()
	got := make(map[int64]tlog.Hash, len(indexes))
	for rows.Next() {
		var id int64
		var h []byte
		if err := rows.Scan(&id, &h); err != nil {
			return nil, fmt.Errorf("ledger: couldn't read hashes: %w", err)
		}
		got[id] = tlog.Hash(h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("ledger: couldn't read hashes: %w", err)
	}
	out := make([]tlog.Hash, len(indexes))
	for i, id := range indexes {
		h, ok := got[id]
		if !ok {
			return nil, &notFoundError{fmt.Sprintf("stored hash %d is missing", id)}
		}
		out[i] = h
	}
	return out, nil
}

func (s *PostgresStore) ReadTile(ctx context.Context, t Tile) ([]byte, error) {
	var data []byte
	err := s.db.QueryRow(ctx, `select data from ledger_tiles where level = $1 and n = $2 and width = $3`, t.Level, t.N, t.Width).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &notFoundError{fmt.Sprintf("no tile %s", t.Path())}
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't read tile %s: %w", t.Path(), err)
	}
	return data, nil
}

func (s *PostgresStore) Tiles(ctx context.Context, fn func(TileData) error) error {
	rows, err := s.db.Query(ctx, `select level, n, width, data from ledger_tiles order by level, n, width`)
	if err != nil {
		return fmt.Errorf("ledger: couldn't read tiles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var td TileData
		if err := rows.Scan(&td.Tile.Level, &td.Tile.N, &td.Tile.Width, &td.Data); err != nil {
			return fmt.Errorf("ledger: couldn't read tiles: %w", err)
		}
		if err := fn(td); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *PostgresStore) Checkpoints(ctx context.Context) ([]StoredCheckpoint, error) {
	rows, err := s.db.Query(ctx, `select size, root, note, round from ledger_checkpoints order by size`)
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't read checkpoints: %w", err)
	}
	defer rows.Close()
	var out []StoredCheckpoint
	for rows.Next() {
		var c StoredCheckpoint
		var root []byte
		if err := rows.Scan(&c.Size, &root, &c.Note, &c.Round); err != nil {
			return nil, fmt.Errorf("ledger: couldn't read checkpoints: %w", err)
		}
		copy(c.Root[:], root)
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *PostgresStore) Rounds(ctx context.Context) ([]RoundInfo, error) {
	rows, err := s.db.Query(ctx, `select round, first_index, count, committed_at from ledger_rounds order by round`)
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't read rounds: %w", err)
	}
	defer rows.Close()
	var out []RoundInfo
	for rows.Next() {
		var r RoundInfo
		if err := rows.Scan(&r.Round, &r.First, &r.Count, &r.CommittedAt); err != nil {
			return nil, fmt.Errorf("ledger: couldn't read rounds: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *PostgresStore) Suspended(ctx context.Context) ([]uint64, error) {
	rows, err := s.db.Query(ctx, `select ledger_index from license_suspensions where ledger_index >= 0`)
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't read suspensions: %w", err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var i int64
		if err := rows.Scan(&i); err != nil {
			return nil, err
		}
		out = append(out, uint64(i))
	}
	return out, rows.Err()
}

// WriteRound writes r with COPY (the fastest path into Postgres), after
// checking under the round's lock that it extends the log.
func (s *PostgresStore) WriteRound(ctx context.Context, tx pgx.Tx, r *RoundRecord) error {
	if len(r.Entries) == 0 || len(r.Keys) != len(r.Entries) {
		return fmt.Errorf("ledger: a round needs entries and one key slot per entry")
	}
	cur, err := latest(ctx, tx)
	if err != nil {
		return err
	}
	if cur.Size != r.First {
		return fmt.Errorf("%w: round starts at %d but the log has %d entries", ErrConflict, r.First, cur.Size)
	}
	n := int64(len(r.Entries))
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"ledger_entries"}, []string{"idx", "data", "p", "round"},
		pgx.CopyFromSlice(len(r.Entries), func(i int) ([]any, error) {
			return []any{r.First + int64(i), r.Entries[i], r.Keys[i], r.Round}, nil
		}))
	if err != nil {
		return conflict("entries", err)
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"ledger_hashes"}, []string{"id", "hash"},
		pgx.CopyFromSlice(len(r.Hashes), func(i int) ([]any, error) {
			return []any{r.HashStart + int64(i), r.Hashes[i][:]}, nil
		}))
	if err != nil {
		return conflict("hashes", err)
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"ledger_tiles"}, []string{"level", "n", "width", "data"},
		pgx.CopyFromSlice(len(r.Tiles), func(i int) ([]any, error) {
			t := r.Tiles[i]
			return []any{t.Tile.Level, t.Tile.N, t.Tile.Width, t.Data}, nil
		}))
	if err != nil {
		return conflict("tiles", err)
	}
	if _, err := tx.Exec(ctx, `insert into ledger_checkpoints (size, root, note, round) values ($1, $2, $3, $4)`,
		r.First+n, r.Root[:], r.Signed, r.Round); err != nil {
		return conflict("checkpoint", err)
	}
	if _, err := tx.Exec(ctx, `insert into ledger_rounds (round, first_index, count, committed_at) values ($1, $2, $3, $4)`,
		r.Round, r.First, n, r.Committed); err != nil {
		return conflict("round", err)
	}
	return nil
}

func conflict(what string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return fmt.Errorf("%w: %s already stored: %w", ErrConflict, what, err)
	}
	return fmt.Errorf("ledger: couldn't write the round's %s: %w", what, err)
}
