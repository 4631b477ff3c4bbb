package payments

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
// order o, which was then not stored: a card order's Checkout Session is
// expired at Stripe, so that nobody can pay an order the server does not
// know and no orphan session waits its 24 hours. Other methods made
// nothing outside the server. begin is what Prepare returned; the session
// id is learned from it (it is what begin stores), without a database.
// Errors are logged: the session would expire by itself anyway.
func (s *Service) AbandonPrepared(m Method, o *Order, begin BeginFunc) {
	c, ok := m.(*Card)
	if !ok || begin == nil {
		return
	}
	rec := &recordingTx{}
	// The context of the failed request may be gone; the expiry is owed
	// to Stripe regardless.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := begin(ctx, rec); err != nil {
		s.log.Warn("couldn't learn the Checkout Session of an order not stored", "order_id", o.ID, "err", err)
		return
	}
	if rec.session == "" {
		s.log.Warn("no Checkout Session to expire for an order not stored", "order_id", o.ID)
		return
	}
	params := &stripe.CheckoutSessionExpireParams{}
	params.Context = ctx
	params.SetIdempotencyKey("licensed-abandon-" + o.ID)
	if _, err := c.api.CheckoutSessions.Expire(rec.session, params); err != nil {
		s.log.Warn("couldn't expire the Checkout Session of an order not stored; it expires by itself within 24 hours",
			"order_id", o.ID, "stripe_session", rec.session, "err", stripeErrSummary(err))
		return
	}
	s.log.Info("expired the Checkout Session of an order not stored", "order_id", o.ID, "stripe_session", rec.session)
}

// recordingTx is a transaction that runs nothing: it notes the Checkout
// Session id (an argument "cs_…") of the statements a BeginFunc sends.
// Any other use of it panics (the embedded nil pgx.Tx).
type recordingTx struct {
	pgx.Tx
	session string
}

func (r *recordingTx) Exec(_ context.Context, _ string, args ...any) (pgconn.CommandTag, error) {
	for _, a := range args {
		if id, ok := a.(string); ok && strings.HasPrefix(id, "cs_") {
			r.session = id
		}
	}
	return pgconn.NewCommandTag("UPDATE 1"), nil
}
