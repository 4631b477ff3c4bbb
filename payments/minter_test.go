package payments_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/payments"
)

// TestMintLicense mints into a real pending queue: one entry per ref, which
// the address's owner opens, with the plan's terms.
func TestMintLicense(t *testing.T) {
	db := pgtest.Pool(t)
	ctx := context.Background()
	acct, err := issuer.NewAccount(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m := payments.NewLedgerMinter(issuer.NewMinter(nil))
	paidAt := time.Date(2026, 11, 22, 15, 4, 5, 0, time.UTC)
	mint := func(ref string) bool {
		var queued bool
		if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			var err error
			queued, err = m.MintLicense(ctx, tx, ref, acct.Address().String(), "basic-30d", paidAt, 30, 100)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return queued
	}
	if !mint("mint:a") {
		t.Fatal("first mint not queued")
	}
	if mint("mint:a") {
		t.Fatal("a repeated ref was queued again")
	}
	var data []byte
	var n int
	if err := db.QueryRow(ctx, `select count(*), (array_agg(data))[1] from ledger_pending`).Scan(&n, &data); err != nil || n != 1 {
		t.Fatalf("%d pending entries (%v), want 1", n, err)
	}
	en, err := ledger.ParseEntry(data)
	if err != nil {
		t.Fatal(err)
	}
	le := en.(*ledger.LicenseEntry)
	lic, err := issuer.Open(acct, issuer.Output{R: le.R, P: le.P, ViewTag: le.ViewTag, Sealed: le.Sealed})
	if err != nil {
		t.Fatal(err)
	}
	nb, na := issuer.Validity(paidAt, 30)
	p := lic.Payload
	if p.Plan != "basic-30d" || p.DailyQuota != 100 || !p.NotBefore.Equal(nb) || !p.NotAfter.Equal(na) || p.Receipt == [issuer.ReceiptSize]byte{} {
		t.Fatalf("payload %+v", p)
	}
	if le.Plan != p.Plan || !le.NotBefore.Equal(nb) || !le.NotAfter.Equal(na) {
		t.Fatalf("public fields %+v differ from the payload", le)
	}
	// A bad address is an error and queues nothing.
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		_, err := m.MintLicense(ctx, tx, "mint:b", "lic1nope", "basic-30d", paidAt, 30, 100)
		return err
	})
	if err == nil {
		t.Fatal("minted to a bad address")
	}
	// Revoke and suspend go through the ledger's tables.
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := m.RevokeLicense(ctx, tx, "revoke:a", 7, "refund"); err != nil {
			return err
		}
		return m.SuspendLicense(ctx, tx, 7)
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `select data from ledger_pending where ref = 'revoke:a'`).Scan(&data); err != nil {
		t.Fatal(err)
	}
	if en, err := ledger.ParseEntry(data); err != nil || *en.(*ledger.RevokeEntry) != (ledger.RevokeEntry{Target: 7, Reason: ledger.RevokeRefund}) {
		t.Fatalf("revoke entry %+v, %v", en, err)
	}
	if err := db.QueryRow(ctx, `select count(*) from license_suspensions where ledger_index = 7`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("suspension rows %d, %v", n, err)
	}
	if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return m.UnsuspendLicense(ctx, tx, 7) }); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow(ctx, `select count(*) from license_suspensions`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("suspension rows after unsuspend %d, %v", n, err)
	}
}
