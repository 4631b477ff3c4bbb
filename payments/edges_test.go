package payments_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/fakestripe"
	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/reconcile"
)

// mismatches returns the stripe_mismatches rows of event id: how many, and
// the order and reason of the last.
func mismatches(t *testing.T, e *paytest.Env, eventID string) (n int, orderID, reason string) {
	t.Helper()
	err := e.DB.QueryRow(context.Background(), `select count(*), coalesce(max(order_id), ''), coalesce(max(reason), '')
		from stripe_mismatches where event_id = $1`, eventID).Scan(&n, &orderID, &reason)
	if err != nil {
		t.Fatal(err)
	}
	return n, orderID, reason
}

// TestStripeEventNotTheOrdersPayment delivers checkout events that name an
// order but are not its own payment. Each is acknowledged (Stripe stops
// retrying), changes nothing, and is one exception, however often it is
// delivered; the order's own event then still settles it.
func TestStripeEventNotTheOrdersPayment(t *testing.T) {
	e := newEnvOpts(t, false, false)
	ctx := context.Background()
	btcOrder := func() string {
		id := paytest.OrderID(t)
		if _, err := e.DB.Exec(ctx, `insert into orders (id, plan, method, amount, currency, address)
			values ($1, 'basic-30d', 'btc', 500, 'usd', $2)`, id, paytest.Address(t)); err != nil {
			t.Fatal(err)
		}
		return id
	}
	tests := []struct {
		name      string
		order     func() string // "" for no order
		edit      func(*fakestripe.Checkout)
		typ       string
		exception bool // recorded as a mismatch (else ignored)
	}{
		{"a Bitcoin order", btcOrder, func(c *fakestripe.Checkout) { c.SessionID = "cs_test_other" }, "checkout.session.completed", true},
		{"another Checkout Session", nil, func(c *fakestripe.Checkout) { c.SessionID = "cs_test_paymentlink" }, "checkout.session.completed", true},
		{"another session, async success", nil, func(c *fakestripe.Checkout) { c.SessionID = "cs_test_paymentlink" }, "checkout.session.async_payment_succeeded", true},
		{"another session, expiry", nil, func(c *fakestripe.Checkout) { c.SessionID = "cs_test_paymentlink" }, "checkout.session.expired", true},
		{"a lower amount", nil, func(c *fakestripe.Checkout) { c.Amount = 1 }, "checkout.session.completed", true},
		{"a higher amount", nil, func(c *fakestripe.Checkout) { c.Amount = 100000 }, "checkout.session.completed", true},
		{"another currency", nil, func(c *fakestripe.Checkout) { c.Currency = "eur" }, "checkout.session.completed", true},
		{"a live-mode event for a test key", nil, func(c *fakestripe.Checkout) { c.Live = true }, "checkout.session.completed", true},
		{"a paid session naming no order of ours", func() string { return "" }, func(c *fakestripe.Checkout) { c.OrderID = paytest.OrderID(t) }, "checkout.session.completed", true},
		{"a paid session naming nothing", func() string { return "" }, func(c *fakestripe.Checkout) { c.OrderID = "" }, "checkout.session.completed", true},
		{"an expired session naming no order of ours", func() string { return "" }, func(c *fakestripe.Checkout) { c.OrderID = paytest.OrderID(t) }, "checkout.session.expired", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var id string
			switch {
			case tt.order == nil:
				id = e.CardOrder("basic-30d")
			default:
				id = tt.order()
			}
			c := fakestripe.Checkout{SessionID: "cs_test_x", OrderID: id, PaymentIntent: "pi_" + paytest.OrderID(t), Amount: 500, Currency: "usd", Paid: true}
			if id != "" {
				o := e.Order(id)
				c = fakestripe.CheckoutOf(o.ID, o.StripeSession, o.Amount, o.Currency)
			}
			tt.edit(&c)
			evID := fakestripe.NewEventID()
			ev := fakestripe.CheckoutSessionEvent(evID, tt.typ, c)
			e.MustDeliver(ev)
			e.MustDeliver(ev) // Stripe's retry: still one exception
			if id != "" {
				if o := e.Order(id); o.State != payments.StateNew || o.License != payments.LicenseNone {
					t.Fatalf("the order moved to %s (license %q)", o.State, o.License)
				}
			}
			n, orderID, reason := mismatches(t, e, evID)
			wantOrder := id
			if c.Live {
				wantOrder = "" // refused on its mode before it is read
			}
			switch {
			case !tt.exception && n != 0:
				t.Fatalf("%d exceptions (%s), want none", n, reason)
			case tt.exception && n != 1:
				t.Fatalf("%d exceptions, want 1", n)
			case tt.exception && orderID != wantOrder:
				t.Fatalf("exception about order %q, want %q (%s)", orderID, wantOrder, reason)
			}
			var unmatched int
			e.DB.QueryRow(ctx, `select count(*) from orders where stripe_payment_intent = $1`, c.PaymentIntent).Scan(&unmatched)
			if unmatched != 0 {
				t.Fatalf("the order took the PaymentIntent of a session that is not its own")
			}
			if tt.order == nil {
				// The order's own payment still settles it.
				e.Settle(id)
				if o := e.Order(id); o.State != payments.StateSettled {
					t.Fatalf("after its own payment the order is %s", o.State)
				}
			}
		})
	}

	// Each exception above is one row of the operators' queue and of
	// `licensed reconcile`.
	ex, err := reconcile.NewBooks(e.DB).Queues(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, tt := range tests {
		if tt.exception {
			want++
		}
	}
	if got := countKind(ex, reconcile.StripeMismatch); got != want {
		t.Fatalf("%d %s exceptions, want %d: %+v", got, reconcile.StripeMismatch, want, ex)
	}

	t.Run("a refund in live mode for a test key", func(t *testing.T) {
		id := e.CardOrder("basic-30d")
		e.Settle(id)
		ev := fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), fakestripe.DevPaymentIntent(id), true)
		live := bytes.Replace(ev, []byte(`"livemode":false`), []byte(`"livemode":true`), 1)
		if bytes.Equal(live, ev) {
			t.Fatal("the event has no livemode field to change")
		}
		e.MustDeliver(live)
		if o := e.Order(id); o.Refunded || o.License != payments.LicenseActive {
			t.Fatalf("a live-mode refund changed a test-mode order: refunded %v, license %s", o.Refunded, o.License)
		}
	})
}

// TestRefundRacesCheckout delivers each order's checkout.session.completed at
// the same moment as a full refund or an opened dispute of the same
// PaymentIntent, 20 senders at a time, and checks that no refund or dispute
// is lost whatever the interleaving: the order ends as serial delivery in
// either order leaves it (settled, license revoked or suspended), and no
// charge is left waiting for an order.
func TestRefundRacesCheckout(t *testing.T) {
	const pairs, senders = 300, 20
	e := newEnvOpts(t, false, false)
	ctx := context.Background()
	type pair struct {
		id      string
		refund  bool
		a, b    []byte
		flipped bool
	}
	ps := make([]pair, pairs)
	for i := range ps {
		id := e.CardOrder("basic-30d")
		p := pair{id: id, refund: i%2 == 0, flipped: i%4 >= 2}
		p.a = e.CheckoutEvent("checkout.session.completed", id, true)
		if p.refund {
			p.b = fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), fakestripe.DevPaymentIntent(id), true)
		} else {
			p.b = fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.created", fakestripe.DevPaymentIntent(id), "needs_response")
		}
		if p.flipped {
			p.a, p.b = p.b, p.a
		}
		ps[i] = p
	}
	work := make(chan pair)
	var wg sync.WaitGroup
	errs := make(chan error, pairs*2)
	for range senders / 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				// Both deliveries of a pair start together.
				var start, done sync.WaitGroup
				start.Add(1)
				for _, ev := range [][]byte{p.a, p.b} {
					done.Add(1)
					go func() {
						defer done.Done()
						start.Wait()
						if err := e.Deliver(ev); err != nil {
							errs <- fmt.Errorf("order %s: %w", p.id, err)
						}
					}()
				}
				start.Done()
				done.Wait()
			}
		}()
	}
	for _, p := range ps {
		work <- p
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	lost := 0
	for _, p := range ps {
		o := e.Order(p.id)
		want := payments.LicenseSuspended
		if p.refund {
			want = payments.LicenseRevoked
		}
		if o.State != payments.StateSettled || o.License != want || o.Refunded != p.refund || (!p.refund && o.Dispute != "open") {
			lost++
			t.Errorf("order %s (refund %v): %s, license %q, refunded %v, dispute %q", p.id, p.refund, o.State, o.License, o.Refunded, o.Dispute)
		}
	}
	var parked int
	if err := e.DB.QueryRow(ctx, `select count(*) from stripe_unmatched_charges`).Scan(&parked); err != nil {
		t.Fatal(err)
	}
	if lost != 0 || parked != 0 {
		t.Fatalf("%d of %d refunds or disputes lost; %d charges left waiting for an order", lost, pairs, parked)
	}
	// The licenses come out of the next round already revoked or
	// suspended, and the ledger agrees.
	e.Round()
	e.Balanced()
	e.Fsck()
}

func countKind(ex []reconcile.Exception, k reconcile.Kind) int {
	n := 0
	for _, x := range ex {
		if x.Kind == k {
			n++
		}
	}
	return n
}

// TestUnmatchedChargeIsReported: a refund and a dispute whose PaymentIntent
// no order ever takes up wait for their checkout event, and are exceptions
// once they have waited longer than reconcile.UnmatchedGrace.
func TestUnmatchedChargeIsReported(t *testing.T) {
	e := newEnvOpts(t, false, false)
	ctx := context.Background()
	e.MustDeliver(fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), "pi_nobodys_refund", true))
	e.MustDeliver(fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.created", "pi_nobodys_dispute", "needs_response"))
	books := reconcile.NewBooks(e.DB)
	ex, err := books.Queues(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if n := countKind(ex, reconcile.StripeUnmatched); n != 0 {
		t.Fatalf("%d unmatched charges reported at once, want 0 (their checkout may be on its way)", n)
	}
	books.Now = func() time.Time { return time.Now().Add(reconcile.UnmatchedGrace + time.Minute) }
	ex, err = books.Queues(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	refs := map[string]bool{}
	for _, x := range ex {
		if x.Kind == reconcile.StripeUnmatched {
			refs[x.Ref] = true
		}
	}
	if len(refs) != 2 || !refs["pi_nobodys_refund"] || !refs["pi_nobodys_dispute"] {
		t.Fatalf("unmatched charges reported: %v, want the refund's and the dispute's PaymentIntents", refs)
	}
}

// TestForgetLinksOfRevokedHeldOrders: a held Bitcoin link (payment not
// buried) is kept past its retention, except once the license is revoked
// (its revoke entry is on the ledger: the link serves nothing more).
func TestForgetLinksOfRevokedHeldOrders(t *testing.T) {
	e := newEnvOpts(t, false, false)
	ctx := context.Background()
	held, revoked := paytest.OrderID(t), paytest.OrderID(t)
	for i, o := range []struct{ id, license string }{{held, "active"}, {revoked, "revoked"}} {
		if _, err := e.DB.Exec(ctx, `insert into orders (id, plan, method, amount, currency, state, license_state)
			values ($1, 'basic-30d', 'btc', 500, 'usd', 'settled', $2)`, o.id, o.license); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DB.Exec(ctx, `insert into order_links (order_id, ledger_index, forget_after, hold)
			values ($1, $2, now() - interval '1 hour', true)`, o.id, 100+i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.Service.ForgetLinks(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.Link(held); !ok {
		t.Fatal("a held link of an active license was forgotten before its payment was buried")
	}
	if _, ok := e.Link(revoked); ok {
		t.Fatal("the held link of a revoked license outlived its retention")
	}
}
