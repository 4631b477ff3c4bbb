package payments

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/ledger/pgledger"
)

// LedgerMinter is the Minter of the server: it makes entries with an
// issuer.Minter and enqueues them for the next sequencer round with
// pgledger.Enqueue in the caller's transaction, so an order's state change
// and its entry commit or roll back together, and a repeated ref is a no-op
// (exactly once).
type LedgerMinter struct {
	issuer *issuer.Minter
}

// NewLedgerMinter returns the Minter that enqueues the entries m makes.
func NewLedgerMinter(m *issuer.Minter) *LedgerMinter { return &LedgerMinter{issuer: m} }

var _ Minter = (*LedgerMinter)(nil)

// MintLicense mints a license for address (issuer.Minter.License) and
// enqueues its entry with ref in tx.
func (m *LedgerMinter) MintLicense(ctx context.Context, tx pgx.Tx, ref, address, plan string, paidAt time.Time, durationDays int, dailyQuota uint32) (bool, error) {
	e, err := m.issuer.License(address, plan, paidAt, durationDays, dailyQuota)
	if err != nil {
		return false, fmt.Errorf("issuer: couldn't mint %s: %w", ref, err)
	}
	return pgledger.Enqueue(ctx, tx, ref, e)
}

// RevokeLicense enqueues a revoke entry for the license at index with ref.
// reason is "refund", "dispute_lost" or anything else (operator).
func (m *LedgerMinter) RevokeLicense(ctx context.Context, tx pgx.Tx, ref string, index uint64, reason string) (bool, error) {
	return pgledger.Enqueue(ctx, tx, ref, m.issuer.Revoke(index, reason))
}

// SuspendLicense suspends the license at index (pgledger.Suspend).
func (m *LedgerMinter) SuspendLicense(ctx context.Context, tx pgx.Tx, index uint64) error {
	return pgledger.Suspend(ctx, tx, index)
}

// UnsuspendLicense lifts the suspension of the license at index
// (pgledger.Unsuspend).
func (m *LedgerMinter) UnsuspendLicense(ctx context.Context, tx pgx.Tx, index uint64) error {
	return pgledger.Unsuspend(ctx, tx, index)
}
