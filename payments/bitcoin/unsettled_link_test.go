package bitcoin_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/licensed/licensed/internal/launch/regtest"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/reconcile"
	"github.com/licensed/licensed/ringverify"
)

// TestUnsettledLicenseKeepsLinkForOperator: a reorg takes a settled order's
// payment back and the payer double spends it elsewhere, so the order ends
// expired with its license (suspended) on the ledger. Its link is held, not
// forgotten by the retention: it is a minted_not_settled exception, and the
// operator's revoke needs the link. After the revoke, the link is forgotten
// and no exception is left (the revoke entry was enqueued while the link
// existed, so the license is not revoke_unreachable either).
func TestUnsettledLicenseKeepsLinkForOperator(t *testing.T) {
	e := newEnv(t, envOptions{confirmations: 2})
	ctx := context.Background()
	books := reconcile.NewBooks(e.db)
	exceptions := func() []reconcile.Exception {
		t.Helper()
		ex, err := books.Queues(ctx, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}

	id, inv := e.order()
	tx := e.pay(inv, planPrice)
	hs := e.node.MustMine(2)
	e.waitOrder(id, payments.StateSettled, 0)
	e.waitMinted(id)
	idx, linked := e.Link(id)
	if !linked {
		t.Fatal("no link after the mint")
	}

	h, err := chainhash.NewHashFromStr(hs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := e.node.RPC.InvalidateBlock(h); err != nil {
		t.Fatal(err)
	}
	e.waitOrder(id, payments.StateProcessing, 0)
	var elsewhere [20]byte
	rand.Read(elsewhere[:])
	other, err := btcutil.NewAddressWitnessPubKeyHash(elsewhere[:], e.node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.node.Wallet.Replace(tx, regtest.Output{Address: other, Sats: planPrice}); err != nil {
		t.Fatal(err)
	}
	e.waitOrder(id, payments.StateNew, 0)
	e.node.MustMine(1)
	e.passExpiry(id)
	if o := e.waitOrder(id, payments.StateExpired, 0); o.License != payments.LicenseSuspended {
		t.Fatalf("license %q after the double spend, want suspended", o.License)
	}

	if _, err := e.svc.ForgetLinks(ctx); err != nil {
		t.Fatal(err)
	}
	if _, linked := e.Link(id); !linked {
		t.Fatal("the retention forgot the link of a license whose order left settled: the operator can no longer revoke it")
	}
	ex := exceptions()
	if len(ex) != 1 || ex[0].Kind != reconcile.MintedNotSettled || ex[0].OrderID != id {
		t.Fatalf("exceptions %+v, want one %s for %s", ex, reconcile.MintedNotSettled, id)
	}

	if err := reconcile.Revoke(ctx, e.svc, "test", id, "payment double spent"); err != nil {
		t.Fatalf("operator revoke: %v", err)
	}
	if _, err := e.svc.ForgetLinks(ctx); err != nil {
		t.Fatal(err)
	}
	if _, linked := e.Link(id); linked {
		t.Fatal("the link outlived the revoke")
	}
	// Revoked on the ledger before the link went: not revoke_unreachable.
	if ex := exceptions(); len(ex) != 0 {
		t.Fatalf("exceptions after the operator revoked the license: %+v, want none", ex)
	}
	e.WaitSequenced()
	if m, err := e.Index.Member(idx); err != nil || m.State != ringverify.Revoked {
		t.Fatalf("index member %d after the revoke: %+v, %v; want revoked", idx, m, err)
	}
}
