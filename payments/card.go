package payments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
	"github.com/stripe/stripe-go/v76/webhook"
)

// CardConfig configures the card method.
type CardConfig struct {
	// SecretKey is the Stripe secret key (sk_test_… or sk_live_…). Secret.
	SecretKey string
	// WebhookSecret is the signing secret of the webhook endpoint (whsec_…).
	// Secret.
	WebhookSecret string
	// APIURL, when set, sends Stripe API calls there instead of
	// api.stripe.com (stripe-mock in dev and tests).
	APIURL string
	// SuccessURL and CancelURL are where Checkout sends the customer back;
	// "{ORDER_ID}" is replaced by the order id.
	SuccessURL, CancelURL string
	// CheckoutURL, when set, replaces the checkout URL returned to the
	// customer; "{ORDER_ID}" is replaced by the order id. `licensed dev`
	// with stripe-mock points it at the dev checkout page, since
	// stripe-mock's URLs lead nowhere.
	CheckoutURL string
	// HTTPClient for the Stripe API (default: 30 s timeout).
	HTTPClient *http.Client
	Log        *slog.Logger
}

// Card takes card payments through Stripe Checkout. It is a Method, and it
// verifies and decodes Stripe's webhook events (see Service.HandleStripe).
type Card struct {
	cfg  CardConfig
	api  *client.API
	live bool // the key's mode: only events of the same mode are applied
}

// MaxWebhookBody bounds the size of a Stripe webhook body. Stripe's events of
// the types handled here are a few kilobytes.
const MaxWebhookBody = 256 << 10

// WebhookTolerance is how old a webhook signature's timestamp may be.
const WebhookTolerance = 300 * time.Second

// NewCard returns the card method of cfg.
func NewCard(cfg CardConfig) (*Card, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("payments: no Stripe secret key")
	}
	if cfg.WebhookSecret == "" {
		return nil, errors.New("payments: no Stripe webhook signing secret")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	bc := &stripe.BackendConfig{
		HTTPClient:        cfg.HTTPClient,
		LeveledLogger:     stripeLogger{},
		MaxNetworkRetries: stripe.Int64(2),
	}
	if cfg.APIURL != "" {
		bc.URL = stripe.String(cfg.APIURL)
	}
	backends := &stripe.Backends{
		API:     stripe.GetBackendWithConfig(stripe.APIBackend, bc),
		Connect: stripe.GetBackendWithConfig(stripe.ConnectBackend, bc),
		Uploads: stripe.GetBackendWithConfig(stripe.UploadsBackend, bc),
	}
	live := strings.HasPrefix(cfg.SecretKey, "sk_live_") || strings.HasPrefix(cfg.SecretKey, "rk_live_")
	return &Card{cfg: cfg, api: client.New(cfg.SecretKey, backends), live: live}, nil
}

// Name returns "card".
func (c *Card) Name() string { return MethodCard }

// Prepare creates the order's Stripe Checkout Session, before the order is
// stored and outside any database transaction (see Method), with the
// idempotency key "licensed-order-<order id>" so that stripe-go's retries of
// the call cannot make a second session. Stripe learns the order id, the plan
// and the amount; never the license address. When Stripe fails it returns
// the card_unavailable error (HTTP 503) and CreateOrder stores nothing.
//
// The returned begin stores the session id with the order, in the order's
// transaction, and returns {"checkout_url": …}. If that transaction fails,
// the session stays at Stripe unused: its URL was never given out, it
// expires after 24 hours, and its expiry event names an order this server
// does not know, which HandleStripe acknowledges and ignores.
func (c *Card) Prepare(ctx context.Context, o *Order, p Plan) (BeginFunc, error) {
	params := &stripe.CheckoutSessionParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModePayment)),
		ClientReferenceID: stripe.String(o.ID),
		SuccessURL:        stripe.String(expand(c.cfg.SuccessURL, o.ID)),
		CancelURL:         stripe.String(expand(c.cfg.CancelURL, o.ID)),
		CustomerCreation:  stripe.String("if_required"),
		LineItems: []*stripe.CheckoutSessionLineItemParams{{
			Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionLineItemPriceDataParams{
				Currency:    stripe.String(p.Currency),
				UnitAmount:  stripe.Int64(p.Price),
				ProductData: &stripe.CheckoutSessionLineItemPriceDataProductDataParams{Name: stripe.String(p.Name)},
			},
		}},
	}
	params.Context = ctx
	params.AddMetadata("order_id", o.ID)
	params.SetIdempotencyKey("licensed-order-" + o.ID)
	sess, err := c.api.CheckoutSessions.New(params)
	if err != nil {
		c.cfg.Log.Warn("couldn't create a Stripe Checkout Session", "order_id", o.ID, "err", stripeErrSummary(err))
		return nil, &Error{"card_unavailable", "Card payments are unavailable right now: try again in a minute, or pay with another method."}
	}
	o.StripeSession = sess.ID
	u := sess.URL
	if c.cfg.CheckoutURL != "" {
		u = expand(c.cfg.CheckoutURL, o.ID)
	}
	return func(ctx context.Context, tx pgx.Tx) (map[string]any, error) {
		if _, err := tx.Exec(ctx, `update orders set stripe_session = $2 where id = $1`, o.ID, sess.ID); err != nil {
			return nil, fmt.Errorf("payments: couldn't store the Checkout Session of order %s: %w", o.ID, err)
		}
		return map[string]any{"checkout_url": u}, nil
	}, nil
}

// ResumeURL returns where the customer of card order o, still unpaid, can
// finish paying: its Checkout Session's page while Stripe keeps it open
// (asked of Stripe, idempotent), or the configured CheckoutURL (dev). ""
// means there is nothing to resume (the session completed or expired).
func (c *Card) ResumeURL(ctx context.Context, o *Order) (string, error) {
	if o.StripeSession == "" {
		return "", nil
	}
	if c.cfg.CheckoutURL != "" {
		return expand(c.cfg.CheckoutURL, o.ID), nil
	}
	params := &stripe.CheckoutSessionParams{}
	params.Context = ctx
	sess, err := c.api.CheckoutSessions.Get(o.StripeSession, params)
	if err != nil {
		c.cfg.Log.Warn("couldn't read a Stripe Checkout Session", "order_id", o.ID, "err", stripeErrSummary(err))
		return "", &Error{"card_unavailable", "The card payment page cannot be reached right now: try again in a minute."}
	}
	if sess.Status != stripe.CheckoutSessionStatusOpen {
		return "", nil
	}
	return sess.URL, nil
}

// ResumeURL is Card.ResumeURL for order o when it is an unpaid card order,
// else "".
func (s *Service) ResumeURL(ctx context.Context, o *Order) (string, error) {
	c, ok := s.methods[MethodCard].(*Card)
	if !ok || o.Method != MethodCard || o.State != StateNew {
		return "", nil
	}
	return c.ResumeURL(ctx, o)
}

func expand(tmpl, orderID string) string {
	out := []byte{}
	for i := 0; i < len(tmpl); {
		if len(tmpl)-i >= len("{ORDER_ID}") && tmpl[i:i+len("{ORDER_ID}")] == "{ORDER_ID}" {
			out = append(out, orderID...)
			i += len("{ORDER_ID}")
			continue
		}
		out = append(out, tmpl[i])
		i++
	}
	return string(out)
}

// stripeErrSummary keeps the type and code of a Stripe error, not its
// message, which may echo request parameters.
func stripeErrSummary(err error) string {
	var se *stripe.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("stripe %s/%s (HTTP %d)", se.Type, se.Code, se.HTTPStatusCode)
	}
	return err.Error()
}

// VerifyWebhook checks a webhook body's Stripe-Signature header (HMAC with
// the endpoint's secret, timestamp at most WebhookTolerance old) and that the
// event was rendered with the API version stripe-go v76 reads (2023-10-16),
// and decodes it.
func (c *Card) VerifyWebhook(payload []byte, sigHeader string) (stripe.Event, error) {
	return verifyWebhook(payload, sigHeader, c.cfg.WebhookSecret)
}

func verifyWebhook(payload []byte, sigHeader, secret string) (stripe.Event, error) {
	if len(payload) > MaxWebhookBody {
		return stripe.Event{}, ErrWebhookTooLarge
	}
	ev, err := webhook.ConstructEventWithOptions(payload, sigHeader, secret, webhook.ConstructEventOptions{
		Tolerance: WebhookTolerance, IgnoreAPIVersionMismatch: true,
	})
	if err != nil {
		switch {
		case errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader),
			errors.Is(err, webhook.ErrNoValidSignature), errors.Is(err, webhook.ErrTooOld):
			return ev, ErrWebhookSignature
		}
		// Signed (the signature is checked first), but not an event.
		return ev, unreadable(ev.ID, payload)
	}
	if ev.APIVersion != stripe.APIVersion {
		return ev, ErrWebhookAPIVersion
	}
	if ev.ID == "" || ev.Type == "" || ev.Data == nil || len(ev.Data.Raw) == 0 {
		return ev, unreadable(ev.ID, payload)
	}
	return ev, nil
}

// ReadWebhookBody reads at most MaxWebhookBody bytes of r; a longer body is
// ErrWebhookTooLarge.
func ReadWebhookBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxWebhookBody+1))
	if err != nil {
		return nil, ErrWebhookMalformed
	}
	if len(b) > MaxWebhookBody {
		return nil, ErrWebhookTooLarge
	}
	return b, nil
}

// HandleStripe verifies a Stripe webhook delivery and applies it. The event
// id is recorded in the same transaction as the change it causes, so a
// redelivered event changes nothing; states only move forward (Transition),
// so reordered events are safe.
//
// An event changes an order only when it is that order's own payment: a
// checkout.session.* event must be about the order's stored Checkout
// Session, for a card order, with amount_total and currency equal to the
// order's price, and in the key's mode (test or live); a charge or dispute
// must carry the PaymentIntent that such a session paid (or be kept until
// one does, see rememberUnmatched). Anything else changes nothing, is
// acknowledged (so Stripe stops retrying) and recorded as one exception in
// stripe_mismatches. Events of other types, and expiries or failures of
// sessions naming no order of ours, are acknowledged and ignored.
//
// Events of one payment are serialised: every event that carries a
// PaymentIntent takes a transaction-scoped advisory lock on it before it
// reads anything, so a refund or dispute delivered at the same moment as its
// checkout either sees the checkout's PaymentIntent on the order or is kept
// where the checkout, running after it, finds it. Any interleaving ends as
// serial delivery does.
func (s *Service) HandleStripe(ctx context.Context, payload []byte, sigHeader string) error {
	c, ok := s.methods[MethodCard].(*Card)
	if !ok {
		return ErrMethodUnavailable
	}
	ev, err := c.VerifyWebhook(payload, sigHeader)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `insert into stripe_events (id, type) values ($1, $2) on conflict (id) do nothing`, ev.ID, string(ev.Type))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			s.log.Debug("stripe event already handled", "event_id", ev.ID)
			return nil
		}
		if ev.Livemode != c.live {
			return s.mismatch(ctx, tx, ev, "", "", fmt.Sprintf("a %s-mode event, but the server's key is in %s mode", mode(ev.Livemode), mode(c.live)))
		}
		return s.applyStripe(ctx, tx, ev)
	})
}

func mode(live bool) string {
	if live {
		return "live"
	}
	return "test"
}

// lockPayment takes the transaction-scoped advisory lock of PaymentIntent pi
// (in the two-key space, class 'STPI', apart from the sequencer's one-key
// lock). Every event of one payment takes it before reading the order or
// stripe_unmatched_charges, and under READ COMMITTED each later statement
// sees what the previous holder committed.
func lockPayment(ctx context.Context, tx pgx.Tx, pi string) error {
	if pi == "" {
		return nil
	}
	_, err := tx.Exec(ctx, `select pg_advisory_xact_lock($1, hashtext($2))`, lockClassPayment, pi)
	return err
}

// lockClassPayment is the first key of the PaymentIntent advisory locks.
const lockClassPayment = 0x53545049 // "STPI"

// mismatch records a Stripe event that changes nothing as one exception.
func (s *Service) mismatch(ctx context.Context, tx pgx.Tx, ev stripe.Event, orderID, stripeID, reason string) error {
	s.log.Warn("stripe event is not an order's own payment: nothing changed (reconciliation exception)",
		"event_id", ev.ID, "type", ev.Type, "order_id", orderID, "reason", reason)
	_, err := tx.Exec(ctx, `insert into stripe_mismatches (event_id, type, order_id, stripe_id, reason)
		values ($1, $2, nullif($3, ''), $4, $5) on conflict (event_id) do nothing`,
		ev.ID, string(ev.Type), orderID, stripeID, reason)
	return err
}

// checkoutMismatch says why session sess is not order o's own payment, or
// returns "".
func checkoutMismatch(o *Order, sess *stripe.CheckoutSession) string {
	switch {
	case o.Method != MethodCard:
		return fmt.Sprintf("a Checkout Session for a %s order", o.Method)
	case o.StripeSession == "" || sess.ID != o.StripeSession:
		return fmt.Sprintf("Checkout Session %s is not the order's (%s)", sess.ID, o.StripeSession)
	case sess.AmountTotal != o.Amount || !strings.EqualFold(string(sess.Currency), o.Currency):
		return fmt.Sprintf("paid %d %s, but the order is priced %d %s", sess.AmountTotal, strings.ToLower(string(sess.Currency)), o.Amount, o.Currency)
	}
	return ""
}

func (s *Service) applyStripe(ctx context.Context, tx pgx.Tx, ev stripe.Event) error {
	switch ev.Type {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded",
		"checkout.session.async_payment_failed", "checkout.session.expired":
		var sess stripe.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &sess); err != nil {
			return unreadable(ev.ID, nil)
		}
		paying := ev.Type == "checkout.session.completed" || ev.Type == "checkout.session.async_payment_succeeded"
		id := sess.ClientReferenceID
		if id == "" {
			id = sess.Metadata["order_id"]
		}
		pi := ""
		if sess.PaymentIntent != nil {
			pi = sess.PaymentIntent.ID
		}
		if err := lockPayment(ctx, tx, pi); err != nil {
			return err
		}
		o, err := getOrder(ctx, tx, id, true)
		if errors.Is(err, ErrOrderNotFound) {
			if paying {
				// Money taken for no order of ours: the operator must see it.
				return s.mismatch(ctx, tx, ev, "", sess.ID, "a paid Checkout Session that names no order of this server")
			}
			s.log.Info("stripe event for no order of ours ignored", "event_id", ev.ID, "type", ev.Type)
			return nil
		} else if err != nil {
			return err
		}
		if why := checkoutMismatch(o, &sess); why != "" {
			return s.mismatch(ctx, tx, ev, o.ID, sess.ID, why)
		}
		if pi != "" {
			tag, err := tx.Exec(ctx, `update orders set stripe_payment_intent = $2 where id = $1 and stripe_payment_intent is null`,
				id, pi)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 1 {
				if err := s.applyUnmatched(ctx, tx, id, pi); err != nil {
					return err
				}
			}
		}
		to := StateSettled
		switch ev.Type {
		case "checkout.session.completed":
			if sess.PaymentStatus == stripe.CheckoutSessionPaymentStatusUnpaid {
				to = StateProcessing
			}
		case "checkout.session.async_payment_failed":
			to = StateInvalid
		case "checkout.session.expired":
			to = StateExpired
		}
		// Card payments only move forward: a late "completed, unpaid" after
		// the payment succeeded must not take the order back to processing
		// (that edge of the machine is for Bitcoin reorgs).
		o, err = getOrder(ctx, tx, id, true)
		if err != nil {
			return err
		}
		if stripeRank[to] <= stripeRank[o.State] {
			s.log.Debug("stale stripe event ignored", "event_id", ev.ID, "order_id", id, "state", o.State, "to", to)
			return nil
		}
		if to == StateInvalid && o.State == StateNew {
			// An async payment fails only after its checkout completed: the
			// completion is still on its way. Pass through processing, so
			// the order ends invalid and the late completion is stale.
			if _, err := s.Transition(ctx, tx, id, StateProcessing, 0, "stripe "+string(ev.Type)); err != nil {
				return err
			}
		}
		_, err = s.Transition(ctx, tx, id, to, 0, "stripe "+string(ev.Type))
		return err
	case "charge.refunded":
		var ch stripe.Charge
		if err := json.Unmarshal(ev.Data.Raw, &ch); err != nil {
			return unreadable(ev.ID, nil)
		}
		pi := ""
		if ch.PaymentIntent != nil {
			pi = ch.PaymentIntent.ID
		}
		if err := lockPayment(ctx, tx, pi); err != nil {
			return err
		}
		o, err := s.orderByPaymentIntent(ctx, tx, pi)
		if err != nil {
			return err
		}
		if o == nil {
			if ch.Refunded && pi != "" {
				return rememberUnmatched(ctx, tx, pi, true, "")
			}
			return nil
		}
		if !ch.Refunded {
			// A partial refund keeps the license: the customer still paid
			// for part of it. Operators see it in Stripe.
			s.log.Info("partial refund: license kept", "order_id", o.ID)
			return nil
		}
		if _, err := tx.Exec(ctx, `update orders set refunded = true, updated_at = now() where id = $1`, o.ID); err != nil {
			return err
		}
		return s.revoke(ctx, tx, o, "refund")
	case "charge.dispute.created", "charge.dispute.closed", "charge.dispute.updated":
		var d stripe.Dispute
		if err := json.Unmarshal(ev.Data.Raw, &d); err != nil {
			return unreadable(ev.ID, nil)
		}
		pi := ""
		if d.PaymentIntent != nil {
			pi = d.PaymentIntent.ID
		}
		if err := lockPayment(ctx, tx, pi); err != nil {
			return err
		}
		o, err := s.orderByPaymentIntent(ctx, tx, pi)
		if err != nil {
			return err
		}
		if o == nil {
			if pi == "" {
				return nil
			}
			switch {
			case d.Status == stripe.DisputeStatusLost:
				return rememberUnmatched(ctx, tx, pi, false, "lost")
			case d.Status == stripe.DisputeStatusWon || d.Status == stripe.DisputeStatusWarningClosed:
				return rememberUnmatched(ctx, tx, pi, false, "won")
			case ev.Type == "charge.dispute.created":
				return rememberUnmatched(ctx, tx, pi, false, "open")
			}
			return nil
		}
		return s.applyDispute(ctx, tx, o, ev.Type, d.Status)
	}
	return nil
}

// rememberUnmatched keeps what a charge event decided for a PaymentIntent no
// order holds yet (see migration stripe_unmatched_charges). Like an order's,
// the dispute only moves forward: open → won or lost, and lost is final.
func rememberUnmatched(ctx context.Context, tx pgx.Tx, pi string, refunded bool, dispute string) error {
	_, err := tx.Exec(ctx, `insert into stripe_unmatched_charges (payment_intent, refunded, dispute)
		values ($1, $2, nullif($3, ''))
		on conflict (payment_intent) do update set
			refunded = stripe_unmatched_charges.refunded or excluded.refunded,
			dispute = case
				when excluded.dispute is null or stripe_unmatched_charges.dispute = 'lost' then stripe_unmatched_charges.dispute
				when excluded.dispute = 'open' and stripe_unmatched_charges.dispute is not null then stripe_unmatched_charges.dispute
				else excluded.dispute end`, pi, refunded, dispute)
	return err
}

// applyUnmatched gives order id what earlier charge events decided for its
// PaymentIntent, now that the order is known to hold it. Before the license
// exists this only marks the order (mint then starts the license revoked or
// suspended); after, it revokes or suspends as the events would have.
func (s *Service) applyUnmatched(ctx context.Context, tx pgx.Tx, id, pi string) error {
	var refunded bool
	var dispute string
	err := tx.QueryRow(ctx, `delete from stripe_unmatched_charges where payment_intent = $1
		returning refunded, coalesce(dispute, '')`, pi).Scan(&refunded, &dispute)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `update orders set refunded = refunded or $2, dispute = coalesce(nullif($3, ''), dispute),
		updated_at = now() where id = $1`, id, refunded, dispute); err != nil {
		return err
	}
	o, err := getOrder(ctx, tx, id, true)
	if err != nil {
		return err
	}
	switch {
	case refunded:
		return s.revoke(ctx, tx, o, "refund")
	case dispute == "lost":
		return s.revoke(ctx, tx, o, "dispute_lost")
	case dispute == "open":
		return s.suspend(ctx, tx, o, "dispute")
	}
	return nil
}

// stripeRank orders the states for card events: an event never takes an
// order to a lower or equal rank.
var stripeRank = map[State]int{StateNew: 0, StateProcessing: 1, StateSettled: 2, StateExpired: 2, StateInvalid: 2}

func (s *Service) applyDispute(ctx context.Context, tx pgx.Tx, o *Order, typ stripe.EventType, status stripe.DisputeStatus) error {
	switch {
	case status == stripe.DisputeStatusLost:
		if _, err := tx.Exec(ctx, `update orders set dispute = 'lost', updated_at = now() where id = $1`, o.ID); err != nil {
			return err
		}
		return s.revoke(ctx, tx, o, "dispute_lost")
	case status == stripe.DisputeStatusWon || status == stripe.DisputeStatusWarningClosed:
		if o.Dispute == "lost" {
			return nil
		}
		if _, err := tx.Exec(ctx, `update orders set dispute = 'won', updated_at = now() where id = $1`, o.ID); err != nil {
			return err
		}
		return s.unsuspendIf(ctx, tx, o, "dispute")
	case typ == "charge.dispute.created":
		if o.Dispute != "" {
			return nil // a reordered or repeated opening after the outcome
		}
		if _, err := tx.Exec(ctx, `update orders set dispute = 'open', updated_at = now() where id = $1`, o.ID); err != nil {
			return err
		}
		return s.suspend(ctx, tx, o, "dispute")
	}
	return nil
}

func (s *Service) orderByPaymentIntent(ctx context.Context, tx pgx.Tx, pi string) (*Order, error) {
	if pi == "" {
		return nil, nil
	}
	var id string
	err := tx.QueryRow(ctx, `select id from orders where stripe_payment_intent = $1 and method = 'card' limit 1`, pi).Scan(&id)
	if err == pgx.ErrNoRows {
		s.log.Info("stripe charge event for no order of ours (yet)")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return getOrder(ctx, tx, id, true)
}

// stripeLogger silences stripe-go's own log lines: they quote Stripe's
// answers, which can echo request parameters and credentials. Card logs a
// summary of every failed call itself (type, code, HTTP status).
type stripeLogger struct{}

func (stripeLogger) Debugf(format string, v ...any) {}
func (stripeLogger) Infof(format string, v ...any)  {}
func (stripeLogger) Warnf(format string, v ...any)  {}
func (stripeLogger) Errorf(format string, v ...any) {}
