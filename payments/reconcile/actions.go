package reconcile

import (
	"context"
	"errors"
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

// The errors of the operator actions.
var (
	ErrNotRevocable = &Error{"not_revocable", "This order's license cannot be revoked here: it has no license, is already revoked, or its link to the ledger entry was erased after the retention."}
	ErrNotSettlable = &Error{"not_settlable", "Only an expired or still open invoice that was paid (late or partly) can be settled by hand."}
)

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

// Revoke revokes the license of an order while the order → entry link
// exists: the order's license becomes revoked and a revoke entry (reason
// operator, ref payments.RevokeRef, so at most one per order) is enqueued
// for the next sequencer round, in one transaction with its audit record.
func Revoke(ctx context.Context, svc *payments.Service, minter payments.Minter, session, orderID, note string) error {
	return pgx.BeginFunc(ctx, svc.DB(), func(tx pgx.Tx) error {
		o, err := svc.OrderTx(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if o.License != payments.LicenseActive && o.License != payments.LicenseSuspended {
			return ErrNotRevocable
		}
		var idx int64
		err = tx.QueryRow(ctx, `select ledger_index from order_links where order_id = $1`, orderID).Scan(&idx)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotRevocable
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `update orders set license_state = 'revoked', suspended_for = null, updated_at = now() where id = $1`, orderID); err != nil {
			return err
		}
		if o.License == payments.LicenseSuspended {
			if err := minter.UnsuspendLicense(ctx, tx, uint64(idx)); err != nil {
				return err
			}
		}
		if _, err := minter.RevokeLicense(ctx, tx, payments.RevokeRef(orderID), uint64(idx), "operator"); err != nil {
			return fmt.Errorf("reconcile: couldn't enqueue the revoke entry: %w", err)
		}
		return Record(ctx, tx, time.Now(), session, "revoke", orderID, note)
	})
}
