package pgledger

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger"
)

// lockKey is the Postgres advisory lock the sequencer holds (for the whole
// session of the process that sequences, and for every round transaction).
// It is "ledger" in ASCII.
const lockKey int64 = 0x6c6564676572

// appendRefPrefix marks the refs Append makes; only their results are
// recorded (in ledger_append_results) for Append to read back.
const appendRefPrefix = "ledger.append:"

// Sequenced tells OnSequenced which index a pending ref was given.
type Sequenced struct {
	Ref   string
	Index uint64
}

// Config configures a Ledger.
type Config struct {
	// Signer signs checkpoints; its name is the log's origin. Required to
	// sequence; a Ledger without one can still Append (another process
	// sequences) and read.
	Signer note.Signer
	// Period is the least time between the starts of two rounds (default
	// 1s). A round runs only when entries are pending.
	Period time.Duration
	// MaxRound bounds the entries of one round (default 100000).
	MaxRound int
	// OnSequenced, if set, runs inside every round's transaction after the
	// entries are written; if it fails the round rolls back and its entries
	// stay pending for the next round.
	OnSequenced func(ctx context.Context, tx pgx.Tx, round int64, seq []Sequenced) error
	// Log receives the sequencer's log lines (default: discarded).
	Log *slog.Logger

	// beforeCommit, for tests, runs at the end of a round just before commit.
	beforeCommit func(ctx context.Context) error
}

// Ledger is the running ledger of one process: it sequences (RunSequencer)
// and appends (Append). Create it with New.
type Ledger struct {
	db    *pgxpool.Pool
	store *Store
	cfg   Config

	mu      sync.Mutex
	waiters map[string]chan int64
	polling bool
}

// New returns the ledger on db.
func New(db *pgxpool.Pool, cfg Config) *Ledger {
	if cfg.Period <= 0 {
		cfg.Period = time.Second
	}
	if cfg.MaxRound <= 0 {
		cfg.MaxRound = 100000
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Ledger{db: db, store: NewStore(db), cfg: cfg, waiters: map[string]chan int64{}}
}

// Store returns the ledger's store.
func (l *Ledger) Store() *Store { return l.store }

// ErrDuplicateKey is returned by Enqueue for a license entry whose P is
// already pending under another ref; the caller's transaction is then
// aborted (a unique violation). P is a fresh random key, so this happens
// only when a caller enqueues one output twice. A P already on the ledger is
// caught by the round instead, which drops the entry (ErrDropped).
var ErrDuplicateKey = &codedError{"duplicate_key", "ledger: the license key P is already on the ledger"}

type codedError struct{ code, msg string }

func (e *codedError) Error() string { return e.msg }
func (e *codedError) Code() string  { return e.code }

// Enqueue queues e for the next round inside the caller's transaction, so
// the entry is queued exactly when the caller's change commits. ref is the
// caller's idempotency key (e.g. "mint:<order id>"): a ref already pending
// is a no-op with queued false. A ref is remembered only while pending: once
// its round commits (and OnSequenced has seen it) the ledger forgets it, so
// not enqueueing twice after that is the caller's to ensure (its own state,
// such as an order already settled). A license entry whose P is already on
// the ledger is dropped by its round: its ref never reaches OnSequenced.
func Enqueue(ctx context.Context, tx pgx.Tx, ref string, e ledger.Entry) (queued bool, err error) {
	if ref == "" {
		return false, errors.New("ledger: Enqueue needs a ref")
	}
	data, err := e.MarshalBinary()
	if err != nil {
		return false, err
	}
	var p []byte
	if le, ok := e.(*ledger.LicenseEntry); ok {
		p = le.P[:]
	}
	// One statement: a pending ref makes it a no-op. Whether P is already
	// on the ledger is not looked up here (an index probe into a large
	// random B-tree for every entry): the round that meets such an entry
	// drops it (see ErrDropped).
	tag, err := tx.Exec(ctx, `insert into ledger_pending (ref, data, p) values ($1, $2, $3)
		on conflict (ref) do nothing`, ref, data, p)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" { // P pending under another ref
			return false, ErrDuplicateKey
		}
		return false, fmt.Errorf("ledger: couldn't enqueue: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// EnqueueBatch queues many entries in one statement inside the caller's
// transaction, for callers that settle in bulk (imports, tools,
// benchmarks). It returns the refs it queued: an entry whose ref is already
// pending is skipped (compare with refs); as with Enqueue, one whose key P
// is already on the ledger is dropped by its round. refs and es must have
// the same length.
func EnqueueBatch(ctx context.Context, tx pgx.Tx, refs []string, es []ledger.Entry) (queued []string, err error) {
	if len(refs) != len(es) {
		return nil, errors.New("ledger: EnqueueBatch needs one ref per entry")
	}
	datas := make([][]byte, len(es))
	keys := make([][]byte, len(es))
	for i, e := range es {
		if refs[i] == "" {
			return nil, errors.New("ledger: EnqueueBatch needs a ref for every entry")
		}
		if datas[i], err = e.MarshalBinary(); err != nil {
			return nil, err
		}
		if le, ok := e.(*ledger.LicenseEntry); ok {
			keys[i] = le.P[:]
		}
	}
	rows, err := tx.Query(ctx, `insert into ledger_pending (ref, data, p)
		select b.ref, b.data, b.p from unnest($1::text[], $2::bytea[], $3::bytea[]) with ordinality as b(ref, data, p, ord)
		order by b.ord
		on conflict (ref) do nothing
		returning ref`, refs, datas, keys)
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't enqueue: %w", err)
	}
	queued, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return nil, ErrDuplicateKey
		}
		return nil, fmt.Errorf("ledger: couldn't enqueue: %w", err)
	}
	return queued, nil
}

// Suspend suspends the license at index (an open dispute) in the caller's
// transaction. Suspending twice is a no-op. Every process's Index sees it
// within about a second, and the sequencer publishes it in the suspension
// feed (see FeedRound) within about a second of its commit.
func Suspend(ctx context.Context, tx pgx.Tx, index uint64) error {
	if index > 1<<62 {
		return fmt.Errorf("ledger: index %d out of range", index)
	}
	// A trigger queues the change for the feed when the row is new (the
	// sequencer publishes it; no lock is taken here).
	_, err := tx.Exec(ctx, `insert into license_suspensions (ledger_index, since) values ($1, now()) on conflict do nothing`, int64(index))
	if err != nil {
		return fmt.Errorf("ledger: couldn't suspend: %w", err)
	}
	return nil
}

// Unsuspend lifts a suspension; lifting a missing one is a no-op.
func Unsuspend(ctx context.Context, tx pgx.Tx, index uint64) error {
	if index > 1<<62 {
		return fmt.Errorf("ledger: index %d out of range", index)
	}
	_, err := tx.Exec(ctx, `delete from license_suspensions where ledger_index = $1`, int64(index))
	if err != nil {
		return fmt.Errorf("ledger: couldn't lift the suspension: %w", err)
	}
	return nil
}

// ErrDropped is returned by Append when the sequencer refused the entry: its
// key P is already on the ledger.
var ErrDropped = errors.New("ledger: the sequencer dropped the entry (its key P is already on the ledger)")

// Append appends e and returns its index once its round has committed. It
// works whichever process sequences. It is for tests and tools: the server
// enqueues inside its own transactions with Enqueue. If ctx ends first, the
// entry is still appended by a later round (it was queued), and its result
// row stays in ledger_append_results (a ref and an index, nothing else).
func (l *Ledger) Append(ctx context.Context, e ledger.Entry) (uint64, error) {
	var rnd [16]byte
	rand.Read(rnd[:])
	ref := appendRefPrefix + hex.EncodeToString(rnd[:])
	ch := make(chan int64, 1)
	l.mu.Lock()
	l.waiters[ref] = ch
	start := !l.polling
	l.polling = true
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.waiters, ref)
		l.mu.Unlock()
	}()
	if start {
		go l.pollResults()
	}
	err := pgx.BeginFunc(ctx, l.db, func(tx pgx.Tx) error {
		_, err := Enqueue(ctx, tx, ref, e)
		return err
	})
	if err != nil {
		return 0, err
	}
	select {
	case idx := <-ch:
		if idx < 0 {
			return 0, ErrDropped
		}
		return uint64(idx), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// pollResults collects the results of every waiting Append with one query
// every 10 ms, until no one waits.
func (l *Ledger) pollResults() {
	for {
		time.Sleep(10 * time.Millisecond)
		l.mu.Lock()
		if len(l.waiters) == 0 {
			l.polling = false
			l.mu.Unlock()
			return
		}
		refs := make([]string, 0, len(l.waiters))
		for r := range l.waiters {
			refs = append(refs, r)
		}
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rows, err := l.db.Query(ctx, `delete from ledger_append_results where ref = any($1) returning ref, idx`, refs)
		if err == nil {
			for rows.Next() {
				var ref string
				var idx int64
				if rows.Scan(&ref, &idx) == nil {
					l.mu.Lock()
					if ch, ok := l.waiters[ref]; ok {
						ch <- idx
						delete(l.waiters, ref)
					}
					l.mu.Unlock()
				}
			}
			rows.Close()
			err = rows.Err()
		}
		cancel()
		if err != nil {
			l.cfg.Log.Warn("ledger: couldn't read append results", "err", err)
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// ErrLocked is returned by Round when another sequencer holds the lock.
var ErrLocked = errors.New("ledger: another sequencer holds the lock")

// RunSequencer sequences until ctx is done: it waits for the sequencer lock
// (one sequencer across all processes; the others wait here as hot
// standbys), then runs a round whenever entries are pending, at most one per
// Period. It returns ctx's error, or an error if the lock's connection is
// lost (the caller may call it again).
func (l *Ledger) RunSequencer(ctx context.Context) error {
	if l.cfg.Signer == nil {
		return errors.New("ledger: the sequencer needs a signer")
	}
	pc, err := l.db.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("ledger: couldn't connect: %w", err)
	}
	// The session lock belongs to this connection: take it out of the pool
	// so it is never handed back holding the lock.
	conn := pc.Hijack()
	defer conn.Close(context.Background())
	for {
		var ok bool
		if err := conn.QueryRow(ctx, `select pg_try_advisory_lock($1)`, lockKey).Scan(&ok); err != nil {
			return fmt.Errorf("ledger: couldn't take the sequencer lock: %w", err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(l.cfg.Period):
		}
	}
	l.cfg.Log.Info("ledger: sequencing")
	if err := l.startLog(ctx, conn); err != nil {
		return err
	}
	for {
		start := time.Now()
		n, err := l.round(ctx, conn)
		if _, ferr := l.feedRound(ctx, conn); ferr != nil && ctx.Err() == nil {
			l.cfg.Log.Error("ledger: suspension feed round failed; retrying", "err", ferr)
		}
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			l.cfg.Log.Error("ledger: round failed; retrying", "err", err)
			if conn.IsClosed() {
				return err
			}
		case n > 0:
			l.cfg.Log.Debug("ledger: round committed", "entries", n, "duration_ms", time.Since(start).Milliseconds())
		}
		// After a round (or a failed one), wait out the period; when nothing
		// was pending, look again soon: the last round started at least a
		// period ago, so rounds never start closer than Period.
		wait := l.cfg.Period - time.Since(start)
		if n == 0 && err == nil {
			wait = l.cfg.Period / 10
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// startLog gives an empty log its signed checkpoint of size 0 (round 0, no
// round row), so that witnesses, mirrors and clients start from the
// beginning; the first round extends it. A log with a checkpoint already is
// left as it is. The caller holds the sequencer lock.
func (l *Ledger) startLog(ctx context.Context, conn *pgx.Conn) error {
	signed, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: l.cfg.Signer.Name(), Size: 0, Root: ledger.EmptyRoot}, l.cfg.Signer)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, `insert into ledger_checkpoints (size, root, note, round)
		select 0, $1, $2, 0 where not exists (select 1 from ledger_checkpoints)`, ledger.EmptyRoot[:], signed)
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "23514" { // check_violation
		// A schema from before sizes of 0 were allowed: the log starts at
		// its first round, as it used to.
		l.cfg.Log.Warn("ledger: the database does not allow a checkpoint of size 0 yet (migrate it)")
		return nil
	}
	if err != nil {
		return fmt.Errorf("ledger: couldn't write the checkpoint of size 0: %w", err)
	}
	feed, err := ledger.SignSuspensionCheckpoint(ledger.SuspensionCheckpoint{Origin: ledger.SuspensionOrigin(l.cfg.Signer.Name())}, l.cfg.Signer)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `insert into suspension_checkpoints (size, head, note)
		select 0, $1, $2 where not exists (select 1 from suspension_checkpoints)`, make([]byte, 32), feed); err != nil {
		return fmt.Errorf("ledger: couldn't write the suspension feed's checkpoint of size 0: %w", err)
	}
	return nil
}

// Round runs one round now on a connection of its own, taking the round's
// lock for its transaction only. It returns the number of entries sequenced,
// 0 when none were pending, or ErrLocked if another sequencer is in a
// round. Tests and tools use it; servers use RunSequencer.
func (l *Ledger) Round(ctx context.Context) (int, error) { return l.roundNow(ctx, l.round) }

// roundNow runs round on a connection of its own.
func (l *Ledger) roundNow(ctx context.Context, round func(context.Context, *pgx.Conn) (int, error)) (int, error) {
	if l.cfg.Signer == nil {
		return 0, errors.New("ledger: the sequencer needs a signer")
	}
	conn, err := l.db.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	return round(ctx, conn.Conn())
}

type pendingRow struct {
	seq  int64
	ref  string
	data []byte
	p    []byte
}

// round is one sequencer round: one transaction holding the round lock that
// takes the pending entries, shuffles them, writes them with their stored
// hashes, tiles and signed checkpoint, deletes them from pending, and calls
// OnSequenced.
func (l *Ledger) round(ctx context.Context, conn *pgx.Conn) (int, error) {
	n, err := l.roundOnce(ctx, conn, false)
	if pe := (*pgconn.PgError)(nil); errors.Is(err, ledger.ErrConflict) && errors.As(err, &pe) && pe.ConstraintName == "ledger_entries_p_key" {
		// A pending entry's key P is already on the ledger (Enqueue does
		// not look it up). Rare: redo the round checking every key.
		n, err = l.roundOnce(ctx, conn, true)
	}
	return n, err
}

// beginRound begins a round's transaction on conn, holding the round lock,
// if the queue table (ledger_pending or suspension_changes) has rows; tx is
// nil when it has none, and the error ErrLocked when another sequencer is
// in a round.
func beginRound(ctx context.Context, conn *pgx.Conn, queue string) (pgx.Tx, error) {
	var pending bool
	if err := conn.QueryRow(ctx, `select exists (select 1 from `+queue+`)`).Scan(&pending); err != nil {
		return nil, fmt.Errorf("ledger: couldn't look at %s: %w", queue, err)
	}
	if !pending {
		return nil, nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't begin a round: %w", err)
	}
	var locked bool
	if err := tx.QueryRow(ctx, `select pg_try_advisory_xact_lock($1)`, lockKey).Scan(&locked); err != nil || !locked {
		tx.Rollback(context.Background())
		if err != nil {
			return nil, fmt.Errorf("ledger: couldn't take the round lock: %w", err)
		}
		return nil, ErrLocked
	}
	return tx, nil
}

func (l *Ledger) roundOnce(ctx context.Context, conn *pgx.Conn, checkKeys bool) (int, error) {
	tx, err := beginRound(ctx, conn, "ledger_pending")
	if tx == nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	// Take (and delete) the oldest pending entries in one statement; if the
	// round fails they come back with the rollback.
	rows, err := tx.Query(ctx, `delete from ledger_pending where seq in
		(select seq from ledger_pending order by seq limit $1) returning seq, ref, data, p`, l.cfg.MaxRound)
	if err != nil {
		return 0, fmt.Errorf("ledger: couldn't take pending entries: %w", err)
	}
	var batch []pendingRow
	for rows.Next() {
		var r pendingRow
		if err := rows.Scan(&r.seq, &r.ref, &r.data, &r.p); err != nil {
			rows.Close()
			return 0, fmt.Errorf("ledger: couldn't take pending entries: %w", err)
		}
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("ledger: couldn't take pending entries: %w", err)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	if checkKeys {
		batch, err = l.dropTakenKeys(ctx, tx, batch)
		if err != nil {
			return 0, err
		}
		if len(batch) == 0 {
			return 0, tx.Commit(ctx)
		}
	}
	shuffle(batch)

	cur, err := latest(ctx, tx)
	if err != nil {
		return 0, err
	}
	var lastRound int64
	if err := tx.QueryRow(ctx, `select coalesce(max(round), 0) from ledger_rounds`).Scan(&lastRound); err != nil {
		return 0, fmt.Errorf("ledger: couldn't read the last round: %w", err)
	}
	rec := &ledger.RoundRecord{Round: lastRound + 1, First: cur.Size}
	for _, r := range batch {
		rec.Entries = append(rec.Entries, r.data)
		rec.Keys = append(rec.Keys, r.p)
	}
	old := tlog.HashReaderFunc(func(ids []int64) ([]tlog.Hash, error) { return readHashes(ctx, tx, ids) })
	if err := ledger.BuildRound(rec, old, l.cfg.Signer); err != nil {
		return 0, err
	}
	rec.Committed = time.Now()
	if err := l.store.WriteRound(ctx, tx, rec); err != nil {
		return 0, err
	}
	seq := make([]Sequenced, len(batch))
	var appendRefs []string
	var appendIdx []int64
	for i, r := range batch {
		seq[i] = Sequenced{Ref: r.ref, Index: uint64(rec.First) + uint64(i)}
		if strings.HasPrefix(r.ref, appendRefPrefix) {
			appendRefs = append(appendRefs, r.ref)
			appendIdx = append(appendIdx, rec.First+int64(i))
		}
	}
	if len(appendRefs) > 0 {
		if _, err := tx.Exec(ctx, `insert into ledger_append_results (ref, idx) select * from unnest($1::text[], $2::bigint[])`, appendRefs, appendIdx); err != nil {
			return 0, fmt.Errorf("ledger: couldn't record append results: %w", err)
		}
	}
	if l.cfg.OnSequenced != nil {
		if err := l.cfg.OnSequenced(ctx, tx, rec.Round, seq); err != nil {
			return 0, fmt.Errorf("ledger: OnSequenced refused round %d: %w", rec.Round, err)
		}
	}
	// The suspension changes committed so far, and those OnSequenced made
	// (a license suspended as it is minted), are published with the
	// round: a mirror never sees the round's entries without them (a
	// license revoked and its suspension lifted in one transaction, or one
	// minted suspended).
	if _, err := l.publishFeed(ctx, tx); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `select pg_notify('ledger_round', $1)`, fmt.Sprint(rec.First+int64(len(batch)))); err != nil {
		return 0, err
	}
	if l.cfg.beforeCommit != nil {
		if err := l.cfg.beforeCommit(ctx); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("ledger: couldn't commit round %d: %w", rec.Round, err)
	}
	return len(batch), nil
}

// dropTakenKeys removes from batch the license entries whose P is already on
// the ledger (Enqueue does not look); Append callers learn it through a -1
// result.
func (l *Ledger) dropTakenKeys(ctx context.Context, tx pgx.Tx, batch []pendingRow) ([]pendingRow, error) {
	var keys [][]byte
	for _, r := range batch {
		if r.p != nil {
			keys = append(keys, r.p)
		}
	}
	if len(keys) == 0 {
		return batch, nil
	}
	rows, err := tx.Query(ctx, `select p from ledger_entries where p = any($1)`, keys)
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't check license keys: %w", err)
	}
	taken := map[string]bool{}
	for rows.Next() {
		var p []byte
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return nil, err
		}
		taken[string(p)] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(taken) == 0 {
		return batch, nil
	}
	kept := batch[:0]
	for _, r := range batch {
		if r.p != nil && taken[string(r.p)] {
			l.cfg.Log.Error("ledger: dropped a pending entry whose key is already on the ledger")
			if strings.HasPrefix(r.ref, appendRefPrefix) {
				if _, err := tx.Exec(ctx, `insert into ledger_append_results (ref, idx) values ($1, -1) on conflict do nothing`, r.ref); err != nil {
					return nil, err
				}
			}
			continue
		}
		kept = append(kept, r)
	}
	return kept, nil
}

// shuffle puts the round's entries in a uniformly random order (Fisher–Yates
// with crypto/rand), so the order within a round says nothing about the order
// of payments.
func shuffle(b []pendingRow) {
	for i := len(b) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			panic(err)
		}
		k := j.Int64()
		b[i], b[k] = b[k], b[i]
	}
}

// maxFeedRound bounds the changes one feed round publishes.
const maxFeedRound = 10000

// FeedRound publishes the committed suspension changes in the suspension
// feed now, on a connection of its own, and returns how many it published
// (0, or ErrLocked if another sequencer is in a round). Tests and tools use
// it; RunSequencer runs one before every ledger round.
func (l *Ledger) FeedRound(ctx context.Context) (int, error) { return l.roundNow(ctx, l.feedRound) }

// feedRound is one suspension feed round between ledger rounds: one
// transaction holding the round lock that publishes the queued changes
// (publishFeed). It waits while ledger entries are pending: the next ledger
// round publishes the changes with them, so that a license's revoke entry
// and the lift of its suspension, made in one transaction, are never
// published apart.
func (l *Ledger) feedRound(ctx context.Context, conn *pgx.Conn) (int, error) {
	tx, err := beginRound(ctx, conn, "suspension_changes")
	if tx == nil {
		return 0, err
	}
	defer tx.Rollback(context.Background())
	var ledgerPending bool
	if err := tx.QueryRow(ctx, `select exists (select 1 from ledger_pending)`).Scan(&ledgerPending); err != nil {
		return 0, fmt.Errorf("ledger: couldn't look for pending entries: %w", err)
	}
	if ledgerPending {
		return 0, nil
	}
	n, err := l.publishFeed(ctx, tx)
	if err != nil || n == 0 {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("ledger: couldn't commit a feed round: %w", err)
	}
	return n, nil
}

// publishFeed takes the queued suspension changes in tx (which holds the
// round lock) in id order, appends them to the feed with their chain heads,
// and writes the signed checkpoint of the new size.
func (l *Ledger) publishFeed(ctx context.Context, tx pgx.Tx) (int, error) {
	// Times are clamped to whole seconds from 1970 to the end of year 9999
	// (a time outside, such as '-infinity' from a hand-made row, would make
	// an entry no reader accepts, or fail every round).
	rows, err := tx.Query(ctx, `delete from suspension_changes where id in
		(select id from suspension_changes order by id limit $1)
		returning id, ledger_index, suspended,
			to_timestamp(greatest(0, least(coalesce(extract(epoch from at), 0), 253402300799))::bigint)`, maxFeedRound)
	if err != nil {
		return 0, fmt.Errorf("ledger: couldn't take suspension changes: %w", err)
	}
	type change struct {
		id  int64
		e   ledger.SuspensionEntry
		idx int64
	}
	var changes []change
	for rows.Next() {
		var c change
		if err := rows.Scan(&c.id, &c.idx, &c.e.Suspended, &c.e.Time); err != nil {
			rows.Close()
			return 0, fmt.Errorf("ledger: couldn't take suspension changes: %w", err)
		}
		c.e.Index = uint64(c.idx)
		changes = append(changes, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("ledger: couldn't take suspension changes: %w", err)
	}
	if len(changes) == 0 {
		return 0, nil
	}
	// DELETE … RETURNING gives no order: publish in id order.
	slices.SortFunc(changes, func(a, b change) int { return cmp.Compare(a.id, b.id) })
	var size int64
	var head []byte
	err = tx.QueryRow(ctx, `select size, head from suspension_checkpoints order by size desc limit 1`).Scan(&size, &head)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		size, head = 0, make([]byte, 32)
	case err != nil:
		return 0, fmt.Errorf("ledger: couldn't read the suspension feed's checkpoint: %w", err)
	}
	h := [32]byte(head)
	seqs := make([]int64, len(changes))
	entries := make([][]byte, len(changes))
	heads := make([][]byte, len(changes))
	for i, c := range changes {
		b := c.e.MarshalBinary()
		if _, err := ledger.ParseSuspensionEntry(b); err != nil {
			return 0, fmt.Errorf("ledger: suspension change %d would make an unreadable entry: %w", c.id, err)
		}
		h = ledger.NextSuspensionHead(h, b)
		seqs[i], entries[i], heads[i] = size+int64(i), b, bytes.Clone(h[:])
	}
	if _, err := tx.Exec(ctx, `insert into suspension_feed (seq, entry, head) select * from unnest($1::bigint[], $2::bytea[], $3::bytea[])`, seqs, entries, heads); err != nil {
		return 0, fmt.Errorf("ledger: couldn't append to the suspension feed: %w", err)
	}
	cp := ledger.SuspensionCheckpoint{Origin: ledger.SuspensionOrigin(l.cfg.Signer.Name()), Size: size + int64(len(changes)), Head: h}
	signed, err := ledger.SignSuspensionCheckpoint(cp, l.cfg.Signer)
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `insert into suspension_checkpoints (size, head, note) values ($1, $2, $3)`, cp.Size, h[:], signed); err != nil {
		return 0, fmt.Errorf("ledger: couldn't write the suspension feed's checkpoint: %w", err)
	}
	return len(changes), nil
}
