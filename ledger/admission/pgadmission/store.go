package pgadmission

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/ledger/admission"
)

// PostgresTags is the admission.TagStore of the server, in tables admission_tags and
// admission_free (migration 030). Concurrent calls to Record are merged into
// one statement pair per database round trip (group commit), so the cost per
// admission falls as the load rises.
type PostgresTags struct {
	// Linger is how long a round trip waits for more uses to join it when
	// fewer than 8 are pending and the previous round trip had just ended
	// with uses waiting (default 0: never).
	Linger time.Duration

	db *pgxpool.Pool

	mu       sync.Mutex
	pending  []*recordCall
	flushing bool
}

type recordCall struct {
	uses     []admission.Use
	admitted []bool
	err      error
	done     chan struct{}
}

// maxFlush bounds the uses merged into one round trip; with fewer than
// lingerBelow calls pending, a round trip lingers (PostgresTags.Linger).
const (
	maxFlush    = 2048
	lingerBelow = 8
)

// NewPostgresTags returns the store on db.
func NewPostgresTags(db *pgxpool.Pool) *PostgresTags { return &PostgresTags{db: db} }

// Record implements admission.TagStore. Each call joins the next round trip; the
// caller whose call finds no round trip in progress runs rounds until none is
// pending. ctx bounds only the wait: a round, once sent, completes.
func (s *PostgresTags) Record(ctx context.Context, uses []admission.Use) ([]bool, error) {
	if len(uses) == 0 {
		return nil, nil
	}
	c := &recordCall{uses: uses, done: make(chan struct{})}
	s.mu.Lock()
	s.pending = append(s.pending, c)
	lead := !s.flushing
	if lead {
		s.flushing = true
	}
	s.mu.Unlock()
	if lead {
		go s.flushLoop()
	}
	select {
	case <-c.done:
		return c.admitted, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *PostgresTags) flushLoop() {
	for round := 0; ; round++ {
		// Under load (uses arrived while the last round trip ran), linger
		// a little while few wait, so that one statement carries several:
		// the database's cost per admission falls, for at most Linger more
		// latency. The first round never waits, so a lone use is not
		// delayed.
		if s.Linger > 0 && round > 0 {
			s.mu.Lock()
			few := len(s.pending) < lingerBelow
			s.mu.Unlock()
			if few {
				time.Sleep(s.Linger)
			}
		}
		s.mu.Lock()
		var calls []*recordCall
		n := 0
		for len(s.pending) > 0 && (n == 0 || n+len(s.pending[0].uses) <= maxFlush) {
			n += len(s.pending[0].uses)
			calls = append(calls, s.pending[0])
			s.pending = s.pending[1:]
		}
		if len(calls) == 0 {
			s.flushing = false
			s.pending = nil
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		var all []admission.Use
		for _, c := range calls {
			all = append(all, c.uses...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		admitted, err := s.record(ctx, all)
		cancel()
		off := 0
		for _, c := range calls {
			if err != nil {
				c.err = err
			} else {
				c.admitted = admitted[off : off+len(c.uses)]
			}
			off += len(c.uses)
			close(c.done)
		}
	}
}

// record inserts every use (first wins: ON CONFLICT DO NOTHING) and
// compares the message hash stored under each key with the use's, in one
// statement (normally one round trip).
func (s *PostgresTags) record(ctx context.Context, uses []admission.Use) ([]bool, error) {
	var (
		tScope, fScope []string
		tCounter       []int64
		tTag, tHash    [][]byte
		tDay, fDay     []time.Time
		fHash          [][]byte
		tIdx, fIdx     []int
	)
	for i := range uses {
		u := &uses[i]
		if u.Free {
			fScope, fHash, fDay, fIdx = append(fScope, u.Scope), append(fHash, u.MsgHash[:]), append(fDay, u.Day), append(fIdx, i)
			continue
		}
		tScope, tCounter, tTag, tHash, tDay, tIdx = append(tScope, u.Scope), append(tCounter, int64(u.Counter)), append(tTag, u.Tag[:]), append(tHash, u.MsgHash[:]), append(tDay, u.Day), append(tIdx, i)
	}
	admitted := make([]bool, len(uses))
	if len(tIdx) == 1 && len(fIdx) == 0 {
		// One use alone (a light load): a plain insert, cheaper for the
		// database than the general statement below.
		u := &uses[0]
		var inserted bool
		err := s.db.QueryRow(ctx, `insert into admission_tags (scope, counter, tag, msg_hash, day)
			values ($1, $2, $3, $4, $5) on conflict do nothing returning true`,
			u.Scope, int64(u.Counter), u.Tag[:], u.MsgHash[:], u.Day).Scan(&inserted)
		switch {
		case err == nil:
			admitted[0] = true
			return admitted, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, fmt.Errorf("admission: couldn't record a tag: %w", err)
		}
		var h []byte
		err = s.db.QueryRow(ctx, `select msg_hash from admission_tags where scope = $1 and counter = $2 and tag = $3`,
			u.Scope, int64(u.Counter), u.Tag[:]).Scan(&h)
		if err != nil {
			return nil, fmt.Errorf("admission: couldn't read a tag back: %w", err)
		}
		admitted[0] = string(h) == string(u.MsgHash[:])
		return admitted, nil
	}
	if len(tIdx) > 0 {
		// One statement inserts what is new and returns, for every use, the
		// hash stored under its key: the one it inserted, or the one already
		// there (visible in the statement's snapshot). A row committed by
		// another process after the snapshot but before the insert is
		// neither: its hash comes back NULL and is read again below.
		rows, err := s.db.Query(ctx, `with input as (
				select * from unnest($1::text[], $2::bigint[], $3::bytea[], $4::bytea[], $5::date[])
					with ordinality as t(scope, counter, tag, msg_hash, day, i)),
			ins as (
				insert into admission_tags (scope, counter, tag, msg_hash, day)
				select scope, counter, tag, msg_hash, day from input
				on conflict do nothing
				returning scope, counter, tag, msg_hash)
			select input.i, coalesce(ins.msg_hash, a.msg_hash)
			from input
			left join ins on ins.scope = input.scope and ins.counter = input.counter and ins.tag = input.tag
			left join admission_tags a on a.scope = input.scope and a.counter = input.counter and a.tag = input.tag`,
			tScope, tCounter, tTag, tHash, tDay)
		if err != nil {
			return nil, fmt.Errorf("admission: couldn't record tags: %w", err)
		}
		var again []int
		for rows.Next() {
			var i int64
			var h []byte
			if err := rows.Scan(&i, &h); err != nil {
				rows.Close()
				return nil, fmt.Errorf("admission: couldn't record tags: %w", err)
			}
			j := tIdx[i-1]
			if h == nil {
				again = append(again, j)
				continue
			}
			admitted[j] = string(h) == string(uses[j].MsgHash[:])
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("admission: couldn't record tags: %w", err)
		}
		for _, j := range again {
			u := &uses[j]
			var h []byte
			err := s.db.QueryRow(ctx, `select msg_hash from admission_tags where scope = $1 and counter = $2 and tag = $3`,
				u.Scope, int64(u.Counter), u.Tag[:]).Scan(&h)
			if err != nil {
				return nil, fmt.Errorf("admission: couldn't read a tag back: %w", err)
			}
			admitted[j] = string(h) == string(u.MsgHash[:])
		}
	}
	if len(fIdx) > 0 {
		// The key is the message itself: a repeat is the same use, so
		// every free use is admitted once its row exists.
		if _, err := s.db.Exec(ctx, `insert into admission_free (scope, msg_hash, day)
			select * from unnest($1::text[], $2::bytea[], $3::date[])
			on conflict do nothing`, fScope, fHash, fDay); err != nil {
			return nil, fmt.Errorf("admission: couldn't record free uses: %w", err)
		}
		for _, j := range fIdx {
			admitted[j] = true
		}
	}
	return admitted, nil
}

// Prune implements admission.TagStore.
func (s *PostgresTags) Prune(ctx context.Context, day time.Time) (int64, error) {
	var n int64
	for _, q := range []string{`delete from admission_tags where day < $1`, `delete from admission_free where day < $1`} {
		tag, err := s.db.Exec(ctx, q, day)
		if err != nil {
			return n, fmt.Errorf("admission: couldn't prune: %w", err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}
