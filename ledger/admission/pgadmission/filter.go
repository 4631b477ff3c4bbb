package pgadmission

import (
	"context"
	"fmt"

	"github.com/licensed/licensed/ledger/tagfilter"
)

// ScopeTags returns the keys (counter, tag) recorded in scope, in no
// particular order: what package web publishes as the scope's tag filter
// (package ledger/tagfilter), so that a client restored from a backup learns
// which of its counters are spent without naming its license. Free-tier
// admissions have no tag and are not included. It only reads.
func (s *PostgresTags) ScopeTags(ctx context.Context, scope string) ([]tagfilter.Key, error) {
	rows, err := s.db.Query(ctx, `select counter, tag from admission_tags where scope = $1`, scope)
	if err != nil {
		return nil, fmt.Errorf("admission: couldn't read the tags of a scope: %w", err)
	}
	defer rows.Close()
	var out []tagfilter.Key
	for rows.Next() {
		var counter int64
		var tag []byte
		if err := rows.Scan(&counter, &tag); err != nil {
			return nil, fmt.Errorf("admission: couldn't read the tags of a scope: %w", err)
		}
		if len(tag) != tagfilter.TagSize || counter < 0 || counter > 1<<32-1 {
			return nil, fmt.Errorf("admission: a recorded tag of scope %q is malformed", scope)
		}
		k := tagfilter.Key{Counter: uint32(counter)}
		copy(k.Tag[:], tag)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("admission: couldn't read the tags of a scope: %w", err)
	}
	return out, nil
}
