package issuer

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensed/licensed/ledger"
)

// Minter turns paid orders into ledger entries. It implements
// payments.Minter: every call runs inside the caller's transaction and
// enqueues its entry for the next sequencer round with ledger.Enqueue, so an
// order's state change and its entry commit or roll back together, and a
// repeated ref is a no-op (exactly once).
//
// Minter holds no secrets: minting needs only the customer's public address.
type Minter struct {
	rand io.Reader
}

// NewMinter returns a Minter drawing its randomness (ephemeral keys, receipt
// codes) from rand; nil means crypto/rand.Reader.
func NewMinter(rand io.Reader) *Minter {
	return &Minter{rand: rand}
}

func (m *Minter) random() io.Reader {
	if m.rand == nil {
		return rand.Reader
	}
	return m.rand
}

// Validity returns the validity of a license of durationDays paid at paidAt:
// from midnight UTC of paidAt's day to midnight UTC durationDays+1 days
// later. Every license of one plan paid on one UTC day has the same validity,
// so the ledger's public fields do not tell them apart, and no customer gets
// less than durationDays full days.
func Validity(paidAt time.Time, durationDays int) (notBefore, notAfter time.Time) {
	t := paidAt.UTC()
	notBefore = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return notBefore, notBefore.AddDate(0, 0, durationDays+1)
}

// CheckAddress parses a license address and returns its canonical text form.
// Its errors are *AddressError, with a Code().
func (m *Minter) CheckAddress(s string) (string, error) {
	addr, err := ParseAddress(s)
	if err != nil {
		return "", err
	}
	return addr.String(), nil
}

// MintLicense mints a license output for address (see Mint) with a fresh
// receipt code and the validity of Validity, and enqueues its license entry
// with ref in tx.
func (m *Minter) MintLicense(ctx context.Context, tx pgx.Tx, ref, address, plan string, paidAt time.Time, durationDays int, dailyQuota uint32) (bool, error) {
	addr, err := ParseAddress(address)
	if err != nil {
		return false, fmt.Errorf("issuer: couldn't mint %s: %w", ref, err)
	}
	nb, na := Validity(paidAt, durationDays)
	p := Payload{Plan: plan, NotBefore: nb, NotAfter: na, DailyQuota: dailyQuota}
	if _, err := io.ReadFull(m.random(), p.Receipt[:]); err != nil {
		return false, fmt.Errorf("issuer: couldn't draw a receipt code: %w", err)
	}
	out, err := Mint(m.random(), addr, p)
	if err != nil {
		return false, fmt.Errorf("issuer: couldn't mint %s: %w", ref, err)
	}
	e := &ledger.LicenseEntry{Plan: plan, NotBefore: nb, NotAfter: na, R: out.R, P: out.P, ViewTag: out.ViewTag, Sealed: out.Sealed}
	return ledger.Enqueue(ctx, tx, ref, e)
}

// RevokeLicense enqueues a revoke entry for the license at index with ref.
// reason is "refund", "dispute_lost" or anything else (operator).
func (m *Minter) RevokeLicense(ctx context.Context, tx pgx.Tx, ref string, index uint64, reason string) (bool, error) {
	r := ledger.RevokeOperator
	switch reason {
	case "refund":
		r = ledger.RevokeRefund
	case "dispute_lost":
		r = ledger.RevokeDispute
	}
	return ledger.Enqueue(ctx, tx, ref, &ledger.RevokeEntry{Target: index, Reason: r})
}

// SuspendLicense suspends the license at index (ledger.Suspend).
func (m *Minter) SuspendLicense(ctx context.Context, tx pgx.Tx, index uint64) error {
	return ledger.Suspend(ctx, tx, index)
}

// UnsuspendLicense lifts the suspension of the license at index
// (ledger.Unsuspend).
func (m *Minter) UnsuspendLicense(ctx context.Context, tx pgx.Tx, index uint64) error {
	return ledger.Unsuspend(ctx, tx, index)
}
