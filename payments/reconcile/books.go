package reconcile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/payments"
)

// Books answers the operator's questions about orders and payments from the
// database alone: lists with filters, revenue, the exception queues that need
// no outside source, and the audit log.
type Books struct {
	db *pgxpool.Pool
	// MintGrace is how long a settled order may wait for its license entry
	// before it is an exception (default 5 min; the sequencer commits a
	// round at least every second).
	MintGrace time.Duration
	// UnsettledGrace is how long a minted order may stay processing (a
	// reorg took its Bitcoin payment back and it waits to confirm again)
	// before it is minted_not_settled (default 24 h). An order back at new,
	// expired or invalid is one at once.
	UnsettledGrace time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// NewBooks returns the books kept in db.
func NewBooks(db *pgxpool.Pool) *Books {
	return &Books{db: db, MintGrace: 5 * time.Minute, UnsettledGrace: 24 * time.Hour, Now: time.Now}
}

// DB returns the database the books are read from.
func (b *Books) DB() *pgxpool.Pool { return b.db }

// Filter selects orders. Zero fields select everything.
type Filter struct {
	ID     string // one order: its id, Stripe PaymentIntent or Bitcoin txid
	State  string
	Method string
	Plan   string
	// From and To bound created_at: From ≤ created_at < To.
	From, To time.Time
	// Limit bounds the rows returned (default and maximum 10000); Offset
	// skips as many of the newest first (paging).
	Limit, Offset int
}

// Row is an order as the operator sees it: no license address, but whether
// the exact link to its ledger entry still exists.
type Row struct {
	ID        string
	Plan      string
	Method    string
	Amount    int64
	Currency  string
	State     payments.State
	Flags     payments.Flags
	License   payments.LicenseState
	MintRound int64
	// LedgerIndex is the index of the license entry while the link is kept.
	LedgerIndex int64
	Linked      bool
	// PaymentRef is the processor's reference: the Stripe PaymentIntent, or
	// the outpoints ("txid:vout") that paid a Bitcoin invoice.
	PaymentRef string
	Refunded   bool
	Dispute    string
	CreatedAt  time.Time
	SettledAt  time.Time
	// BTC is a Bitcoin order's invoice: amount due, received (live
	// payments, confirmed or not) and the rate the amount was fixed at
	// (minor units of Currency per BTC). Zero for card orders.
	BTCSats, BTCReceivedSats, BTCRate int64
}

// MaxRows bounds every list.
const MaxRows = 10000

// Orders returns the orders f selects, newest first.
func (b *Books) Orders(ctx context.Context, f Filter) ([]Row, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.ID != "" {
		// An order id, a Stripe PaymentIntent or a Bitcoin txid: what a
		// customer writing to support can quote.
		a := arg(f.ID)
		where = append(where, "(o.id = "+a+" or o.stripe_payment_intent = "+a+
			" or exists (select 1 from btc_payments p where p.order_id = o.id and split_part(p.outpoint, ':', 1) = "+a+"))")
	}
	if f.State != "" {
		where = append(where, "o.state = "+arg(f.State))
	}
	if f.Method != "" {
		where = append(where, "o.method = "+arg(f.Method))
	}
	if f.Plan != "" {
		where = append(where, "o.plan = "+arg(f.Plan))
	}
	if !f.From.IsZero() {
		where = append(where, "o.created_at >= "+arg(f.From))
	}
	if !f.To.IsZero() {
		where = append(where, "o.created_at < "+arg(f.To))
	}
	limit := f.Limit
	if limit <= 0 || limit > MaxRows {
		limit = MaxRows
	}
	return b.orders(ctx, strings.Join(where, " and "), args, limit, max(0, f.Offset))
}

// orders runs the order query with the condition where ("" for all).
func (b *Books) orders(ctx context.Context, where string, args []any, limit, offset int) ([]Row, error) {
	sql := `select o.id, o.plan, o.method, o.amount, o.currency, o.state, o.flags, coalesce(o.license_state, ''),
		coalesce(o.mint_round, 0), coalesce(l.ledger_index, -1),
		coalesce(o.stripe_payment_intent, (select string_agg(p.outpoint, ' ' order by p.seen_at, p.outpoint)
			from btc_payments p where p.order_id = o.id and not p.dropped), ''),
		o.refunded, coalesce(o.dispute, ''), o.created_at, o.settled_at,
		coalesce(i.amount_sats, 0), coalesce((select sum(p.amount_sats) from btc_payments p where p.order_id = o.id and not p.dropped), 0),
		coalesce(i.rate, 0)
		from orders o left join order_links l on l.order_id = o.id left join btc_invoices i on i.order_id = o.id`
	if where != "" {
		sql += " where " + where
	}
	sql += fmt.Sprintf(" order by o.created_at desc, o.id limit %d offset %d", limit, offset)
	rows, err := b.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("reconcile: couldn't list orders: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Row, error) {
		var r Row
		var license string
		var settled *time.Time
		err := row.Scan(&r.ID, &r.Plan, &r.Method, &r.Amount, &r.Currency, &r.State, &r.Flags, &license,
			&r.MintRound, &r.LedgerIndex, &r.PaymentRef, &r.Refunded, &r.Dispute, &r.CreatedAt, &settled,
			&r.BTCSats, &r.BTCReceivedSats, &r.BTCRate)
		r.License = payments.LicenseState(license)
		r.Linked = r.LedgerIndex >= 0
		if settled != nil {
			r.SettledAt = *settled
		}
		return r, err
	})
}

// ByPaymentRef returns the orders paid with the given Stripe
// PaymentIntents, whenever they were made.
func (b *Books) ByPaymentRef(ctx context.Context, refs []string) ([]Row, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	var out []Row
	for len(refs) > 0 {
		n := min(len(refs), 1000)
		rows, err := b.orders(ctx, "o.stripe_payment_intent = any($1)", []any{refs[:n]}, MaxRows, 0)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
		refs = refs[n:]
	}
	return out, nil
}

// Revenue is what one plan earned on one UTC day, in one currency.
type Revenue struct {
	Day      time.Time
	Plan     string
	Currency string
	Amount   int64 // minor units
	Orders   int
}

// Revenue sums the settled, unrefunded orders per UTC day of settlement and
// plan, for settlements in [from, to).
func (b *Books) Revenue(ctx context.Context, from, to time.Time) ([]Revenue, error) {
	rows, err := b.db.Query(ctx, `select date_trunc('day', settled_at at time zone 'UTC'), plan, currency, sum(amount)::bigint, count(*)
		from orders where state = 'settled' and not refunded and settled_at >= $1 and settled_at < $2
		group by 1, 2, 3 order by 1, 2, 3`, from, to)
	if err != nil {
		return nil, fmt.Errorf("reconcile: couldn't sum revenue: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Revenue, error) {
		var r Revenue
		err := row.Scan(&r.Day, &r.Plan, &r.Currency, &r.Amount, &r.Orders)
		r.Day = time.Date(r.Day.Year(), r.Day.Month(), r.Day.Day(), 0, 0, 0, 0, time.UTC)
		return r, err
	})
}

// Exception is one thing that does not add up, for an operator to look at.
type Exception struct {
	Kind    Kind
	OrderID string // "" when the exception is not about one order
	Round   int64  // the sequencer round, for round mismatches
	Ref     string // a processor's reference (PaymentIntent, balance transaction, txid)
	Detail  string
}

// Kind is the kind of an exception. The values are stable (CSV exports and
// scripts use them).
type Kind string

// The kinds of exception.
const (
	// From the database alone.
	PaidNotMinted     Kind = "paid_not_minted"    // settled, but no license entry after MintGrace
	MintedNotSettled  Kind = "minted_not_settled" // a license entry, active or suspended, for an order that left settled (see Queues)
	RefundedValid     Kind = "refunded_but_valid" // refunded or dispute lost, license not revoked
	DisputedValid     Kind = "disputed_but_valid" // dispute open, license neither suspended nor revoked
	RevokeUnreachable Kind = "revoke_unreachable" // revoked after the link was erased (no revoke entry enqueued): the entry stays valid
	BTCPartial        Kind = "btc_partial"        // a Bitcoin invoice paid less than its amount
	BTCOver           Kind = "btc_over"           // paid more than its amount
	BTCLate           Kind = "btc_late"           // paid after it expired, not settled by hand
	WebhookFailed     Kind = "webhook_failed"     // a webhook the server refused
	// Against the ledger.
	RoundMismatch    Kind = "round_mismatch"      // settled orders of a round ≠ license entries of the round
	LinkNotLicense   Kind = "link_not_license"    // the linked ledger index is not a license entry
	RevokedNotOnLog  Kind = "revoked_not_on_log"  // revoked order, no revoke entry for its linked index
	RevokedOnLogOnly Kind = "revoked_on_log_only" // revoke entry for a linked index, order's license not revoked
	// Against the processors.
	StripeMissing          Kind = "stripe_missing"           // a settled card order with no Stripe balance transaction
	StripeUnknown          Kind = "stripe_unknown"           // a Stripe balance transaction no order accounts for
	StripeAmount           Kind = "stripe_amount"            // the amounts differ
	StripeRefundUnrecorded Kind = "stripe_refund_unrecorded" // the charge refunded in full at Stripe, the order not marked refunded
	StripeRefundedPartly   Kind = "stripe_refunded_partly"   // the order marked refunded, the charge refunded only in part at Stripe
	BTCUnconfirmed         Kind = "btc_unconfirmed"          // a recorded Bitcoin payment btcd does not confirm
)

// QueueKinds are the kinds of the exception queues of the dashboard, in
// display order.
var QueueKinds = []Kind{PaidNotMinted, MintedNotSettled, RefundedValid, DisputedValid, RevokeUnreachable, SuspendUnenforced,
	BTCPartial, BTCOver, BTCLate, StripeMismatch, StripeUnmatched, WebhookFailed}

// Queues returns the exceptions the database alone shows, for orders
// created in [from, to) (zero bounds: all).
//
// minted_not_settled is a license, active or suspended, whose order is no
// longer settled: back at new, expired or invalid, or processing for longer
// than UnsettledGrace. Only a Bitcoin order gets there (a reorg, a
// replacement or a double spend took its payment back). Its order → entry
// link is held until the order settles again or the license is revoked
// (payments.Service.ForgetLinks), since revoking it needs the ledger index;
// an operator's revoke (Revoke) ends both the exception and the link.
func (b *Books) Queues(ctx context.Context, from, to time.Time) ([]Exception, error) {
	if to.IsZero() {
		to = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	now := b.Now()
	grace := b.MintGrace
	rows, err := b.db.Query(ctx, `select o.id, o.state, o.flags, coalesce(o.license_state, ''), coalesce(o.mint_round, 0),
		o.refunded, coalesce(o.dispute, ''), o.settled_at, o.updated_at, l.order_id is not null, o.revoke_enqueued
		from orders o left join order_links l on l.order_id = o.id
		where o.created_at >= $1 and o.created_at < $2 and (
			(o.state = 'settled' and o.mint_round is null and o.settled_at < $3)
			or (o.mint_round is not null and o.license_state in ('active', 'suspended')
				and (o.state not in ('settled', 'processing') or (o.state = 'processing' and o.updated_at < $8)))
			or ((o.refunded or o.dispute = 'lost') and o.license_state in ('active', 'suspended'))
			or (o.dispute = 'open' and o.license_state = 'active')
			or (o.license_state = 'revoked' and o.mint_round is not null and l.order_id is null and not o.revoke_enqueued)
			or (o.flags & $4 <> 0 and o.state <> 'settled')
			or (o.flags & $5 <> 0)
			or (o.flags & $6 <> 0 and o.flags & $7 = 0 and o.state <> 'settled'))
		order by o.created_at, o.id`, from, to, now.Add(-grace),
		int(payments.FlagPaidPartial), int(payments.FlagPaidOver), int(payments.FlagPaidLate), int(payments.FlagMarked),
		now.Add(-b.UnsettledGrace))
	if err != nil {
		return nil, fmt.Errorf("reconcile: couldn't read orders: %w", err)
	}
	defer rows.Close()
	var out []Exception
	for rows.Next() {
		var id, license, dispute string
		var state payments.State
		var flags payments.Flags
		var round int64
		var refunded, linked, revokeEnqueued bool
		var settled *time.Time
		var updated time.Time
		if err := rows.Scan(&id, &state, &flags, &license, &round, &refunded, &dispute, &settled, &updated, &linked, &revokeEnqueued); err != nil {
			return nil, err
		}
		add := func(k Kind, detail string) {
			out = append(out, Exception{Kind: k, OrderID: id, Round: round, Detail: detail})
		}
		if state == payments.StateSettled && round == 0 && settled != nil && now.Sub(*settled) > grace {
			add(PaidNotMinted, fmt.Sprintf("settled at %s, no license entry yet", settled.UTC().Format(time.RFC3339)))
		}
		revokable := license == string(payments.LicenseActive) || license == string(payments.LicenseSuspended)
		if round != 0 && revokable && (state != payments.StateSettled && state != payments.StateProcessing ||
			state == payments.StateProcessing && now.Sub(updated) > b.UnsettledGrace) {
			held := "its link to the entry is gone: the license cannot be revoked"
			if linked {
				held = "its link to the entry is held until the order settles again or an operator revokes the license"
			}
			add(MintedNotSettled, fmt.Sprintf("license entry in round %d (license %s), order %s since %s: %s",
				round, license, state, updated.UTC().Format(time.RFC3339), held))
		}
		if (refunded || dispute == "lost") && revokable {
			add(RefundedValid, "refunded or dispute lost, license "+license)
		}
		if dispute == "open" && license == string(payments.LicenseActive) {
			add(DisputedValid, "dispute open, license active")
		}
		// Revoked on the ledger (its revoke entry enqueued while the link
		// existed), a license needs its link no more: the retention erases it.
		if license == string(payments.LicenseRevoked) && round != 0 && !linked && !revokeEnqueued {
			add(RevokeUnreachable, "revoked after the order → entry link was erased: the entry stays valid on the ledger")
		}
		if flags&payments.FlagPaidPartial != 0 && state != payments.StateSettled {
			add(BTCPartial, "paid less than the amount, order "+string(state))
		}
		if flags&payments.FlagPaidOver != 0 {
			add(BTCOver, "paid more than the amount")
		}
		if flags&payments.FlagPaidLate != 0 && flags&payments.FlagMarked == 0 && state != payments.StateSettled {
			add(BTCLate, "paid after the invoice expired: settle it by hand if the payment is good")
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	edges, err := b.edgeExceptions(ctx, from, to)
	if err != nil {
		return nil, err
	}
	out = append(out, edges...)
	wf, err := b.webhookFailures(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return append(out, wf...), nil
}

// WebhookFailure is a webhook delivery the server refused or failed.
type WebhookFailure struct {
	Source string // the processor: "stripe"
	Status int    // the HTTP status answered
	Code   string // the error code answered
	// Reason is why a delivery was refused ("unsigned", "stale",
	// "method_not_allowed"…). Refusals of one source and reason are counted
	// in one row per hour.
	Reason string
	// Alone keeps the failure in a row of its own: a correctly signed event
	// that failed to apply, which only the operator can clear.
	Alone bool
	// Event, for a correctly signed event that does not decode
	// (payments.UnreadableEventKey), names the event: every delivery of it
	// (Stripe retries a 400 for days) counts in its one row.
	Event string
}

// RecordWebhookFailure notes a failed webhook delivery and returns how many
// of its kind its row now counts (1 for the first in the hour, and for a
// failure Alone). Refusals add one to the row of their source, reason and
// hour (an upsert, safe under any concurrency), so a flood of forged
// deliveries is one exception with its count. A failure naming its Event
// adds one to that event's row: Stripe's retries of one unreadable event are
// one exception with its count and the time of the last. Nothing of the
// delivery is kept but when, the status, the code, the reason, and the
// Event when given.
func (b *Books) RecordWebhookFailure(ctx context.Context, f WebhookFailure) (count int64, err error) {
	now := b.Now().UTC()
	if f.Event != "" {
		err = b.db.QueryRow(ctx, `insert into webhook_failures (at, last_at, source, status, code, reason, event_id, count)
			values ($1, $1, $2, $3, $4, $5, $6, 1)
			on conflict (source, event_id) where event_id is not null do update
				set count = webhook_failures.count + 1, last_at = greatest(webhook_failures.last_at, excluded.last_at),
					status = excluded.status, code = excluded.code, reason = excluded.reason
			returning count`, now, f.Source, f.Status, f.Code, f.Reason, f.Event).Scan(&count)
		if err != nil {
			return 0, fmt.Errorf("reconcile: couldn't record a webhook failure: %w", err)
		}
		return count, nil
	}
	var hour *time.Time
	if !f.Alone {
		h := now.Truncate(time.Hour)
		hour = &h
	}
	err = b.db.QueryRow(ctx, `insert into webhook_failures (at, last_at, source, status, code, reason, hour, count)
		values ($1, $1, $2, $3, $4, $5, $6, 1)
		on conflict (source, reason, hour) do update
			set count = webhook_failures.count + 1, last_at = greatest(webhook_failures.last_at, excluded.last_at)
		returning count`, now, f.Source, f.Status, f.Code, f.Reason, hour).Scan(&count)
	if err != nil {
		return 0, fmt.Errorf("reconcile: couldn't record a webhook failure: %w", err)
	}
	return count, nil
}

// webhookFailures are the webhook_failed exceptions of [from, to): one per
// row, with its count.
func (b *Books) webhookFailures(ctx context.Context, from, to time.Time) ([]Exception, error) {
	rows, err := b.db.Query(ctx, `select at, last_at, source, status, code, reason, hour is not null, count, coalesce(event_id, '')
		from webhook_failures where at >= $1 and at < $2 order by at, id`, from, to)
	if err != nil {
		return nil, fmt.Errorf("reconcile: couldn't read the webhook failures: %w", err)
	}
	defer rows.Close()
	var out []Exception
	for rows.Next() {
		var at, last time.Time
		var source, code, reason, event string
		var status int
		var counted bool
		var n int64
		if err := rows.Scan(&at, &last, &source, &status, &code, &reason, &counted, &n, &event); err != nil {
			return nil, err
		}
		why := ""
		if reason != "" && reason != code {
			why = " (" + reason + ")"
		}
		first := at.UTC().Format(time.RFC3339)
		var detail string
		ref := source
		switch {
		case event != "": // a verified event that does not decode, each delivery counted
			ref = event
			if n == 1 {
				detail = fmt.Sprintf("%s event %s refused once at %s: HTTP %d %s%s", source, event, first, status, code, why)
			} else {
				detail = fmt.Sprintf("%s event %s refused %s between %s and %s: HTTP %d %s%s", source, event, times(n),
					first, last.UTC().Format(time.RFC3339), status, code, why)
			}
		case !counted: // a verified event that failed to apply
			detail = fmt.Sprintf("%s webhook refused at %s: HTTP %d %s%s", source, first, status, code, why)
		case n == 1:
			detail = fmt.Sprintf("%s webhook refused once at %s: HTTP %d %s%s", source, first, status, code, why)
		default:
			detail = fmt.Sprintf("%s webhook refused %s between %s and %s: HTTP %d %s%s", source, times(n),
				first, last.UTC().Format(time.RFC3339), status, code, why)
		}
		out = append(out, Exception{Kind: WebhookFailed, Ref: ref, Detail: detail})
	}
	return out, rows.Err()
}

// times is "3,200 times".
func times(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s + " times"
}

// AuditEntry is one operator action.
type AuditEntry struct {
	At      time.Time
	Session string
	Action  string
	OrderID string
	Detail  string
}

// Audit returns the newest operator actions, at most limit.
func (b *Books) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := b.db.Query(ctx, `select at, session, action, coalesce(order_id, ''), detail from ops_audit order by id desc limit $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("reconcile: couldn't read the audit log: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditEntry, error) {
		var a AuditEntry
		err := row.Scan(&a.At, &a.Session, &a.Action, &a.OrderID, &a.Detail)
		return a, err
	})
}
