package pgledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger"
)

// querier is what pgx.Tx, *pgx.Conn and *pgxpool.Pool share.
type querier interface {
	Exec(ctx context.Context, sql string, arguments ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store is the ledger.Store on the tables of migration 002_ledger, and the
// writer of the rounds the sequencer builds.
type Store struct {
	db *pgxpool.Pool
}

// NewStore returns the Store backed by db.
func NewStore(db *pgxpool.Pool) *Store { return &Store{db: db} }

var _ ledger.Store = (*Store)(nil)

// Begin starts a transaction for WriteRound.
func (s *Store) Begin(ctx context.Context) (pgx.Tx, error) { return s.db.Begin(ctx) }

func (s *Store) Latest(ctx context.Context) (ledger.StoredCheckpoint, error) {
	return latest(ctx, s.db)
}

func latest(ctx context.Context, q querier) (ledger.StoredCheckpoint, error) {
	var c ledger.StoredCheckpoint
	var root []byte
	err := q.QueryRow(ctx, `select size, root, note, round from ledger_checkpoints order by size desc limit 1`).Scan(&c.Size, &root, &c.Note, &c.Round)
	if errors.Is(err, pgx.ErrNoRows) {
		return ledger.StoredCheckpoint{}, nil
	}
	if err != nil {
		return ledger.StoredCheckpoint{}, fmt.Errorf("ledger: couldn't read the latest checkpoint: %w", err)
	}
	copy(c.Root[:], root)
	return c, nil
}

func (s *Store) ReadEntries(ctx context.Context, start int64, count int) ([][]byte, error) {
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

func (s *Store) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
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
			return nil, ledger.NotFound(fmt.Sprintf("stored hash %d is missing", id))
		}
		out[i] = h
	}
	return out, nil
}

func (s *Store) ReadTile(ctx context.Context, t ledger.Tile) ([]byte, error) {
	var data []byte
	err := s.db.QueryRow(ctx, `select data from ledger_tiles where level = $1 and n = $2 and width = $3`, t.Level, t.N, t.Width).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ledger.NotFound(fmt.Sprintf("no tile %s", t.Path()))
	}
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't read tile %s: %w", t.Path(), err)
	}
	return data, nil
}

func (s *Store) Tiles(ctx context.Context, fn func(ledger.TileData) error) error {
	rows, err := s.db.Query(ctx, `select level, n, width, data from ledger_tiles order by level, n, width`)
	if err != nil {
		return fmt.Errorf("ledger: couldn't read tiles: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var td ledger.TileData
		if err := rows.Scan(&td.Tile.Level, &td.Tile.N, &td.Tile.Width, &td.Data); err != nil {
			return fmt.Errorf("ledger: couldn't read tiles: %w", err)
		}
		if err := fn(td); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (s *Store) Checkpoints(ctx context.Context) ([]ledger.StoredCheckpoint, error) {
	rows, err := s.db.Query(ctx, `select size, root, note, round from ledger_checkpoints order by size`)
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't read checkpoints: %w", err)
	}
	defer rows.Close()
	var out []ledger.StoredCheckpoint
	for rows.Next() {
		var c ledger.StoredCheckpoint
		var root []byte
		if err := rows.Scan(&c.Size, &root, &c.Note, &c.Round); err != nil {
			return nil, fmt.Errorf("ledger: couldn't read checkpoints: %w", err)
		}
		copy(c.Root[:], root)
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Store) Rounds(ctx context.Context) ([]ledger.RoundInfo, error) {
	rows, err := s.db.Query(ctx, `select round, first_index, count, committed_at from ledger_rounds order by round`)
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't read rounds: %w", err)
	}
	defer rows.Close()
	var out []ledger.RoundInfo
	for rows.Next() {
		var r ledger.RoundInfo
		if err := rows.Scan(&r.Round, &r.First, &r.Count, &r.CommittedAt); err != nil {
			return nil, fmt.Errorf("ledger: couldn't read rounds: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Store) Suspended(ctx context.Context) ([]uint64, error) {
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

// WriteRound writes r in tx with COPY (the fastest path into Postgres),
// after checking under the round's lock that it extends the log. It fails
// with an error wrapping ledger.ErrConflict if r.First is not the log's size
// or anything in r is already stored.
func (s *Store) WriteRound(ctx context.Context, tx pgx.Tx, r *ledger.RoundRecord) error {
	if len(r.Entries) == 0 || len(r.Keys) != len(r.Entries) {
		return fmt.Errorf("ledger: a round needs entries and one key slot per entry")
	}
	cur, err := latest(ctx, tx)
	if err != nil {
		return err
	}
	if cur.Size != r.First {
		return fmt.Errorf("%w: round starts at %d but the log has %d entries", ledger.ErrConflict, r.First, cur.Size)
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
		return fmt.Errorf("%w: %s already stored: %w", ledger.ErrConflict, what, err)
	}
	return fmt.Errorf("ledger: couldn't write the round's %s: %w", what, err)
}

// LatestSuspensions returns the suspension feed's latest signed checkpoint
// and its size (ledger.ErrNotFound before the sequencer first ran).
func (s *Store) LatestSuspensions(ctx context.Context) (note []byte, size int64, err error) {
	err = s.db.QueryRow(ctx, `select note, size from suspension_checkpoints order by size desc limit 1`).Scan(&note, &size)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, ledger.NotFound("the suspension feed has no checkpoint yet: its sequencer has not started")
	}
	if err != nil {
		return nil, 0, fmt.Errorf("ledger: couldn't read the suspension feed's checkpoint: %w", err)
	}
	return note, size, nil
}

// SuspensionEntries returns entries [from, to) of the suspension feed,
// concatenated; fewer if the feed is shorter.
func (s *Store) SuspensionEntries(ctx context.Context, from, to int64) ([]byte, error) {
	rows, err := s.db.Query(ctx, `select entry from suspension_feed where seq >= $1 and seq < $2 order by seq`, from, to)
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't read the suspension feed: %w", err)
	}
	var out []byte
	var e []byte
	_, err = pgx.ForEachRow(rows, []any{&e}, func() error {
		out = append(out, e...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't read the suspension feed: %w", err)
	}
	return out, nil
}

// SuspensionCheckpoints returns every signed checkpoint of the suspension
// feed, by size (for fsck).
func (s *Store) SuspensionCheckpoints(ctx context.Context) ([][]byte, error) {
	rows, err := s.db.Query(ctx, `select note from suspension_checkpoints order by size`)
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't read the suspension feed's checkpoints: %w", err)
	}
	notes, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't read the suspension feed's checkpoints: %w", err)
	}
	return notes, nil
}
