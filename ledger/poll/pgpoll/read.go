package pgpoll

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger/poll"
)

// Latest returns poll id's latest signed checkpoint and its size.
func (s *Store) Latest(ctx context.Context, id string) (note []byte, size int64, err error) {
	err = s.db.QueryRow(ctx, `select note, size from poll_checkpoints where poll_id = $1 order by size desc limit 1`, id).Scan(&note, &size)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, ErrNotFound
	}
	if err != nil {
		return nil, 0, fmt.Errorf("pgpoll: couldn't read the checkpoint of poll %s: %w", id, err)
	}
	return note, size, nil
}

// Counts returns the ballots per option of poll st (the tally).
func (s *Store) Counts(ctx context.Context, st *Stored) ([]int64, error) {
	counts := make([]int64, len(st.Poll.Options))
	rows, err := s.db.Query(ctx, `select option, count(*) from poll_leaves where poll_id = $1 and option is not null group by option`, st.Poll.ID)
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't count poll %s: %w", st.Poll.ID, err)
	}
	var opt int
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&opt, &n}, func() error {
		if opt < 0 || opt >= len(counts) {
			return fmt.Errorf("pgpoll: poll %s has a ballot for option %d", st.Poll.ID, opt)
		}
		counts[opt] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't count poll %s: %w", st.Poll.ID, err)
	}
	return counts, nil
}

// MaxPage is the most leaves a page holds.
const MaxPage = 1000

// Page returns leaves start to start+limit-1 of poll id's log (leaf 0 is
// the definition) with their inclusion proofs in the latest checkpoint.
// Unless reveal, the leaves themselves are left out (a hidden tally):
// their hashes and tags are given.
func (s *Store) Page(ctx context.Context, id string, start int64, limit int, reveal bool) (*poll.Page, error) {
	if limit <= 0 || limit > MaxPage {
		limit = MaxPage
	}
	signed, size, err := s.Latest(ctx, id)
	if err != nil {
		return nil, err
	}
	pg := &poll.Page{Checkpoint: string(signed), Size: size, Ballots: []poll.LeafView{}}
	if start < 0 || start >= size {
		return pg, nil
	}
	tx, err := s.db.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return nil, fmt.Errorf("pgpoll: %w", err)
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `select idx, leaf, tag from poll_leaves where poll_id = $1 and idx >= $2 and idx < $3 order by idx limit $4`, id, start, size, limit)
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't read poll %s: %w", id, err)
	}
	var idx int64
	var leaf, tag []byte
	_, err = pgx.ForEachRow(rows, []any{&idx, &leaf, &tag}, func() error {
		lh := tlog.RecordHash(leaf)
		lv := poll.LeafView{Index: idx, LeafHash: lh[:], Tag: tag}
		if reveal || idx == 0 {
			lv.Leaf = leaf
		}
		pg.Ballots = append(pg.Ballots, lv)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't read poll %s: %w", id, err)
	}
	// One query for every hash the page's proofs need (not one per proof,
	// which made a page of 1,000 cost 1,000 queries): the hashes a proof
	// reads depend on positions only, so a first pass with a reader that
	// only records them collects the set.
	var need []int64
	record := tlog.HashReaderFunc(func(ix []int64) ([]tlog.Hash, error) {
		need = append(need, ix...)
		return make([]tlog.Hash, len(ix)), nil
	})
	for i := range pg.Ballots {
		if _, err := tlog.ProveRecord(size, pg.Ballots[i].Index, record); err != nil {
			return nil, fmt.Errorf("pgpoll: couldn't prove leaf %d of poll %s: %w", pg.Ballots[i].Index, id, err)
		}
	}
	slices.Sort(need)
	need = slices.Compact(need)
	r := &txHashes{ctx: ctx, tx: tx, id: id, new: make(map[int64]tlog.Hash, len(need))}
	hashes, err := r.ReadHashes(need)
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't read poll %s's hashes: %w", id, err)
	}
	for i, x := range need {
		r.new[x] = hashes[i]
	}
	for i := range pg.Ballots {
		proof, err := tlog.ProveRecord(size, pg.Ballots[i].Index, r)
		if err != nil {
			return nil, fmt.Errorf("pgpoll: couldn't prove leaf %d of poll %s: %w", pg.Ballots[i].Index, id, err)
		}
		for _, h := range proof {
			pg.Ballots[i].Proof = append(pg.Ballots[i].Proof, h[:])
		}
	}
	if last := start + int64(len(pg.Ballots)); last < size {
		pg.Next = last
	}
	return pg, nil
}

// A Listed poll: its definition, its number of ballots and, when asked
// for, its counts.
type Listed struct {
	*Stored
	Ballots int64
	Counts  []int64 // nil unless the poll's counts were asked for
}

// Summaries lists the polls, the latest to close first, up to limit, with
// their numbers of ballots, and the counts of those for which counts(p)
// is true, in three statements whatever the number of polls.
func (s *Store) Summaries(ctx context.Context, limit int, counts func(p *poll.Poll) bool) ([]Listed, error) {
	list, err := s.List(ctx, limit)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	out := make([]Listed, len(list))
	ids := make([]string, len(list))
	at := map[string]int{}
	var counted []string
	for i, st := range list {
		out[i].Stored = st
		ids[i] = st.Poll.ID
		at[st.Poll.ID] = i
		if counts(st.Poll) {
			out[i].Counts = make([]int64, len(st.Poll.Options))
			counted = append(counted, st.Poll.ID)
		}
	}
	rows, err := s.db.Query(ctx, `select poll_id, max(size) from poll_checkpoints where poll_id = any($1) group by poll_id`, ids)
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't read the polls' sizes: %w", err)
	}
	var id string
	var n int64
	if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error {
		out[at[id]].Ballots = n - 1
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't read the polls' sizes: %w", err)
	}
	if len(counted) == 0 {
		return out, nil
	}
	rows, err = s.db.Query(ctx, `select poll_id, option, count(*) from poll_leaves where poll_id = any($1) and option is not null group by poll_id, option`, counted)
	if err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't count the polls: %w", err)
	}
	var opt int
	if _, err := pgx.ForEachRow(rows, []any{&id, &opt, &n}, func() error {
		c := out[at[id]].Counts
		if opt < 0 || opt >= len(c) {
			return fmt.Errorf("poll %s has a ballot for option %d", id, opt)
		}
		c[opt] = n
		return nil
	}); err != nil {
		return nil, fmt.Errorf("pgpoll: couldn't count the polls: %w", err)
	}
	return out, nil
}
