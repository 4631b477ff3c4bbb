package pgadmission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/internal/groupcommit"
	"github.com/licensed/licensed/ledger/admission"
)

// PostgresTags is the admission.TagStore of the server, and its
// admission.Registry, in tables admission_tags and admission_free
// (migrations 005 and 016). Concurrent calls to Record and Claim are
// merged into one statement pair per database round trip (package
// internal/groupcommit), so the cost per admission falls as the load rises.
type PostgresTags struct {
	// Linger is how long a round trip waits for more uses to join it when
	// fewer than 8 calls are pending and the previous round trip had just
	// ended with uses waiting (default 0: never). Set it before first use.
	Linger time.Duration

	db    *pgxpool.Pool
	once  sync.Once
	group groupcommit.Group[admission.Use, admission.Claim]
}

// maxFlush bounds the uses merged into one round trip; with fewer than
// lingerBelow calls pending, a round trip lingers (PostgresTags.Linger).
const (
	maxFlush    = 2048
	lingerBelow = 8
)

// NewPostgresTags returns the store on db.
func NewPostgresTags(db *pgxpool.Pool) *PostgresTags { return &PostgresTags{db: db} }

// Record implements admission.TagStore. Each call joins the next round trip
// (see Claim). ctx bounds only the wait: a round, once sent, completes.
func (s *PostgresTags) Record(ctx context.Context, uses []admission.Use) ([]bool, error) {
	claims, err := s.Claim(ctx, uses)
	if err != nil {
		return nil, err
	}
	admitted := make([]bool, len(claims))
	for i, c := range claims {
		admitted[i] = c.Admitted
	}
	return admitted, nil
}

// Claim implements admission.Registry: Record, saying for each use not
// admitted what its key holds. Each call joins the next round trip; ctx
// bounds only the wait.
func (s *PostgresTags) Claim(ctx context.Context, uses []admission.Use) ([]admission.Claim, error) {
	s.once.Do(func() {
		s.group = groupcommit.Group[admission.Use, admission.Claim]{
			Do: s.record, Max: maxFlush, Linger: s.Linger, LingerBelow: lingerBelow,
		}
	})
	return s.group.Submit(ctx, uses)
}

// Held implements admission.Registry.
func (s *PostgresTags) Held(ctx context.Context, u admission.Use) (admission.Use, bool, error) {
	h := u
	var hash []byte
	err := s.db.QueryRow(ctx, `select msg_hash, proof from admission_tags where scope = $1 and counter = $2 and tag = $3`,
		u.Scope, int64(u.Counter), u.Tag[:]).Scan(&hash, &h.Proof)
	if errors.Is(err, pgx.ErrNoRows) {
		return admission.Use{}, false, nil
	}
	if err != nil {
		return admission.Use{}, false, fmt.Errorf("admission: couldn't read a tag back: %w", err)
	}
	h.MsgHash, h.Request = [32]byte(hash), nil
	return h, true, nil
}

// Confirm implements admission.Registry.
func (s *PostgresTags) Confirm(ctx context.Context, held admission.Use) error {
	_, err := s.db.Exec(ctx, `update admission_tags set proof = null
		where scope = $1 and counter = $2 and tag = $3 and msg_hash = $4 and proof is not null`,
		held.Scope, int64(held.Counter), held.Tag[:], held.MsgHash[:])
	if err != nil {
		return fmt.Errorf("admission: couldn't confirm a registration: %w", err)
	}
	return nil
}

// Replace implements admission.Registry: one UPDATE whose condition Postgres
// re-checks on the row's newest version after waiting for a concurrent
// writer, so of concurrent replacements at most one matches.
func (s *PostgresTags) Replace(ctx context.Context, held, u admission.Use) (bool, error) {
	tag, err := s.db.Exec(ctx, `update admission_tags set msg_hash = $5, proof = $6
		where scope = $1 and counter = $2 and tag = $3 and msg_hash = $4 and proof is not null`,
		held.Scope, int64(held.Counter), held.Tag[:], held.MsgHash[:], u.MsgHash[:], u.Proof)
	if err != nil {
		return false, fmt.Errorf("admission: couldn't replace a registration: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

var _ admission.Registry = (*PostgresTags)(nil)

// record inserts every use (first wins: ON CONFLICT DO NOTHING, with its
// proof if it is a registration) and compares the message hash stored under
// each key with the use's, in one statement (normally one round trip). For a
// conflict it returns what the key holds.
func (s *PostgresTags) record(ctx context.Context, uses []admission.Use) ([]admission.Claim, error) {
	var (
		tScope, fScope []string
		tCounter       []int64
		tTag, tHash    [][]byte
		tProof         [][]byte
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
		tProof = append(tProof, u.Proof)
	}
	claims := make([]admission.Claim, len(uses))
	// decide sets claims[j] from what its key holds: the message hash, and
	// the proof when it is not verified (nil: verified). differs is
	// whether that proof is not the use's own.
	decide := func(j int, hash, proof []byte, differs bool) {
		same := string(hash) == string(uses[j].MsgHash[:])
		if same && (proof == nil || !differs) {
			claims[j].Admitted = true
			return
		}
		h := uses[j]
		h.MsgHash, h.Proof, h.Request = [32]byte(hash), proof, nil
		claims[j].Admitted, claims[j].Unconfirmed, claims[j].Held = same, same, h
	}
	// readBack reads what the key of uses[j] holds and decides it.
	readBack := func(j int) error {
		h, ok, err := s.Held(ctx, uses[j])
		if err == nil && !ok {
			err = errors.New("the row vanished")
		}
		if err != nil {
			return fmt.Errorf("admission: couldn't read a tag back: %w", err)
		}
		decide(j, h.MsgHash[:], h.Proof, !bytes.Equal(h.Proof, uses[j].Proof))
		return nil
	}
	if len(tIdx) == 1 && len(fIdx) == 0 {
		// One use alone (a light load): a plain insert, cheaper for the
		// database than the general statement below.
		u := &uses[0]
		var inserted bool
		err := s.db.QueryRow(ctx, `insert into admission_tags (scope, counter, tag, msg_hash, day, proof)
			values ($1, $2, $3, $4, $5, $6) on conflict do nothing returning true`,
			u.Scope, int64(u.Counter), u.Tag[:], u.MsgHash[:], u.Day, u.Proof).Scan(&inserted)
		switch {
		case err == nil:
			claims[0].Admitted = true
			return claims, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, fmt.Errorf("admission: couldn't record a tag: %w", err)
		}
		if err := readBack(0); err != nil {
			return nil, err
		}
		return claims, nil
	}
	if len(tIdx) > 0 {
		// One statement inserts what is new and returns, for every use, what
		// its key holds: the row it inserted (itself, or another use of the
		// same key in this statement), or the one already there (visible
		// in the statement's snapshot): the hash, whether its proof is
		// unverified and not the use's own, and then that proof. A row
		// committed by another process after the snapshot but before the
		// insert is neither: its hash comes back NULL and is read again
		// below.
		rows, err := s.db.Query(ctx, `with input as (
				select * from unnest($1::text[], $2::bigint[], $3::bytea[], $4::bytea[], $5::date[], $6::bytea[])
					with ordinality as t(scope, counter, tag, msg_hash, day, proof, i)),
			ins as (
				insert into admission_tags (scope, counter, tag, msg_hash, day, proof)
				select scope, counter, tag, msg_hash, day, proof from input
				on conflict do nothing
				returning scope, counter, tag, msg_hash, proof),
			held as (
				select input.i, input.msg_hash as want, input.proof as mine,
					coalesce(ins.msg_hash, a.msg_hash) as msg_hash,
					case when ins.msg_hash is not null then ins.proof else a.proof end as proof
				from input
				left join ins on ins.scope = input.scope and ins.counter = input.counter and ins.tag = input.tag
				left join admission_tags a on a.scope = input.scope and a.counter = input.counter and a.tag = input.tag)
			select i, msg_hash, proof is not null and proof is distinct from mine,
				case when proof is not null and (msg_hash <> want or proof is distinct from mine) then proof end
			from held`,
			tScope, tCounter, tTag, tHash, tDay, tProof)
		if err != nil {
			return nil, fmt.Errorf("admission: couldn't record tags: %w", err)
		}
		var again []int
		for rows.Next() {
			var i int64
			var h, proof []byte
			var differs bool
			if err := rows.Scan(&i, &h, &differs, &proof); err != nil {
				rows.Close()
				return nil, fmt.Errorf("admission: couldn't record tags: %w", err)
			}
			j := tIdx[i-1]
			if h == nil {
				again = append(again, j)
				continue
			}
			decide(j, h, proof, differs)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("admission: couldn't record tags: %w", err)
		}
		for _, j := range again {
			if err := readBack(j); err != nil {
				return nil, err
			}
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
			claims[j].Admitted = true
		}
	}
	return claims, nil
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
