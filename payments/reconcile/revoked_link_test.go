package reconcile_test

import (
	"context"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/fakestripe"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/reconcile"
)

// TestRevokedThenLinkErasedIsNoException: a card order refunded in full
// while its link exists is revoked on the ledger; when the retention later
// erases the link, the license is not revoke_unreachable (that is a refund
// that came after the link was gone).
func TestRevokedThenLinkErasedIsNoException(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.paidCard("basic-30d")
	e.MustDeliver(fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), fakestripe.DevPaymentIntent(id), true))
	if o := e.Order(id); o.License != payments.LicenseRevoked {
		t.Fatalf("license %q after a full refund, want revoked", o.License)
	}
	e.SetNow(time.Now().Add(payments.DefaultCardRetention + time.Hour))
	defer e.SetNow(time.Time{})
	if _, err := e.svc.ForgetLinks(ctx); err != nil {
		t.Fatal(err)
	}
	if _, linked := e.Link(id); linked {
		t.Fatal("the link outlived the retention")
	}
	ex, err := e.books.Queues(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range ex {
		if x.OrderID == id {
			t.Fatalf("exception %+v for a license revoked before its link was erased", x)
		}
	}
	// A refund after the link was erased still is one.
	late := e.paidCard("basic-30d")
	e.SetNow(time.Now().Add(2 * (payments.DefaultCardRetention + time.Hour)))
	if _, err := e.svc.ForgetLinks(ctx); err != nil {
		t.Fatal(err)
	}
	e.MustDeliver(fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), fakestripe.DevPaymentIntent(late), true))
	if ex, err = e.books.Queues(ctx, time.Time{}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if len(ex) != 1 || ex[0].Kind != reconcile.RevokeUnreachable || ex[0].OrderID != late {
		t.Fatalf("exceptions %+v, want one %s for %s", ex, reconcile.RevokeUnreachable, late)
	}
}
