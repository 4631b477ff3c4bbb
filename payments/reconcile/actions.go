package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensed/licensed/payments"
)

// Error is a mistake an operator can fix; Code is stable.
type Error struct{ code, msg string }

func (e *Error) Error() string { return e.msg }

// Code returns the machine-readable code.
func (e *Error) Code() string { return e.code }

// ErrNotSettlable refuses MarkSettled. (Revoke refuses with
// payments.ErrNotRevocable.)
var ErrNotSettlable = &Error{"not_settlable", "Only an expired or still open invoice that was paid (late or partly) can be settled by hand."}

// Record appends an operator action to the audit log inside tx, so the
// action and its record commit together.
func Record(ctx context.Context, tx pgx.Tx, at time.Time, session, action, orderID, detail string) error {
	var oid *string
	if orderID != "" {
		oid = &orderID
	}
	if _, err := tx.Exec(ctx, `insert into ops_audit (at, session, action, order_id, detail) values ($1, $2, $3, $4, $5)`,
		at, session, action, oid, detail); err != nil {
		return fmt.Errorf("reconcile: couldn't write the audit log: %w", err)
	}
	return nil
}

// MarkSettled settles a paid-late (or partly paid) Bitcoin invoice by hand:
// the order moves to settled with the flag marked through the payments state
// machine, which mints its license exactly once. The action is recorded in
// the audit log in the same transaction.
func MarkSettled(ctx context.Context, svc *payments.Service, session, orderID, note string) error {
	return pgx.BeginFunc(ctx, svc.DB(), func(tx pgx.Tx) error {
		o, err := svc.OrderTx(ctx, tx, orderID)
		if err != nil {
			return err
		}
		paid := o.Flags&(payments.FlagPaidLate|payments.FlagPaidPartial) != 0
		if !paid || (o.State != payments.StateExpired && o.State != payments.StateNew && o.State != payments.StateProcessing) {
			return ErrNotSettlable
		}
		changed, err := svc.Transition(ctx, tx, orderID, payments.StateSettled, payments.FlagMarked, "operator: "+note)
		if err != nil {
			return err
		}
		if !changed {
			return ErrNotSettlable
		}
		return Record(ctx, tx, time.Now(), session, "mark_settled", orderID, note)
	})
}

// Revoke revokes the license of an order on an operator's decision while
// the order → entry link exists (payments.Service.RevokeByOperator: the
// service's own revoke, with the ledger reason operator), in one
// transaction with its audit record. It refuses with
// payments.ErrNotRevocable what the service refuses.
func Revoke(ctx context.Context, svc *payments.Service, session, orderID, note string) error {
	return pgx.BeginFunc(ctx, svc.DB(), func(tx pgx.Tx) error {
		if err := svc.RevokeByOperator(ctx, tx, orderID); err != nil {
			return err
		}
		return Record(ctx, tx, time.Now(), session, "revoke", orderID, note)
	})
}
