package issuer

import (
	"crypto/rand"
	"fmt"
	"io"
	"time"

	"github.com/licensed/licensed/ledger"
)

// Minter makes the ledger entries of paid orders: the license entry of an
// address (License) and the revoke entry of a refund or dispute (Revoke).
// It writes nothing: payments.LedgerMinter enqueues what it makes inside the
// transaction that settles the order, so the order's state change and its
// entry commit or roll back together.
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

// License mints a license output for address (see Mint) with a fresh
// receipt code and the validity of Validity, and returns its license entry.
func (m *Minter) License(address, plan string, paidAt time.Time, durationDays int, dailyQuota uint32) (*ledger.LicenseEntry, error) {
	addr, err := ParseAddress(address)
	if err != nil {
		return nil, err
	}
	nb, na := Validity(paidAt, durationDays)
	p := Payload{Plan: plan, NotBefore: nb, NotAfter: na, DailyQuota: dailyQuota}
	if _, err := io.ReadFull(m.random(), p.Receipt[:]); err != nil {
		return nil, fmt.Errorf("issuer: couldn't draw a receipt code: %w", err)
	}
	out, err := Mint(m.random(), addr, p)
	if err != nil {
		return nil, err
	}
	return &ledger.LicenseEntry{Plan: plan, NotBefore: nb, NotAfter: na, R: out.R, P: out.P, ViewTag: out.ViewTag, Sealed: out.Sealed}, nil
}

// Revoke returns the revoke entry for the license at index. reason is
// "refund", "dispute_lost" or anything else (operator).
func (m *Minter) Revoke(index uint64, reason string) *ledger.RevokeEntry {
	r := ledger.RevokeOperator
	switch reason {
	case "refund":
		r = ledger.RevokeRefund
	case "dispute_lost":
		r = ledger.RevokeDispute
	}
	return &ledger.RevokeEntry{Target: index, Reason: r}
}
