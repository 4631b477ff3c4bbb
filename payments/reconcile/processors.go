package reconcile

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"

	"github.com/licensed/licensed/payments"
)

// Stripe compares card orders with Stripe's balance transactions of type
// "charge" (the money that actually arrived) and "refund", read through the
// API.
type Stripe struct {
	api *client.API
	// Books are the orders Stripe's charges and refunds are matched with:
	// a charge or refund of the period may be for an order made in another
	// period (Slack, refunds months later). Check needs it.
	Books *Books
	// Slack widens the period on both sides: a charge is created a little
	// before or after its order (default 1 h).
	Slack time.Duration
	// PayWithin is how long after it is made an order may still be paid: a
	// Checkout Session can be paid for 24 h (the default). The charges of
	// that extra time are read only for the orders of the period, so an
	// order made late in the period and paid the next morning is not
	// reported missing at Stripe.
	PayWithin time.Duration
}

// NewStripe returns the Stripe processor using secretKey; apiURL, when not
// empty, replaces api.stripe.com (stripe-mock in tests). Set its Books.
func NewStripe(secretKey, apiURL string, hc *http.Client) *Stripe {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	bc := &stripe.BackendConfig{HTTPClient: hc, LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}, MaxNetworkRetries: stripe.Int64(2)}
	if apiURL != "" {
		bc.URL = stripe.String(apiURL)
	}
	api := &client.API{}
	api.Init(secretKey, &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, bc),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, bc),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, bc),
	})
	return &Stripe{api: api, Slack: time.Hour, PayWithin: 24 * time.Hour}
}

// Name implements Processor.
func (*Stripe) Name() string { return "stripe" }

// Check implements Processor. The charges and refunds created in the period
// widened by Slack are matched with the orders of rows and, for the
// PaymentIntents rows do not hold, with the orders of any period that do
// (Books.ByPaymentRef): where the period boundary falls decides which
// report a charge shows in, never whether its order is known.
func (s *Stripe) Check(ctx context.Context, rows []Row, from, to time.Time) ([]Exception, error) {
	if s.Books == nil {
		return nil, errors.New("reconcile: the Stripe processor has no Books")
	}
	lo, hi := from.Add(-s.Slack), to.Add(s.Slack)
	all, err := s.list(ctx, stripe.BalanceTransactionTypeCharge, lo, hi.Add(s.PayWithin))
	if err != nil {
		return nil, err
	}
	inRows := map[string]bool{}
	for _, o := range rows {
		if o.PaymentRef != "" {
			inRows[o.PaymentRef] = true
		}
	}
	// A charge after the widened period counts only for an order of the
	// period; anything else about it is for its own period's report.
	var charges []Charge
	for _, c := range all {
		if c.Created.Before(hi) || inRows[c.PaymentIntent] {
			charges = append(charges, c)
		}
	}
	var others []string
	for _, c := range charges {
		if c.PaymentIntent != "" && !inRows[c.PaymentIntent] {
			others = append(others, c.PaymentIntent)
		}
	}
	// Orders of other periods are found only by a charge of this one, so
	// they cannot be missing at Stripe here; their amounts are compared.
	more, err := s.Books.ByPaymentRef(ctx, others)
	if err != nil {
		return nil, err
	}
	out := MatchCharges(append(rows[:len(rows):len(rows)], more...), charges)
	refunds, err := s.list(ctx, stripe.BalanceTransactionTypeRefund, lo, hi)
	if err != nil {
		return nil, err
	}
	var intents []string
	for _, r := range refunds {
		if r.PaymentIntent != "" {
			intents = append(intents, r.PaymentIntent)
		}
	}
	refunded, err := s.Books.ByPaymentRef(ctx, intents)
	if err != nil {
		return nil, err
	}
	return append(out, MatchRefunds(refunded, refunds)...), nil
}

// list reads the balance transactions of type typ created in [lo, hi).
func (s *Stripe) list(ctx context.Context, typ stripe.BalanceTransactionType, lo, hi time.Time) ([]Charge, error) {
	params := &stripe.BalanceTransactionListParams{
		CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: lo.Unix(), LesserThan: hi.Unix()},
		Type:         stripe.String(string(typ)),
	}
	params.Context = ctx
	if typ == stripe.BalanceTransactionTypeRefund {
		// The refunded charge as it is now: how much of it is refunded.
		params.AddExpand("data.source.charge")
	} else {
		params.AddExpand("data.source")
	}
	params.Limit = stripe.Int64(100)
	var out []Charge
	it := s.api.BalanceTransactions.List(params)
	for it.Next() {
		bt := it.BalanceTransaction()
		created := time.Unix(bt.Created, 0)
		if bt.Type != typ || created.Before(lo) || !created.Before(hi) {
			// Stripe filters by type and time; anything else is not read.
			continue
		}
		c := Charge{ID: bt.ID, Amount: bt.Amount, Currency: string(bt.Currency), Created: created}
		if src := bt.Source; src != nil {
			switch {
			case src.Charge != nil && src.Charge.PaymentIntent != nil:
				c.PaymentIntent = src.Charge.PaymentIntent.ID
			case src.Refund != nil:
				if src.Refund.PaymentIntent != nil {
					c.PaymentIntent = src.Refund.PaymentIntent.ID
				}
				if ch := src.Refund.Charge; ch != nil && ch.Amount > 0 {
					c.ChargeAmount, c.ChargeRefunded, c.FullyRefunded = ch.Amount, ch.AmountRefunded, ch.Refunded
				}
			}
		}
		out = append(out, c)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("couldn't list %s balance transactions: %w", typ, err)
	}
	return out, nil
}

// MatchRefunds checks Stripe's refunds of the period against the orders
// they refund (found by PaymentIntent, whenever they were made). The rule is
// the server's own for a charge.refunded event: a charge refunded in full
// revokes the license (the order is marked refunded), a partial refund keeps
// it (nothing is recorded). So, per refund:
//
//   - no order has its PaymentIntent: StripeUnknown;
//   - its charge is refunded in full and the order is not marked refunded:
//     StripeRefundUnrecorded, the server never applied it and the license
//     is still valid;
//   - its charge is refunded only in part and the order is marked refunded
//     (license revoked): StripeRefundedPartly, e.g. a refund that failed
//     after the server had revoked;
//   - otherwise the order agrees with Stripe: a partial refund of an order
//     not marked refunded is what the design expects, and a full refund of
//     an order marked refunded is fine here (whether its license was then
//     revoked is the database's RefundedValid).
//
// A refund whose charge Stripe did not send (ChargeAmount 0) counts as a
// full refund: it is then reported rather than passed over.
func MatchRefunds(orders []Row, refunds []Charge) []Exception {
	byIntent := map[string]Row{}
	for _, o := range orders {
		byIntent[o.PaymentRef] = o
	}
	var out []Exception
	for _, r := range refunds {
		o, ok := byIntent[r.PaymentIntent]
		full := r.FullyRefunded || r.ChargeAmount == 0
		switch {
		case r.PaymentIntent == "" || !ok:
			out = append(out, Exception{Kind: StripeUnknown, Ref: r.ID,
				Detail: fmt.Sprintf("refund of %d %s that no order accounts for", -r.Amount, r.Currency)})
		case full && !o.Refunded:
			out = append(out, Exception{Kind: StripeRefundUnrecorded, OrderID: o.ID, Ref: r.ID,
				Detail: fmt.Sprintf("Stripe refunded the whole charge, the order is not marked refunded (license %s)", licenseText(o.License))})
		case !full && o.Refunded:
			out = append(out, Exception{Kind: StripeRefundedPartly, OrderID: o.ID, Ref: r.ID,
				Detail: fmt.Sprintf("the order is marked refunded (license %s), Stripe refunded %d of the charge's %d", licenseText(o.License), r.ChargeRefunded, r.ChargeAmount)})
		}
	}
	return out
}

func licenseText(l payments.LicenseState) string {
	if l == "" {
		return "none"
	}
	return string(l)
}

// Charge is a Stripe balance transaction of type charge or refund.
type Charge struct {
	ID            string // the balance transaction, txn_…
	PaymentIntent string // "" when the source is not a charge or refund of a PaymentIntent
	Amount        int64  // negative for a refund
	Currency      string
	Created       time.Time
	// Of a refund, the charge it refunds as Stripe has it now (when Stripe
	// sent it, ChargeAmount > 0): its amount, how much of it is refunded by
	// this and any other refund, and whether that is all of it (Stripe's
	// charge.refunded, which the server's charge.refunded handling reads).
	ChargeAmount   int64
	ChargeRefunded int64
	FullyRefunded  bool
}

// MatchCharges pairs the card orders of rows with charges by PaymentIntent:
// a settled order needs a charge of its amount (when the currencies agree;
// Stripe converts otherwise), and every charge needs an order of rows.
func MatchCharges(rows []Row, charges []Charge) []Exception {
	var out []Exception
	byIntent := map[string]Charge{}
	for _, c := range charges {
		if c.PaymentIntent == "" {
			out = append(out, Exception{Kind: StripeUnknown, Ref: c.ID,
				Detail: fmt.Sprintf("charge of %d %s with no PaymentIntent", c.Amount, c.Currency)})
			continue
		}
		byIntent[c.PaymentIntent] = c
	}
	known := map[string]bool{}
	for _, o := range rows {
		if o.Method != payments.MethodCard || o.PaymentRef == "" {
			continue
		}
		known[o.PaymentRef] = true
		if o.State != payments.StateSettled {
			continue
		}
		c, ok := byIntent[o.PaymentRef]
		switch {
		case !ok:
			out = append(out, Exception{Kind: StripeMissing, OrderID: o.ID, Ref: o.PaymentRef,
				Detail: "settled card order with no Stripe charge in the period"})
		case c.Currency == o.Currency && c.Amount != o.Amount:
			out = append(out, Exception{Kind: StripeAmount, OrderID: o.ID, Ref: c.ID,
				Detail: fmt.Sprintf("order %d %s, Stripe charged %d %s", o.Amount, o.Currency, c.Amount, c.Currency)})
		}
	}
	for _, c := range charges {
		if c.PaymentIntent != "" && !known[c.PaymentIntent] {
			out = append(out, Exception{Kind: StripeUnknown, Ref: c.ID,
				Detail: fmt.Sprintf("charge of %d %s for PaymentIntent %s, no order has it", c.Amount, c.Currency, c.PaymentIntent)})
		}
	}
	return out
}

// Payment is a Bitcoin payment the database recorded for an order.
type Payment struct {
	OrderID string
	TxID    string
}

// Chain compares recorded Bitcoin payments with btcd: each must be in a
// block with at least MinConf confirmations (btcd runs with --txindex).
type Chain struct {
	RPC *rpcclient.Client
	// MinConf is the confirmations a settled payment needs (default 1).
	MinConf int64
	// Payments lists the recorded payments of the orders created in
	// [from, to) (the Bitcoin method's store).
	Payments func(ctx context.Context, from, to time.Time) ([]Payment, error)
}

// Name implements Processor.
func (*Chain) Name() string { return "btcd" }

// Check implements Processor.
func (c *Chain) Check(ctx context.Context, rows []Row, from, to time.Time) ([]Exception, error) {
	pays, err := c.Payments(ctx, from, to)
	if err != nil {
		return nil, err
	}
	settled := map[string]bool{}
	for _, o := range rows {
		settled[o.ID] = o.State == payments.StateSettled
	}
	minConf := max(c.MinConf, 1)
	var out []Exception
	for _, p := range pays {
		if !settled[p.OrderID] {
			continue
		}
		h, err := chainhash.NewHashFromStr(p.TxID)
		if err != nil {
			out = append(out, Exception{Kind: BTCUnconfirmed, OrderID: p.OrderID, Ref: p.TxID, Detail: "recorded txid is malformed"})
			continue
		}
		tx, err := c.RPC.GetRawTransactionVerbose(h)
		if err != nil {
			if jerr, ok := err.(*btcjson.RPCError); ok && jerr.Code == btcjson.ErrRPCNoTxInfo {
				out = append(out, Exception{Kind: BTCUnconfirmed, OrderID: p.OrderID, Ref: p.TxID, Detail: "btcd does not know this transaction"})
				continue
			}
			return nil, fmt.Errorf("couldn't ask btcd about %s: %w", p.TxID, err)
		}
		if int64(tx.Confirmations) < minConf {
			out = append(out, Exception{Kind: BTCUnconfirmed, OrderID: p.OrderID, Ref: p.TxID,
				Detail: fmt.Sprintf("%d confirmations, %d needed", tx.Confirmations, minConf)})
		}
	}
	return out, nil
}
