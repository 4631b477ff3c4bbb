package payments

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stripe/stripe-go/v76"
)

// ErrDatabaseUnavailable is what CreateOrder returns when the database does
// not answer: nothing was asked of any payment processor, and the client
// may try again in a few seconds (HTTP 503 with Retry-After).
var ErrDatabaseUnavailable = &Error{"database_unavailable", "The server's database is not reachable right now: try again in a few seconds."}

// DatabaseCheckTimeout bounds CheckDatabase: an order waits at most this
// long to learn that the database is away.
const DatabaseCheckTimeout = 2 * time.Second

// CheckDatabase takes a connection from db and pings it, within
// DatabaseCheckTimeout. CreateOrder calls it before a payment method talks
// to its processor, so an outage costs the customer a retry and not an
// orphan Checkout Session at Stripe. The error wraps ErrDatabaseUnavailable
// and the cause.
func CheckDatabase(ctx context.Context, db *pgxpool.Pool) error {
	ctx, cancel := context.WithTimeout(ctx, DatabaseCheckTimeout)
	defer cancel()
	conn, err := db.Acquire(ctx)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Release()
	}
	if err != nil {
		return fmt.Errorf("%w (%v)", ErrDatabaseUnavailable, err)
	}
	return nil
}

// AbandonPrepared undoes at its processor what method m's Prepare made for
// order o, which was then not stored: a card order's Checkout Session
// (o.StripeSession, set by Card.Prepare) is expired at Stripe, so that
// nobody can pay an order the server does not know and no orphan session
// waits its 24 hours. Other methods made nothing outside the server. Errors
// are logged: the session would expire by itself anyway.
func (s *Service) AbandonPrepared(m Method, o *Order) {
	c, ok := m.(*Card)
	if !ok || o.StripeSession == "" {
		return
	}
	// The context of the failed request may be gone; the expiry is owed
	// to Stripe regardless.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	params := &stripe.CheckoutSessionExpireParams{}
	params.Context = ctx
	params.SetIdempotencyKey("licensed-abandon-" + o.ID)
	if _, err := c.api.CheckoutSessions.Expire(o.StripeSession, params); err != nil {
		s.log.Warn("couldn't expire the Checkout Session of an order not stored; it expires by itself within 24 hours",
			"order_id", o.ID, "stripe_session", o.StripeSession, "err", stripeErrSummary(err))
		return
	}
	s.log.Info("expired the Checkout Session of an order not stored", "order_id", o.ID, "stripe_session", o.StripeSession)
}
