package payments

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// RoundBalance compares one sequencer round's orders with its license
// entries. The exact order → entry link is forgotten after the retention;
// this round-level count is what stays, so it can always be checked while a
// single entry hides among the entries of its round.
type RoundBalance struct {
	Round    int64
	Orders   int // orders whose license entry committed in the round
	Licenses int // license entries the round committed
}

// Balanced reports whether the round has one license entry per order.
func (b RoundBalance) Balanced() bool { return b.Orders == b.Licenses }

// ReconcileRounds returns the balance of every round that committed a
// license entry or an order's mint, in round order. Revoke entries are not
// counted. A license entry appended by a tool (ledger.Append) rather than for
// an order shows as an unbalanced round.
func ReconcileRounds(ctx context.Context, db *pgxpool.Pool) ([]RoundBalance, error) {
	// Byte 1 of an entry encoding is its kind; 1 is a license (ledger.KindLicense).
	rows, err := db.Query(ctx, `
		with o as (select mint_round r, count(*) n from orders where mint_round is not null group by 1),
		     l as (select round r, count(*) n from ledger_entries where get_byte(data, 1) = 1 group by 1)
		select coalesce(o.r, l.r), coalesce(o.n, 0), coalesce(l.n, 0)
		from o full join l on o.r = l.r order by 1`)
	if err != nil {
		return nil, fmt.Errorf("payments: couldn't reconcile rounds: %w", err)
	}
	defer rows.Close()
	var out []RoundBalance
	for rows.Next() {
		var b RoundBalance
		if err := rows.Scan(&b.Round, &b.Orders, &b.Licenses); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}
