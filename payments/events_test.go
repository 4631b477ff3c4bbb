package payments_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/fakestripe"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/ringverify"
)

// TestStripeEvents applies sequences of Stripe events to fresh orders and
// checks the state they leave, including reordered and stale events.
func TestStripeEvents(t *testing.T) {
	e := newEnvOpts(t, false, false)
	type ev func(id string) []byte
	session := func(typ string, paid bool) ev {
		return func(id string) []byte {
			return e.CheckoutEvent(typ, id, paid)
		}
	}
	completedPaid := session("checkout.session.completed", true)
	completedUnpaid := session("checkout.session.completed", false)
	asyncOK := session("checkout.session.async_payment_succeeded", true)
	asyncFailed := session("checkout.session.async_payment_failed", false)
	expired := session("checkout.session.expired", false)
	tests := []struct {
		name    string
		events  []ev
		state   payments.State
		license payments.LicenseState
	}{
		{"paid at once", []ev{completedPaid}, payments.StateSettled, payments.LicenseActive},
		{"async paid", []ev{completedUnpaid, asyncOK}, payments.StateSettled, payments.LicenseActive},
		{"async paid, events reordered", []ev{asyncOK, completedUnpaid}, payments.StateSettled, payments.LicenseActive},
		{"async failed", []ev{completedUnpaid, asyncFailed}, payments.StateInvalid, payments.LicenseNone},
		{"async failed, events reordered", []ev{asyncFailed, completedUnpaid}, payments.StateInvalid, payments.LicenseNone},
		{"waiting for async payment", []ev{completedUnpaid}, payments.StateProcessing, payments.LicenseNone},
		{"expired", []ev{expired}, payments.StateExpired, payments.LicenseNone},
		{"expired, then a stale completion", []ev{expired, completedPaid}, payments.StateExpired, payments.LicenseNone},
		{"paid, then a stale expiry", []ev{completedPaid, expired}, payments.StateSettled, payments.LicenseActive},
		{"failed after success is ignored", []ev{completedPaid, asyncFailed}, payments.StateSettled, payments.LicenseActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := e.CardOrder("basic-30d")
			for _, f := range tt.events {
				e.MustDeliver(f(id))
			}
			o := e.Order(id)
			if o.State != tt.state || o.License != tt.license {
				t.Fatalf("order %s, license %q; want %s, %q", o.State, o.License, tt.state, tt.license)
			}
		})
	}
	// Events for no order of ours, and of types not handled, are
	// acknowledged and change nothing.
	for _, p := range [][]byte{
		fakestripe.CheckoutSessionEvent(fakestripe.NewEventID(), "checkout.session.completed", fakestripe.Checkout{SessionID: "cs_x", OrderID: "aaaaaaaaaaaaaaaaaaaaaaaaaa", PaymentIntent: "pi_x", Amount: 500, Currency: "usd", Paid: true}),
		fakestripe.CheckoutSessionEvent(fakestripe.NewEventID(), "checkout.session.completed", fakestripe.Checkout{SessionID: "cs_y", OrderID: "not-an-order", PaymentIntent: "pi_y", Amount: 500, Currency: "usd", Paid: true}),
		fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), "pi_unknown", true),
		fakestripe.CheckoutSessionEvent(fakestripe.NewEventID(), "customer.created", fakestripe.Checkout{SessionID: "cs_z", OrderID: "x", PaymentIntent: "pi_z", Paid: true}),
	} {
		e.MustDeliver(p)
	}
	var settled int
	e.DB.QueryRow(context.Background(), `select count(*) from orders where state = 'settled'`).Scan(&settled)
	if settled != 5 {
		t.Fatalf("%d settled orders, want 5", settled)
	}
	// One license entry per settled order, after one round.
	e.Round()
	if n := len(e.Entries()); n != 5 {
		t.Fatalf("%d entries, want 5", n)
	}
	e.Balanced()
}

// TestEventsBeforeTheRound: a refund or a dispute that arrives after the
// order settled but before its license entry committed still reaches the
// license when it does.
func TestEventsBeforeTheRound(t *testing.T) {
	e := newEnvOpts(t, false, false)
	refunded := e.CardOrder("basic-30d")
	disputed := e.CardOrder("basic-30d")
	e.Settle(refunded)
	e.Settle(disputed)
	e.MustDeliver(fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), fakestripe.DevPaymentIntent(refunded), true))
	e.MustDeliver(fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.created", fakestripe.DevPaymentIntent(disputed), "needs_response"))
	if n := e.Round(); n != 2 {
		t.Fatalf("first round committed %d entries, want the 2 licenses", n)
	}
	ri, ok1 := e.Link(refunded)
	di, ok2 := e.Link(disputed)
	if !ok1 || !ok2 {
		t.Fatal("no links after the round")
	}
	if m, _ := e.Index.Member(di); m.State != ringverify.Suspended {
		t.Fatalf("disputed license %v, want suspended", m.State)
	}
	// The revoke was enqueued by the first round's hook; the next round
	// commits it.
	if n := e.Round(); n != 1 {
		t.Fatalf("second round committed %d entries, want the revoke", n)
	}
	if m, _ := e.Index.Member(ri); m.State != ringverify.Revoked {
		t.Fatalf("refunded license %v, want revoked", m.State)
	}
	entries := e.Entries()
	rev, ok := entries[len(entries)-1].(*ledger.RevokeEntry)
	if !ok || rev.Target != ri || rev.Reason != ledger.RevokeRefund {
		t.Fatalf("last entry %+v, want a refund revoke of %d", entries[len(entries)-1], ri)
	}
	e.MustDeliver(fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.closed", fakestripe.DevPaymentIntent(disputed), "won"))
	e.Round()
	if m, _ := e.Index.Member(di); m.State != ringverify.Active {
		t.Fatalf("license after the dispute was won: %v, want active", m.State)
	}
	e.Balanced()
	e.Fsck()
}

// TestEventsWhileProcessing: a refund or a dispute that arrives while the
// payment is still processing decides the license's state when the payment
// then succeeds: the license is minted revoked or suspended, never active.
func TestEventsWhileProcessing(t *testing.T) {
	e := newEnvOpts(t, false, false)
	refunded := e.CardOrder("basic-30d")
	disputed := e.CardOrder("basic-30d")
	for _, id := range []string{refunded, disputed} {
		e.MustDeliver(e.CheckoutEvent("checkout.session.completed", id, false))
		if o := e.Order(id); o.State != payments.StateProcessing {
			t.Fatalf("order %s after an unpaid completion: %s", id, o.State)
		}
	}
	e.MustDeliver(fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), fakestripe.DevPaymentIntent(refunded), true))
	e.MustDeliver(fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.created", fakestripe.DevPaymentIntent(disputed), "needs_response"))
	for _, id := range []string{refunded, disputed} {
		e.MustDeliver(e.CheckoutEvent("checkout.session.async_payment_succeeded", id, true))
	}
	if o := e.Order(refunded); o.State != payments.StateSettled || o.License != payments.LicenseRevoked {
		t.Fatalf("refunded order: %s, license %s; want settled and revoked", o.State, o.License)
	}
	if o := e.Order(disputed); o.State != payments.StateSettled || o.License != payments.LicenseSuspended {
		t.Fatalf("disputed order: %s, license %s; want settled and suspended", o.State, o.License)
	}
	e.Round() // the two licenses; the hook enqueues the revoke
	e.Round() // the revoke
	ri, ok1 := e.Link(refunded)
	di, ok2 := e.Link(disputed)
	if !ok1 || !ok2 {
		t.Fatal("no links after the rounds")
	}
	if m, _ := e.Index.Member(ri); m.State != ringverify.Revoked {
		t.Fatalf("refunded license on the index: %v, want revoked", m.State)
	}
	if m, _ := e.Index.Member(di); m.State != ringverify.Suspended {
		t.Fatalf("disputed license on the index: %v, want suspended", m.State)
	}
	e.MustDeliver(fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.closed", fakestripe.DevPaymentIntent(disputed), "lost"))
	e.Round()
	if m, _ := e.Index.Member(di); m.State != ringverify.Revoked {
		t.Fatalf("license after the dispute was lost: %v, want revoked", m.State)
	}
	e.Balanced()
	e.Fsck()
}

// TestSuspendedBeforeTheRoundWithoutRetention: with no retention (Bitcoin's
// default), a license suspended by a reorg before its entry commits is
// restored on the ledger when the payment confirms again.
func TestSuspendedBeforeTheRoundWithoutRetention(t *testing.T) {
	e := newEnvOpts(t, false, false, func(c *payments.Config) {
		c.Retention = map[string]time.Duration{payments.MethodCard: 0, payments.MethodBTC: 0}
	})
	id := e.CardOrder("basic-30d")
	e.Settle(id)
	ctx := context.Background()
	transition := func(to payments.State) {
		t.Helper()
		tx, err := e.DB.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := e.Service.Transition(ctx, tx, id, to, 0, "test reorg"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	transition(payments.StateProcessing) // the payment left the chain before the round
	if o := e.Order(id); o.License != payments.LicenseSuspended {
		t.Fatalf("license after the reorg: %s, want suspended", o.License)
	}
	e.Round()
	idx, ok := e.Link(id)
	if !ok {
		t.Fatal("a license suspended when its entry committed has no link")
	}
	if m, _ := e.Index.Member(idx); m.State != ringverify.Suspended {
		t.Fatalf("index: %v, want suspended", m.State)
	}
	transition(payments.StateSettled) // confirmed again
	e.Round()
	if m, _ := e.Index.Member(idx); m.State != ringverify.Active {
		t.Fatalf("index after the payment confirmed again: %v, want active", m.State)
	}
	if n, err := e.Service.ForgetLinks(ctx); err != nil || n != 1 {
		t.Fatalf("ForgetLinks: %d, %v; want the link gone once the license is active again", n, err)
	}
}

// TestChargeEventsBeforeCheckout: Stripe does not order its events, so a
// refund or a dispute may come before the checkout event that tells which
// order its PaymentIntent paid. It is kept and applied when that event
// arrives: the license is never minted active.
func TestChargeEventsBeforeCheckout(t *testing.T) {
	e := newEnvOpts(t, false, false)
	refunded := e.CardOrder("basic-30d")
	lost := e.CardOrder("basic-30d")
	open := e.CardOrder("basic-30d")
	e.MustDeliver(fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), fakestripe.DevPaymentIntent(refunded), true))
	e.MustDeliver(fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.created", fakestripe.DevPaymentIntent(lost), "needs_response"))
	e.MustDeliver(fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.closed", fakestripe.DevPaymentIntent(lost), "lost"))
	e.MustDeliver(fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.created", fakestripe.DevPaymentIntent(open), "needs_response"))
	for _, id := range []string{refunded, lost, open} {
		e.Settle(id)
	}
	for id, want := range map[string]payments.LicenseState{refunded: payments.LicenseRevoked, lost: payments.LicenseRevoked, open: payments.LicenseSuspended} {
		if o := e.Order(id); o.State != payments.StateSettled || o.License != want {
			t.Fatalf("order %s: %s, license %s; want settled, %s", id, o.State, o.License, want)
		}
	}
	e.Round() // the licenses; the hook enqueues two revokes
	e.Round() // the revokes
	for id, want := range map[string]ringverify.State{refunded: ringverify.Revoked, lost: ringverify.Revoked, open: ringverify.Suspended} {
		idx, ok := e.Link(id)
		if !ok {
			t.Fatalf("order %s has no link", id)
		}
		if m, _ := e.Index.Member(idx); m.State != want {
			t.Fatalf("order %s on the index: %v, want %v", id, m.State, want)
		}
	}
	var reasons []ledger.RevokeReason
	for _, en := range e.Entries() {
		if r, ok := en.(*ledger.RevokeEntry); ok {
			reasons = append(reasons, r.Reason)
		}
	}
	if len(reasons) != 2 || !slices.Contains(reasons, ledger.RevokeRefund) || !slices.Contains(reasons, ledger.RevokeDispute) {
		t.Fatalf("revoke reasons %v, want one refund and one dispute", reasons)
	}
	var left int
	e.DB.QueryRow(context.Background(), `select count(*) from stripe_unmatched_charges`).Scan(&left)
	if left != 0 {
		t.Fatalf("%d unmatched charges left after their orders were found", left)
	}
	e.Balanced()
	e.Fsck()
}
