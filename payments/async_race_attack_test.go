package payments_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/licensed/licensed/internal/fakestripe"
	"github.com/licensed/licensed/payments"
)

// TestAsyncPaymentRacesItsRefundAndDispute delivers all the events of one
// delayed-notification card payment at the same moment: the completion
// (unpaid), the async success, and either a full refund or a dispute opened
// and closed (won), in every case concurrently. Whatever the interleaving the
// order ends as serial delivery leaves it: settled; refunded → revoked, a
// won dispute → active (never suspended for good); nothing left waiting for
// an order.
func TestAsyncPaymentRacesItsRefundAndDispute(t *testing.T) {
	const orders = 60
	e := newEnvOpts(t, false, false)
	ctx := context.Background()
	type run struct {
		id     string
		refund bool
		evs    [][]byte
	}
	runs := make([]run, orders)
	for i := range runs {
		id := e.CardOrder("basic-30d")
		pi := fakestripe.DevPaymentIntent(id)
		r := run{id: id, refund: i%2 == 0}
		r.evs = [][]byte{
			e.CheckoutEvent("checkout.session.completed", id, false),
			e.CheckoutEvent("checkout.session.async_payment_succeeded", id, true),
		}
		if r.refund {
			r.evs = append(r.evs, fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), pi, true))
		} else {
			r.evs = append(r.evs,
				fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.created", pi, "needs_response"),
				fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.closed", pi, "won"))
		}
		runs[i] = r
	}
	errs := make(chan error, orders*4)
	var all sync.WaitGroup
	for _, r := range runs {
		all.Add(1)
		go func() {
			defer all.Done()
			var start, done sync.WaitGroup
			start.Add(1)
			for _, ev := range r.evs {
				done.Add(1)
				go func() {
					defer done.Done()
					start.Wait()
					if err := e.Deliver(ev); err != nil {
						errs <- fmt.Errorf("order %s: %w", r.id, err)
					}
				}()
			}
			start.Done()
			done.Wait()
		}()
	}
	all.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, r := range runs {
		o := e.Order(r.id)
		want := payments.LicenseActive
		if r.refund {
			want = payments.LicenseRevoked
		}
		if o.State != payments.StateSettled || o.License != want {
			t.Errorf("order %s (refund %v): %s, license %q; want settled, %q", r.id, r.refund, o.State, o.License, want)
		}
		if !r.refund && o.Dispute != "won" {
			t.Errorf("order %s: dispute %q, want won", r.id, o.Dispute)
		}
	}
	var parked int
	if err := e.DB.QueryRow(ctx, `select count(*) from stripe_unmatched_charges`).Scan(&parked); err != nil || parked != 0 {
		t.Fatalf("%d charge events still wait for an order (%v)", parked, err)
	}
}
