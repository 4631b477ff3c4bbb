package reconcile

import (
	"context"
	"fmt"
	"time"
)

// The kinds of exception at the edges of the payment flows: what the server
// refused to apply, or could not enforce.
const (
	// A Stripe event that named an order but was not its own payment
	// (another method, session, amount, currency or mode), or a paid
	// Checkout Session naming no order of this server. It changed nothing.
	StripeMismatch Kind = "stripe_mismatch"
	// A refund or dispute whose PaymentIntent no order has taken up for
	// UnmatchedGrace: the charge is not one of this server's orders, or its
	// checkout event was lost.
	StripeUnmatched Kind = "stripe_unmatched"
	// A license suspended (a reorg took its Bitcoin payment back, or a
	// dispute opened) after its order's link to the ledger entry was
	// erased: the index cannot be told, and the license still admits.
	SuspendUnenforced Kind = "suspend_unenforced"
)

// UnmatchedGrace is how long a refund or dispute may wait for the checkout
// event that tells which order its PaymentIntent paid before it is an
// exception. Stripe sends both within seconds of each other; retries of a
// failed delivery take longer, and show as their own exceptions meanwhile.
const UnmatchedGrace = time.Hour

// edgeExceptions returns the exceptions of the kinds above recorded (or, for
// suspensions, of orders created) in [from, to).
func (b *Books) edgeExceptions(ctx context.Context, from, to time.Time) ([]Exception, error) {
	var out []Exception
	rows, err := b.db.Query(ctx, `select at, event_id, type, coalesce(order_id, ''), stripe_id, reason
		from stripe_mismatches where at >= $1 and at < $2 order by at, id`, from, to)
	if err != nil {
		return nil, fmt.Errorf("reconcile: couldn't read the mismatched Stripe events: %w", err)
	}
	for rows.Next() {
		var at time.Time
		var event, typ, order, sid, reason string
		if err := rows.Scan(&at, &event, &typ, &order, &sid, &reason); err != nil {
			rows.Close()
			return nil, err
		}
		ref := sid
		if ref == "" {
			ref = event
		}
		out = append(out, Exception{Kind: StripeMismatch, OrderID: order, Ref: ref,
			Detail: fmt.Sprintf("%s %s at %s changed nothing: %s", typ, event, at.UTC().Format(time.RFC3339), reason)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = b.db.Query(ctx, `select payment_intent, refunded, coalesce(dispute, ''), received_at
		from stripe_unmatched_charges where received_at >= $1 and received_at < $2 and received_at < $3
		order by received_at, payment_intent`, from, to, b.Now().Add(-UnmatchedGrace))
	if err != nil {
		return nil, fmt.Errorf("reconcile: couldn't read the unmatched Stripe charges: %w", err)
	}
	for rows.Next() {
		var pi, dispute string
		var refunded bool
		var at time.Time
		if err := rows.Scan(&pi, &refunded, &dispute, &at); err != nil {
			rows.Close()
			return nil, err
		}
		what := "a refund"
		if !refunded {
			what = "a dispute (" + dispute + ")"
		}
		out = append(out, Exception{Kind: StripeUnmatched, Ref: pi,
			Detail: fmt.Sprintf("%s since %s for a PaymentIntent no order holds", what, at.UTC().Format(time.RFC3339))})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = b.db.Query(ctx, `select o.id, coalesce(o.suspended_for, ''), o.mint_round from orders o
		where o.created_at >= $1 and o.created_at < $2 and o.license_state = 'suspended' and o.mint_round is not null
		and not exists (select 1 from order_links l where l.order_id = o.id)
		order by o.created_at, o.id`, from, to)
	if err != nil {
		return nil, fmt.Errorf("reconcile: couldn't read the suspended orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, why string
		var round int64
		if err := rows.Scan(&id, &why, &round); err != nil {
			return nil, err
		}
		out = append(out, Exception{Kind: SuspendUnenforced, OrderID: id, Round: round,
			Detail: fmt.Sprintf("suspended (%s) after the order → entry link was erased: the license still admits", why)})
	}
	return out, rows.Err()
}
