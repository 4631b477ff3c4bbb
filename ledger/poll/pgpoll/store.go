package pgpoll

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger/poll"
	"github.com/licensed/licensed/ringverify"
)

// Ledger is what Cast needs of the ledger: its license index (package
// ledger's Index) and the number of entries it has seen.
type Ledger interface {
	ringverify.Members
	Size() uint64
}

// Error is a refusal of this package with a stable code (not_found,
// poll_exists); ballots' refusals are package poll's and ringverify's.
type Error struct{ code, msg string }

func (e *Error) Error() string { return "pgpoll: " + e.msg }

// Code is the stable reason.
func (e *Error) Code() string { return e.code }

// Is matches errors of the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.code == e.code
}

var (
	// ErrNotFound: no poll has this id.
	ErrNotFound = &Error{code: "not_found", msg: "there is no poll with this id"}
	// ErrExists: a poll with this id or this definition exists.
	ErrExists = &Error{code: "poll_exists", msg: "a poll with this id already exists; choose another id"}
)

// DefaultMaxRing is the largest ring Cast takes for a poll whose minimum
// is below it; for a poll whose minimum is larger, the minimum is the
// largest too.
const DefaultMaxRing = 64

// MaxRing is the largest ring Cast takes for poll p: the server's bound on
// the cost of one ballot, not a rule of the poll (a recount counts larger
// rings).
func MaxRing(p *poll.Poll) int { return max(p.MinRing, DefaultMaxRing) }

// Store keeps polls and their logs. It is safe for concurrent use.
type Store struct {
	db     *pgxpool.Pool
	signer note.Signer
	ledger Ledger
	v      *ringverify.Verifier

	mu    sync.Mutex
	polls map[string]*Stored // definitions never change: cached once read
}

// A Stored poll: its definition, encoding and hash.
type Stored struct {
	Poll       *poll.Poll
	Definition []byte
	Hash       poll.Hash
}

// New returns a Store. ledger may be nil for a store that only creates and
// reads polls (Cast then fails).
func New(db *pgxpool.Pool, signer note.Signer, ledger Ledger) (*Store, error) {
	s := &Store{db: db, signer: signer, ledger: ledger, polls: map[string]*Stored{}}
	if ledger != nil {
		v, err := poll.NewVerifier(ledger)
		if err != nil {
			return nil, err
		}
		s.v = v
	}
	return s, nil
}

// Origin is the origin of poll id's checkpoints.
func (s *Store) Origin(id string) string { return poll.Origin(s.signer.Name(), id) }

// Create stores poll p, which must pass Check, with its definition as leaf
// 0 and a first signed checkpoint of size 1. It fails with ErrExists when
// the id is taken.
func (s *Store) Create(ctx context.Context, p *poll.Poll) (*Stored, error) {
	enc, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	st := &Stored{Poll: p, Definition: enc, Hash: poll.HashDefinition(enc)}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `insert into polls (id, definition, hash, opens, closes) values ($1, $2, $3, $4, $5)`,
			p.ID, enc, st.Hash[:], p.Opens, p.Closes); err != nil {
			if isUnique(err) {
				return ErrExists
			}
			return fmt.Errorf("pgpoll: couldn't store the poll: %w", err)
		}
		_, err := s.appendLeaf(ctx, tx, p.ID, 0, enc, nil, -1)
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// Get returns poll id, or ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*Stored, error) {
	if !poll.ValidID(id) {
		return nil, ErrNotFound
	}
	s.mu.Lock()
	st, ok := s.polls[id]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	var enc []byte
	err := s.db.QueryRow(ctx, `select definition from polls where id = $1`, id).Scan(&enc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't read poll %s: %w", id, err)
	}
	return s.cache(enc)
}

func (s *Store) cache(enc []byte) (*Stored, error) {
	p, err := poll.ParseDefinition(enc)
	if err != nil {
		return nil, fmt.Errorf("pgpoll: a stored poll definition does not parse: %w", err)
	}
	st := &Stored{Poll: p, Definition: enc, Hash: poll.HashDefinition(enc)}
	s.mu.Lock()
	s.polls[p.ID] = st
	s.mu.Unlock()
	return st, nil
}

// List returns every poll, the latest to close first, up to limit.
func (s *Store) List(ctx context.Context, limit int) ([]*Stored, error) {
	rows, err := s.db.Query(ctx, `select definition from polls order by closes desc, id limit $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't list polls: %w", err)
	}
	encs, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't list polls: %w", err)
	}
	out := make([]*Stored, 0, len(encs))
	for _, enc := range encs {
		st, err := s.cache(enc)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// A Receipt is what the voter gets back: the ballot's leaf, its index in
// the log, the signed checkpoint that includes it and the inclusion proof.
type Receipt struct {
	Index      int64            `json:"index"`
	Leaf       []byte           `json:"leaf"`
	Checkpoint string           `json:"checkpoint"`
	Proof      tlog.RecordProof `json:"proof"`
}

// Cast checks req as a ballot of poll id at now and appends it (see the
// package documentation). Refusals are *poll.Error (poll_not_open,
// poll_closed, ring_too_small, plan_not_eligible, already_voted, …),
// ringverify errors (member_expired, signature, …) or ErrNotFound.
func (s *Store) Cast(ctx context.Context, id string, req *poll.Request, now time.Time) (*Receipt, error) {
	if s.v == nil {
		return nil, errors.New("pgpoll: the store has no ledger index to check ballots with")
	}
	st, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	p := st.Poll
	switch p.State(now) {
	case "scheduled":
		return nil, poll.ErrNotOpen.With(fmt.Sprintf("poll %s opens at %s; send the ballot then", p.ID, p.Opens.Format(time.RFC3339)))
	case "closed":
		return nil, poll.ErrClosed.With(fmt.Sprintf("poll %s closed at %s; ballots are no longer taken", p.ID, p.Closes.Format(time.RFC3339)))
	}
	// A ring far beyond the poll's minimum buys the voter nothing a
	// recount would need and costs the server a verification per member.
	if most := MaxRing(p); len(req.Ring) > most {
		return nil, poll.ErrRingTooLarge.With(fmt.Sprintf("this server takes ballots with rings of %d to %d members; make the ring smaller", p.MinRing, most))
	}
	// The ledger size first, then the members: a member beyond it (one the
	// index learnt meanwhile) is refused here, so that a recount against
	// the first size entries sees what the server saw.
	size := s.ledger.Size()
	for i, idx := range req.Ring {
		if idx >= size {
			return nil, &ringverify.MemberError{Position: i, Index: idx, Err: fmt.Errorf("%w: %d", ringverify.ErrUnknownMember, idx)}
		}
	}
	b := req.Ballot(st.Hash, size)
	if err := poll.CheckBallotShape(p, st.Hash, b); err != nil {
		return nil, err
	}
	tag := b.Tag()
	// A tag already in the log is refused before the costly check: anyone
	// can copy one from the public log and post it with junk. (Checked
	// again under the poll's lock below.)
	var used bool
	if err := s.db.QueryRow(ctx, `select exists (select 1 from poll_leaves where poll_id = $1 and tag = $2)`, id, tag[:]).Scan(&used); err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't look up the tag: %w", err)
	}
	if used {
		return nil, alreadyVoted()
	}
	if err := poll.CheckBallot(s.v, p, st.Hash, b); err != nil {
		return nil, err
	}
	var rc *Receipt
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// The poll's row lock orders its appends. The size is read after it,
		// in a statement of its own: under READ COMMITTED a statement that
		// waited for the lock would still see its own, older snapshot.
		if _, err := tx.Exec(ctx, `select 1 from polls where id = $1 for update`, id); err != nil {
			return fmt.Errorf("pgpoll: couldn't lock poll %s: %w", id, err)
		}
		var n int64
		if err := tx.QueryRow(ctx, `select count(*) from poll_leaves where poll_id = $1`, id).Scan(&n); err != nil {
			return fmt.Errorf("pgpoll: couldn't read the size of poll %s: %w", id, err)
		}
		var used bool
		if err := tx.QueryRow(ctx, `select exists (select 1 from poll_leaves where poll_id = $1 and tag = $2)`, id, tag[:]).Scan(&used); err != nil {
			return fmt.Errorf("pgpoll: couldn't look up the tag: %w", err)
		}
		if used {
			return alreadyVoted()
		}
		// Ballots are logged with ledger sizes that never decrease (a
		// recount refuses a smaller one as backdated): one checked against
		// a smaller ledger than the last logged, because its check ran
		// alongside, is logged at the last one's size once its members are
		// checked again against the index, which has grown since.
		if last, err := s.lastLedgerSize(ctx, tx, id, n); err != nil {
			return err
		} else if last > b.LedgerSize {
			if _, err := s.v.Resolve(b.Ring, p.Opens); err != nil {
				return err
			}
			b.LedgerSize = last
		}
		leaf, err := b.MarshalBinary()
		if err != nil {
			return err
		}
		rc, err = s.appendLeaf(ctx, tx, id, n, leaf, tag[:], b.Option)
		return err
	})
	if err != nil {
		return nil, err
	}
	return rc, nil
}

// lastLedgerSize is the ledger size of the last ballot of poll id, whose
// log has n leaves (leaf 0 is the definition); 0 for none.
func (s *Store) lastLedgerSize(ctx context.Context, tx pgx.Tx, id string, n int64) (uint64, error) {
	if n < 2 {
		return 0, nil
	}
	var leaf []byte
	if err := tx.QueryRow(ctx, `select leaf from poll_leaves where poll_id = $1 and idx = $2`, id, n-1).Scan(&leaf); err != nil {
		return 0, fmt.Errorf("pgpoll: couldn't read the last ballot of poll %s: %w", id, err)
	}
	last, err := poll.ParseBallot(leaf)
	if err != nil {
		return 0, fmt.Errorf("pgpoll: the last ballot of poll %s does not decode: %w", id, err)
	}
	return last.LedgerSize, nil
}

func alreadyVoted() error {
	return poll.ErrAlreadyVoted.With("a ballot of this license is already in the poll's log; a license votes once and its ballot is never replaced")
}

// txHashes reads a poll's stored hashes in a transaction.
type txHashes struct {
	ctx context.Context
	tx  pgx.Tx
	id  string
	new map[int64]tlog.Hash // written in this transaction, not yet read back
}

func (h *txHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	for i, x := range indexes {
		if v, ok := h.new[x]; ok {
			out[i] = v
		} else {
			missing = append(missing, x)
		}
	}
	if len(missing) > 0 {
		rows, err := h.tx.Query(h.ctx, `select id, hash from poll_hashes where poll_id = $1 and id = any($2)`, h.id, missing)
		if err != nil {
			return nil, err
		}
		got := map[int64]tlog.Hash{}
		var id int64
		var hash []byte
		_, err = pgx.ForEachRow(rows, []any{&id, &hash}, func() error {
			got[id] = tlog.Hash(hash)
			return nil
		})
		if err != nil {
			return nil, err
		}
		for i, x := range indexes {
			if _, ok := h.new[x]; ok {
				continue
			}
			v, ok := got[x]
			if !ok {
				return nil, fmt.Errorf("pgpoll: stored hash %d of poll %s is missing", x, h.id)
			}
			out[i] = v
		}
	}
	return out, nil
}

// appendLeaf writes leaf n of poll id's log, its stored hashes and a new
// signed checkpoint of size n+1, and returns the receipt.
func (s *Store) appendLeaf(ctx context.Context, tx pgx.Tx, id string, n int64, leaf, tag []byte, option int) (*Receipt, error) {
	r := &txHashes{ctx: ctx, tx: tx, id: id, new: map[int64]tlog.Hash{}}
	hs, err := tlog.StoredHashes(n, leaf, r)
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't hash leaf %d of poll %s: %w", n, id, err)
	}
	var opt any
	if option >= 0 {
		opt = option
	}
	var tg any
	if tag != nil {
		tg = tag
	}
	if _, err := tx.Exec(ctx, `insert into poll_leaves (poll_id, idx, leaf, tag, option) values ($1, $2, $3, $4, $5)`, id, n, leaf, tg, opt); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "poll_leaves_poll_id_tag_key" {
			return nil, alreadyVoted()
		}
		return nil, fmt.Errorf("pgpoll: couldn't store leaf %d of poll %s: %w", n, id, err)
	}
	start := tlog.StoredHashIndex(0, n)
	ids := make([]int64, len(hs))
	raw := make([][]byte, len(hs))
	for i, h := range hs {
		ids[i] = start + int64(i)
		raw[i] = h[:]
		r.new[ids[i]] = h
	}
	if _, err := tx.Exec(ctx, `insert into poll_hashes (poll_id, id, hash) select $1, * from unnest($2::bigint[], $3::bytea[])`, id, ids, raw); err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't store the hashes of leaf %d of poll %s: %w", n, id, err)
	}
	root, err := tlog.TreeHash(n+1, r)
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't compute the root of poll %s: %w", id, err)
	}
	signed, err := poll.SignCheckpoint(poll.Checkpoint{Origin: s.Origin(id), Size: n + 1, Root: root}, s.signer)
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't sign the checkpoint of poll %s: %w", id, err)
	}
	if _, err := tx.Exec(ctx, `insert into poll_checkpoints (poll_id, size, root, note) values ($1, $2, $3, $4)`, id, n+1, root[:], signed); err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't store the checkpoint of poll %s: %w", id, err)
	}
	proof, err := tlog.ProveRecord(n+1, n, r)
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't prove leaf %d of poll %s: %w", n, id, err)
	}
	return &Receipt{Index: n, Leaf: leaf, Checkpoint: string(signed), Proof: proof}, nil
}
