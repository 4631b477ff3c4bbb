package payments

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// ErrNotRevocable refuses an operator's revoke: the order has no license,
// it is already revoked, or its link to the ledger entry was erased after
// the retention (a revoke entry could then target no index).
var ErrNotRevocable = &Error{"not_revocable", "This order's license cannot be revoked here: it has no license, is already revoked, or its link to the ledger entry was erased after the retention."}

// RevokeByOperator revokes the license of order orderID on an operator's
// decision, inside tx (the caller records the action in the same
// transaction). It is the revoke of refunds and lost disputes, with the
// ledger reason "operator": the license becomes revoked, a suspension is
// lifted from the index, and a revoke entry (ref RevokeRef, so at most one
// per order) is enqueued for the next sequencer round.
//
// Unlike a refund, which revokes what it can and leaves the rest to
// reconciliation, an operator is refused with ErrNotRevocable when the
// license is not active or suspended, or when the order → entry link is
// gone: the action would change nothing on the ledger. The order row is
// locked until tx ends, so a concurrent revoke waits and is then refused.
func (s *Service) RevokeByOperator(ctx context.Context, tx pgx.Tx, orderID string) error {
	o, err := getOrder(ctx, tx, orderID, true)
	if err != nil {
		return err
	}
	if o.License != LicenseActive && o.License != LicenseSuspended {
		return ErrNotRevocable
	}
	if _, ok, err := link(ctx, tx, o.ID); err != nil {
		return err
	} else if !ok {
		return ErrNotRevocable
	}
	if _, err := tx.Exec(ctx, `update orders set updated_at = now() where id = $1`, o.ID); err != nil {
		return err
	}
	return s.revoke(ctx, tx, o, "operator")
}
