// Package reconcile is the operator's side of the books: it compares what
// the database says (orders and their payments), what the public ledger says
// (license and revoke entries, per sequencer round) and what the payment
// processors say (Stripe's balance transactions, btcd's confirmations), and
// lists every mismatch as an Exception.
//
// Use Books for lists, revenue and the exception queues the database alone
// can show; use a Reconciler for the full comparison (`licensed reconcile`
// and the dashboard's reconciliation page).
//
// Matching the ledger is exact while an order → entry link exists (the
// linked index must be a license entry, revoked on the ledger exactly when
// the order's license is revoked) and by sequencer round once the link is
// erased: every round's license entries must equal the orders whose
// mint_round is that round (Reconciler.Rounds). That is all the server keeps
// on purpose: after the retention, nothing ties a paid order to one entry.
//
// Matching Stripe is by PaymentIntent, over Stripe's balance transactions
// created in the period widened by Stripe.Slack on both sides, and for the
// period's own orders Stripe.PayWithin further (a Checkout Session can be
// paid for 24 h after its order). Every settled
// card order of the period needs a charge of the same amount; every charge
// needs an order, of the period or of any other (a charge in the hour before
// the period is usually for an order of the period before), and is compared
// with it. Every refund is checked against the order it refunds, whenever
// that was made, by the server's own rule for charge.refunded: a charge
// refunded in full revokes the license and marks the order refunded, a
// partial refund keeps the license and records nothing. "In full" is the
// refunded charge as Stripe has it now (its refunded flag), not the refund's
// own amount, so the last of several partial refunds is a full one. A
// partial refund of an order not marked refunded is expected and no
// exception; a full refund of an order not marked refunded is
// stripe_refund_unrecorded (the license is still valid), an order marked
// refunded whose charge Stripe refunded only in part is
// stripe_refunded_partly, and a refund of no order is stripe_unknown. Since
// a partial refund leaves no record, whether the server heard of one cannot
// be checked, only that the order does not contradict it. Whether a recorded
// refund's license was revoked is the database's refunded_but_valid,
// reported with the order's own period (and on the dashboard, whatever the
// period).
//
// Matching Bitcoin asks btcd, through its RPC, how many confirmations each
// recorded payment has.
package reconcile

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"
)

// Ledger is what reconciliation needs from the ledger's store.
type Ledger interface {
	// LicensesPerRound returns how many license entries each sequencer
	// round committed, for the rounds committed in [from, to).
	LicensesPerRound(ctx context.Context, from, to time.Time) (map[int64]int, error)
	// LicensesInRounds is the same for the given rounds, whenever they were
	// committed; a round the ledger does not have is left out.
	LicensesInRounds(ctx context.Context, rounds []int64) (map[int64]int, error)
	// EntryAt says whether the entry at index is a license entry and
	// whether a revoke entry targets it.
	EntryAt(ctx context.Context, index uint64) (isLicense, revoked bool, err error)
}

// Processor is a payment processor's own record, checked against the
// orders of the period.
type Processor interface {
	// Name is "stripe" or "btcd".
	Name() string
	// Check returns the mismatches between the processor's records of
	// [from, to) and rows (the orders created in [from, to)); records of
	// orders made in another period are matched with those orders.
	Check(ctx context.Context, rows []Row, from, to time.Time) ([]Exception, error)
}

// Reconciler compares the three sources.
type Reconciler struct {
	Books *Books
	// Ledger may be nil: the ledger is then not compared (and the report
	// says so).
	Ledger     Ledger
	Processors []Processor
}

// Report is the outcome of one reconciliation.
type Report struct {
	From, To   time.Time
	Orders     int      // orders of the period
	Rounds     int      // sequencer rounds of the period compared
	Sources    []string // what was compared: "database", "ledger", "stripe", "btcd"
	Exceptions []Exception
}

// Run reconciles the orders created and the rounds committed in [from, to).
func (r *Reconciler) Run(ctx context.Context, from, to time.Time) (*Report, error) {
	rep := &Report{From: from, To: to, Sources: []string{"database"}}
	rows, err := r.Books.Orders(ctx, Filter{From: from, To: to})
	if err != nil {
		return nil, err
	}
	rep.Orders = len(rows)
	q, err := r.Books.Queues(ctx, from, to)
	if err != nil {
		return nil, err
	}
	rep.Exceptions = append(rep.Exceptions, q...)
	if r.Ledger != nil {
		rep.Sources = append(rep.Sources, "ledger")
		ex, n, err := r.checkLedger(ctx, rows, from, to)
		if err != nil {
			return nil, err
		}
		rep.Rounds = n
		rep.Exceptions = append(rep.Exceptions, ex...)
	}
	for _, p := range r.Processors {
		rep.Sources = append(rep.Sources, p.Name())
		ex, err := p.Check(ctx, rows, from, to)
		if err != nil {
			return nil, fmt.Errorf("reconcile: %s: %w", p.Name(), err)
		}
		rep.Exceptions = append(rep.Exceptions, ex...)
	}
	sort.SliceStable(rep.Exceptions, func(i, j int) bool { return rep.Exceptions[i].Kind < rep.Exceptions[j].Kind })
	return rep, nil
}

func (r *Reconciler) checkLedger(ctx context.Context, rows []Row, from, to time.Time) ([]Exception, int, error) {
	var out []Exception
	// Exact, while the link exists.
	for _, o := range rows {
		if !o.Linked {
			continue
		}
		isLicense, revoked, err := r.Ledger.EntryAt(ctx, uint64(o.LedgerIndex))
		if err != nil {
			return nil, 0, fmt.Errorf("reconcile: couldn't read ledger entry %d: %w", o.LedgerIndex, err)
		}
		switch {
		case !isLicense:
			out = append(out, Exception{Kind: LinkNotLicense, OrderID: o.ID, Round: o.MintRound,
				Detail: fmt.Sprintf("linked ledger index %d is not a license entry", o.LedgerIndex)})
		case o.License == "revoked" && !revoked:
			out = append(out, Exception{Kind: RevokedNotOnLog, OrderID: o.ID, Round: o.MintRound,
				Detail: fmt.Sprintf("license revoked, but no revoke entry targets index %d yet", o.LedgerIndex)})
		case o.License != "revoked" && revoked:
			out = append(out, Exception{Kind: RevokedOnLogOnly, OrderID: o.ID, Round: o.MintRound,
				Detail: fmt.Sprintf("a revoke entry targets index %d, the order's license is %q", o.LedgerIndex, o.License)})
		}
	}
	// By round, always (it also covers the linked orders).
	bs, err := r.Rounds(ctx, from, to)
	if err != nil {
		return nil, 0, err
	}
	for _, b := range bs {
		if !b.Balanced() {
			out = append(out, Exception{Kind: RoundMismatch, Round: b.Round,
				Detail: fmt.Sprintf("round %d: %d license entries on the ledger, %d orders minted in it", b.Round, b.Licenses, b.Orders)})
		}
	}
	return out, len(bs), nil
}

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

// Rounds returns, in round order, the balance of every round committed in
// [from, to) and of every round an order created in [from, to) claims
// (committed outside the period, or not on the ledger at all); a zero to
// has no end. Revoke entries are not counted; a license entry appended by a
// tool (ledger.Append) rather than for an order shows as an unbalanced
// round. It needs the Ledger.
func (r *Reconciler) Rounds(ctx context.Context, from, to time.Time) ([]RoundBalance, error) {
	if r.Ledger == nil {
		return nil, errors.New("reconcile: no ledger to compare the rounds with")
	}
	if to.IsZero() {
		to = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	perRound, err := r.Ledger.LicensesPerRound(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("reconcile: couldn't count ledger entries per round: %w", err)
	}
	rounds := make([]int64, 0, len(perRound))
	for round := range perRound {
		rounds = append(rounds, round)
	}
	orders, err := r.Books.ordersPerRound(ctx, rounds, from, to)
	if err != nil {
		return nil, err
	}
	// Rounds that orders of the period claim but that were committed
	// outside it (an order made just before the end of the period and minted
	// just after), or that the ledger does not have at all.
	var claimed []int64
	for round := range orders {
		if _, ok := perRound[round]; !ok {
			claimed = append(claimed, round)
		}
	}
	if len(claimed) > 0 {
		more, err := r.Ledger.LicensesInRounds(ctx, claimed)
		if err != nil {
			return nil, fmt.Errorf("reconcile: couldn't count ledger entries per round: %w", err)
		}
		for _, round := range claimed {
			perRound[round] = more[round]
			rounds = append(rounds, round)
		}
	}
	sort.Slice(rounds, func(i, j int) bool { return rounds[i] < rounds[j] })
	out := make([]RoundBalance, 0, len(rounds))
	for _, round := range rounds {
		out = append(out, RoundBalance{Round: round, Orders: orders[round], Licenses: perRound[round]})
	}
	return out, nil
}

// ordersPerRound counts the orders minted in each of rounds, and in any
// other round an order created in [from, to) claims.
func (b *Books) ordersPerRound(ctx context.Context, rounds []int64, from, to time.Time) (map[int64]int, error) {
	out := map[int64]int{}
	rows, err := b.db.Query(ctx, `select mint_round, count(*) from orders where mint_round = any($1)
		or mint_round in (select mint_round from orders where created_at >= $2 and created_at < $3 and mint_round is not null)
		group by 1`, rounds, from, to)
	if err != nil {
		return nil, fmt.Errorf("reconcile: couldn't count orders per round: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r int64
		var n int
		if err := rows.Scan(&r, &n); err != nil {
			return nil, err
		}
		out[r] = n
	}
	return out, rows.Err()
}

// CSVHeader is the header row of WriteExceptionsCSV.
var CSVHeader = []string{"kind", "order_id", "round", "ref", "detail"}

// WriteExceptionsCSV writes exceptions as CSV with a header row.
func WriteExceptionsCSV(w io.Writer, ex []Exception) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, e := range ex {
		round := ""
		if e.Round != 0 {
			round = strconv.FormatInt(e.Round, 10)
		}
		cw.Write([]string{string(e.Kind), e.OrderID, round, csvSafe(e.Ref), csvSafe(e.Detail)})
	}
	cw.Flush()
	return cw.Error()
}

// OrdersCSVHeader is the header row of WriteOrdersCSV.
var OrdersCSVHeader = []string{"order_id", "created_at", "plan", "method", "amount", "currency", "state", "flags", "license", "mint_round", "ledger_index", "payment_ref", "refunded", "dispute", "settled_at",
	"btc_amount", "btc_received", "btc_rate"}

// WriteOrdersCSV writes orders as CSV with a header row. Times are RFC 3339
// UTC, amounts minor units; ledger_index is empty once the link is erased.
// A Bitcoin order also has its invoice: btc_amount and btc_received in BTC
// (8 decimals), btc_rate the price of one bitcoin in the order's currency
// (2 decimals) the amount was fixed at; empty for card orders.
func WriteOrdersCSV(w io.Writer, rows []Row) error {
	cw := csv.NewWriter(w)
	cw.Write(OrdersCSVHeader)
	for _, r := range rows {
		idx, round, settled := "", "", ""
		if r.Linked {
			idx = strconv.FormatInt(r.LedgerIndex, 10)
		}
		if r.MintRound != 0 {
			round = strconv.FormatInt(r.MintRound, 10)
		}
		if !r.SettledAt.IsZero() {
			settled = r.SettledAt.UTC().Format(time.RFC3339)
		}
		cw.Write([]string{r.ID, r.CreatedAt.UTC().Format(time.RFC3339), csvSafe(r.Plan), r.Method, strconv.FormatInt(r.Amount, 10),
			r.Currency, string(r.State), r.Flags.String(), string(r.License), round, idx, csvSafe(r.PaymentRef),
			strconv.FormatBool(r.Refunded), r.Dispute, settled, btcAmount(r.BTCSats, r.BTCRate), btcAmount(r.BTCReceivedSats, r.BTCRate), rate(r.BTCRate)})
	}
	cw.Flush()
	return cw.Error()
}

// btcAmount writes sats as BTC with 8 decimals, "" for a card order (no
// rate).
func btcAmount(sats, rate int64) string {
	if rate == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%08d", sats/1e8, sats%1e8)
}

// rate writes a price in minor units with 2 decimals, "" when unknown.
func rate(minor int64) string {
	if minor == 0 {
		return ""
	}
	return fmt.Sprintf("%d.%02d", minor/100, minor%100)
}

// csvSafe defuses spreadsheet formulas: a cell starting with = + - @ (or a
// tab or carriage return) gets a leading apostrophe (OWASP CSV injection).
func csvSafe(s string) string {
	if s != "" {
		switch s[0] {
		case '=', '+', '-', '@', '\t', '\r':
			return "'" + s
		}
	}
	return s
}
