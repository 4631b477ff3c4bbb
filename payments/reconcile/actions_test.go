package reconcile_test

import (
	"context"
	"errors"
	"testing"

	"github.com/licensed/licensed/internal/fakestripe"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/reconcile"
)

// revokeEntries returns the reasons of the revoke entries on the ledger
// that target index.
func (e *env) revokeEntries(index int64) []ledger.RevokeReason {
	e.t.Helper()
	var out []ledger.RevokeReason
	for _, en := range e.Entries() {
		if r, ok := en.(*ledger.RevokeEntry); ok && r.Target == uint64(index) {
			out = append(out, r.Reason)
		}
	}
	return out
}

// An operator's revoke is the service's revoke: the license is revoked, a
// suspension lifted, one revoke entry (reason operator) sequenced, and the
// action audited in the same transaction; what it cannot revoke is refused
// and leaves no trace.
func TestRevoke(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		setup   func(id string) // after the order is paid and minted
		license payments.LicenseState
		err     error
	}{
		{"active", func(string) {}, payments.LicenseActive, nil},
		{"suspended by an open dispute", func(id string) {
			e.MustDeliver(fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.created", fakestripe.DevPaymentIntent(id), "needs_response"))
		}, payments.LicenseSuspended, nil},
		{"link erased after the retention", func(id string) { e.exec(`delete from order_links where order_id = $1`, id) }, payments.LicenseActive, payments.ErrNotRevocable},
		{"already revoked by a refund", func(id string) {
			e.MustDeliver(fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), fakestripe.DevPaymentIntent(id), true))
		}, payments.LicenseRevoked, payments.ErrNotRevocable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := e.paidCard("basic-30d")
			rows, err := e.books.Orders(ctx, reconcile.Filter{ID: id})
			if err != nil || len(rows) != 1 || !rows[0].Linked {
				t.Fatalf("rows %+v, %v", rows, err)
			}
			index := rows[0].LedgerIndex
			tt.setup(id)
			before, err := e.svc.Order(ctx, id)
			if err != nil || before.License != tt.license {
				t.Fatalf("license %v before the revoke, want %s (%v)", before, tt.license, err)
			}
			operator := func() (n int) {
				for _, r := range e.revokeEntries(index) {
					if r == ledger.RevokeOperator {
						n++
					}
				}
				return n
			}
			audits := func() int {
				var n int
				if err := e.db.QueryRow(ctx, `select count(*) from ops_audit where order_id = $1`, id).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}

			err = reconcile.Revoke(ctx, e.svc, "session-1", id, "chargeback fraud")
			if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Fatalf("revoke: %v, want %v", err, tt.err)
			}
			o, err := e.svc.Order(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if tt.err != nil {
				if o.License != before.License || audits() != 0 {
					t.Fatalf("refused revoke changed the license %s → %s or was audited", before.License, o.License)
				}
				e.WaitSequenced() // an operator revoke entry, if one was enqueued
				if n := operator(); n != 0 {
					t.Fatalf("%d operator revoke entries after a refused revoke", n)
				}
				return
			}
			if o.License != payments.LicenseRevoked || audits() != 1 {
				t.Fatalf("license %s, %d audit records after revoke", o.License, audits())
			}
			var suspended bool
			if err := e.db.QueryRow(ctx, `select exists (select 1 from license_suspensions where ledger_index = $1)`, index).Scan(&suspended); err != nil || suspended {
				t.Fatalf("index %d still suspended (%v)", index, err)
			}
			e.WaitFor("a revoke entry sequenced", func() bool { return len(e.revokeEntries(index)) > 0 })
			if got := e.revokeEntries(index); len(got) != 1 || got[0] != ledger.RevokeOperator {
				t.Fatalf("revoke entries %v, want one of reason operator", got)
			}
			// Twice is refused: the license is revoked.
			if err := reconcile.Revoke(ctx, e.svc, "session-1", id, "again"); !errors.Is(err, payments.ErrNotRevocable) {
				t.Fatalf("second revoke: %v", err)
			}
		})
	}
}
