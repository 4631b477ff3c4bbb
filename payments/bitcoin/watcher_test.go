package bitcoin_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/internal/launch/regtest"
	"github.com/licensed/licensed/internal/launch/stripemock"
	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/bitcoin"
	"github.com/licensed/licensed/payments/reconcile"
	"github.com/licensed/licensed/ringverify"
)

func TestExactPaymentSettlesAfterConfirmationsAndMintsOnce(t *testing.T) {
	e := newEnv(t, envOptions{confirmations: 2})
	id, inv := e.order()
	if !strings.HasPrefix(inv["bip21"].(string), "bitcoin:"+inv["address"].(string)+"?amount=0.0001") {
		t.Fatalf("bip21 %q", inv["bip21"])
	}
	e.pay(inv, planPrice)
	e.waitOrder(id, payments.StateProcessing, 0)
	e.node.MustMine(1)
	e.stays(id, payments.StateProcessing, 0) // 1 of 2 confirmations
	e.node.MustMine(1)
	o := e.waitOrder(id, payments.StateSettled, 0)
	if o.License != payments.LicenseActive {
		t.Fatalf("license %q, want active", o.License)
	}
	e.waitMinted(id)
	// More blocks, a restarted watcher and a re-run of every block change
	// nothing: one license entry.
	e.node.MustMine(3)
	want := int32(btcdtest_height(e) + 5)
	e.waitFor("the watcher processes the blocks", func() bool { return e.tip() == want })
	e.stopWatcher()
	if _, err := e.db.Exec(context.Background(), `update btc_chain set height = height - 4, hash = (select hash from btc_blocks where height = (select height - 4 from btc_chain))`); err != nil {
		t.Fatal(err)
	}
	e.newMethod()
	e.startWatcher()
	e.waitFor("the watcher re-processes the blocks", func() bool { return e.tip() == want })
	e.stays(id, payments.StateSettled, 0)
	if n := e.licenses(); n != 1 {
		t.Fatalf("%d license entries, want exactly 1", n)
	}
	inv2, err := e.btc.Invoice(context.Background(), id)
	if err != nil || len(inv2.Payments) != 1 || inv2.Verdict.Confirmed != planPrice {
		t.Fatalf("invoice %+v, %v", inv2, err)
	}
}

func TestPartialPayment(t *testing.T) {
	e := newEnv(t, envOptions{})
	id, inv := e.order()
	e.pay(inv, planPrice-1)
	e.waitOrder(id, payments.StateNew, payments.FlagPaidPartial)
	e.node.MustMine(1)
	e.stays(id, payments.StateNew, payments.FlagPaidPartial)
	if n := e.licenses(); n != 0 {
		t.Fatalf("%d license entries for a partial payment", n)
	}
}

func TestOverpayment(t *testing.T) {
	e := newEnv(t, envOptions{})
	id, inv := e.order()
	e.pay(inv, planPrice*3)
	e.waitOrder(id, payments.StateProcessing, payments.FlagPaidOver)
	e.node.MustMine(1)
	e.waitOrder(id, payments.StateSettled, payments.FlagPaidOver)
	e.waitMinted(id)
}

func TestLatePayment(t *testing.T) {
	e := newEnv(t, envOptions{expiry: time.Second})
	id, inv := e.order()
	e.waitOrder(id, payments.StateExpired, 0) // the tick expires it
	e.pay(inv, planPrice)
	e.waitOrder(id, payments.StateExpired, payments.FlagPaidLate)
	e.node.MustMine(1)
	e.stays(id, payments.StateExpired, payments.FlagPaidLate)
	if n := e.licenses(); n != 0 {
		t.Fatalf("%d license entries for a late payment (only an operator may settle it)", n)
	}
	// The operator accepts it; later blocks must not take it back.
	if err := pgx.BeginFunc(context.Background(), e.db, func(tx pgx.Tx) error {
		_, err := e.svc.Transition(context.Background(), tx, id, payments.StateSettled, payments.FlagMarked, "operator")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e.node.MustMine(2)
	e.stays(id, payments.StateSettled, payments.FlagPaidLate|payments.FlagMarked)
	e.waitMinted(id)
	if n := e.licenses(); n != 1 {
		t.Fatalf("%d license entries, want 1", n)
	}
}

func TestTwoPaymentsToOneInvoice(t *testing.T) {
	e := newEnv(t, envOptions{})
	id, inv := e.order()
	e.pay(inv, planPrice/2)
	e.node.MustMine(1)
	e.waitOrder(id, payments.StateNew, payments.FlagPaidPartial)
	// Paid in full by the second payment: no longer partly paid (the flag
	// follows the money).
	e.pay(inv, planPrice/2)
	e.waitOrder(id, payments.StateProcessing, 0)
	e.node.MustMine(1)
	e.waitOrder(id, payments.StateSettled, 0)
	e.waitMinted(id)
	got, err := e.btc.Invoice(context.Background(), id)
	if err != nil || len(got.Payments) != 2 || got.Verdict.Seen != planPrice {
		t.Fatalf("invoice %+v, %v", got, err)
	}
}

func TestReorg(t *testing.T) {
	e := newEnv(t, envOptions{})
	id, inv := e.order()
	e.pay(inv, planPrice)
	hs := e.node.MustMine(1)
	e.waitOrder(id, payments.StateSettled, 0)
	e.waitMinted(id)
	h, _ := chainhash.NewHashFromStr(hs[0])
	if err := e.node.RPC.InvalidateBlock(h); err != nil {
		t.Fatal(err)
	}
	o := e.waitOrder(id, payments.StateProcessing, 0)
	if o.License != payments.LicenseSuspended {
		t.Fatalf("license %q after the reorg, want suspended", o.License)
	}
	// With the default retention of 0 the link is still there (the payment
	// was not buried), so the index itself refuses the license: admission
	// and the valid list with it.
	idx, linked := e.Link(id)
	if !linked {
		t.Fatal("the order → entry link is gone before the payment was buried")
	}
	e.WaitSequenced()
	if m, err := e.Index.Member(idx); err != nil || m.State != ringverify.Suspended {
		t.Fatalf("index member %d after the reorg: %+v, %v; want suspended", idx, m, err)
	}
	// A different block at the same height (another transaction in it)
	// confirms the payment again.
	other, _ := btcutil.NewAddressWitnessPubKeyHash(make([]byte, 20), e.node.Params())
	if _, err := e.node.Wallet.Pay(regtest.Output{Address: other, Sats: 5000}); err != nil {
		t.Fatal(err)
	}
	e.node.MustMine(1)
	o = e.waitOrder(id, payments.StateSettled, 0)
	if o.License != payments.LicenseActive {
		t.Fatalf("license %q after the payment confirmed again, want active", o.License)
	}
	if n := e.licenses(); n != 1 {
		t.Fatalf("%d license entries, want exactly 1", n)
	}
	e.WaitSequenced()
	if m, err := e.Index.Member(idx); err != nil || m.State != ringverify.Active {
		t.Fatalf("index member %d after the payment confirmed again: %+v, %v; want active", idx, m, err)
	}
	// Buried (ReorgDepth confirmations): the link is released to the
	// retention, which erases it.
	e.node.MustMine(bitcoin.DefaultReorgDepth)
	e.waitFor("the link released once the payment is buried", func() bool {
		var hold bool
		e.db.QueryRow(context.Background(), `select hold from order_links where order_id = $1`, id).Scan(&hold)
		return !hold
	})
	if _, err := e.svc.ForgetLinks(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, linked := e.Link(id); linked {
		t.Fatal("the link of a buried payment outlived a retention of 0")
	}
}

// TestReorgDeeperThanReorgDepth: a reorg that takes back a payment after its
// link was erased (deeper than ReorgDepth) cannot reach the index; the order
// says suspended and reconciliation reports it as suspend_unenforced.
func TestReorgDeeperThanReorgDepth(t *testing.T) {
	e := newEnv(t, envOptions{reorgDepth: 2})
	id, inv := e.order()
	e.pay(inv, planPrice)
	hs := e.node.MustMine(2)
	e.waitOrder(id, payments.StateSettled, 0)
	e.waitMinted(id)
	e.waitFor("the link released", func() bool {
		var hold bool
		e.db.QueryRow(context.Background(), `select hold from order_links where order_id = $1`, id).Scan(&hold)
		return !hold
	})
	if _, err := e.svc.ForgetLinks(context.Background()); err != nil {
		t.Fatal(err)
	}
	books := reconcile.NewBooks(e.db)
	if ex, err := books.Queues(context.Background(), time.Time{}, time.Time{}); err != nil || len(ex) != 0 {
		t.Fatalf("exceptions before the reorg: %+v, %v", ex, err)
	}
	h, _ := chainhash.NewHashFromStr(hs[0])
	if err := e.node.RPC.InvalidateBlock(h); err != nil {
		t.Fatal(err)
	}
	o := e.waitOrder(id, payments.StateProcessing, 0)
	if o.License != payments.LicenseSuspended {
		t.Fatalf("license %q after the reorg, want suspended", o.License)
	}
	ex, err := books.Queues(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ex) != 1 || ex[0].Kind != reconcile.SuspendUnenforced || ex[0].OrderID != id {
		t.Fatalf("exceptions after a reorg past the link: %+v; want one %s for %s", ex, reconcile.SuspendUnenforced, id)
	}
}

// TestReorgThenDoubleSpend: a reorg sends the payment back to the mempool,
// where the payer replaces it with a transaction paying less; the settled
// order falls back to new with paid_partial and its license stays suspended.
func TestReorgThenDoubleSpend(t *testing.T) {
	e := newEnv(t, envOptions{confirmations: 2})
	id, inv := e.order()
	tx := e.pay(inv, planPrice)
	hs := e.node.MustMine(2)
	e.waitOrder(id, payments.StateSettled, 0)
	e.waitMinted(id)
	// Both blocks leave the best chain.
	h, _ := chainhash.NewHashFromStr(hs[0])
	if err := e.node.RPC.InvalidateBlock(h); err != nil {
		t.Fatal(err)
	}
	e.waitOrder(id, payments.StateProcessing, 0)
	addr, _ := btcutil.DecodeAddress(inv["address"].(string), e.node.Params())
	if _, err := e.node.Wallet.Replace(tx, regtest.Output{Address: addr, Sats: planPrice / 4}); err != nil {
		t.Fatal(err)
	}
	o := e.waitOrder(id, payments.StateNew, payments.FlagPaidPartial)
	if o.License != payments.LicenseSuspended {
		t.Fatalf("license %q, want suspended", o.License)
	}
	e.node.MustMine(3)
	e.stays(id, payments.StateNew, payments.FlagPaidPartial)
	if n := e.licenses(); n != 1 {
		t.Fatalf("%d license entries, want the one (suspended) entry", n)
	}
}

func TestRBFReplacementPayingLess(t *testing.T) {
	e := newEnv(t, envOptions{})
	id, inv := e.order()
	tx := e.pay(inv, planPrice)
	e.waitOrder(id, payments.StateProcessing, 0)
	addr, _ := btcutil.DecodeAddress(inv["address"].(string), e.node.Params())
	if _, err := e.node.Wallet.Replace(tx, regtest.Output{Address: addr, Sats: planPrice / 2}); err != nil {
		t.Fatal(err)
	}
	e.waitOrder(id, payments.StateNew, payments.FlagPaidPartial)
	e.node.MustMine(1)
	e.stays(id, payments.StateNew, payments.FlagPaidPartial)
	got, _ := e.btc.Invoice(context.Background(), id)
	dropped := 0
	for _, p := range got.Payments {
		if p.Dropped {
			dropped++
		}
	}
	if len(got.Payments) != 2 || dropped != 1 {
		t.Fatalf("payments %+v: want the replaced one dropped and the replacement kept", got.Payments)
	}
}

// TestDoubleSpentElsewhere: the payer double spends a payment to an address
// that is not the invoice's. No payment of the invoice announces it, so the
// periodic check finds the payment refused by btcd and, after a grace for a
// replacement's notification, marks it dropped: the order falls back to new.
func TestDoubleSpentElsewhere(t *testing.T) {
	e := newEnv(t, envOptions{})
	id, inv := e.order()
	tx := e.pay(inv, planPrice)
	e.waitOrder(id, payments.StateProcessing, 0)
	var h [20]byte
	rand.Read(h[:])
	elsewhere, err := btcutil.NewAddressWitnessPubKeyHash(h[:], e.node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.node.Wallet.Replace(tx, regtest.Output{Address: elsewhere, Sats: planPrice}); err != nil {
		t.Fatal(err)
	}
	e.waitOrder(id, payments.StateNew, 0)
	got, _ := e.btc.Invoice(context.Background(), id)
	if len(got.Payments) != 1 || !got.Payments[0].Dropped {
		t.Fatalf("payments %+v: want the one payment, dropped", got.Payments)
	}
}

// TestRBFFeeBumpAfterExpiry: a payment made in time whose fee is bumped
// (BIP125 replacement, same amount) after the invoice expired is not late.
func TestRBFFeeBumpAfterExpiry(t *testing.T) {
	e := newEnv(t, envOptions{})
	id, inv := e.order()
	tx := e.pay(inv, planPrice)
	e.waitOrder(id, payments.StateProcessing, 0)
	e.passExpiry(id)
	addr, _ := btcutil.DecodeAddress(inv["address"].(string), e.node.Params())
	if _, err := e.node.Wallet.Replace(tx, regtest.Output{Address: addr, Sats: planPrice}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the replacement recorded", func() bool {
		got, _ := e.btc.Invoice(context.Background(), id)
		return len(got.Payments) == 2
	})
	e.node.MustMine(1)
	e.waitOrder(id, payments.StateSettled, 0)
	e.waitMinted(id)
}

// TestBtcdRestart restarts btcd under a running watcher (simnet, whose chain
// survives a restart) and pays while the watcher is reconnecting.
func TestBtcdRestart(t *testing.T) {
	e := newEnv(t, envOptions{net: "simnet"})
	id, inv := e.order()
	e.node.Restart()
	e.pay(inv, planPrice)
	e.node.MustMine(1)
	e.waitOrder(id, payments.StateSettled, 0)
	// And the connection still works for the next invoice.
	id2, inv2 := e.order()
	e.pay(inv2, planPrice)
	e.node.MustMine(1)
	e.waitOrder(id2, payments.StateSettled, 0)
}

// TestBtcdRestartKeepsMempoolPayment: btcd does not keep its mempool across
// a restart. A payment made in time and still unconfirmed is sent to btcd
// again (not marked dropped), the order stays processing past the invoice's
// expiry, and it settles when the payment is mined.
func TestBtcdRestartKeepsMempoolPayment(t *testing.T) {
	e := newEnv(t, envOptions{net: "simnet"})
	id, inv := e.order()
	tx := e.pay(inv, planPrice)
	e.waitOrder(id, payments.StateProcessing, 0)
	e.node.Restart()
	txid := tx.TxHash()
	e.waitFor("the payment back in btcd's mempool", func() bool {
		_, err := e.node.RPC.GetRawTransactionVerbose(&txid)
		return err == nil
	})
	e.passExpiry(id)
	e.stays(id, payments.StateProcessing, 0)
	got, _ := e.btc.Invoice(context.Background(), id)
	if len(got.Payments) != 1 || got.Payments[0].Dropped {
		t.Fatalf("payments %+v: want the one payment, not dropped", got.Payments)
	}
	e.node.MustMine(1)
	e.waitOrder(id, payments.StateSettled, 0)
	e.waitMinted(id)
}

// TestMempoolPaymentWhileWatcherDown: a payment broadcast while no watcher
// runs is found in btcd's mempool when one starts, before any block, so it
// counts as paid in time; its raw transaction is kept only until it confirms.
func TestMempoolPaymentWhileWatcherDown(t *testing.T) {
	e := newEnv(t, envOptions{})
	id, inv := e.order()
	before := e.tip()
	e.stopWatcher()
	e.pay(inv, planPrice)
	e.newMethod()
	e.startWatcher()
	e.waitOrder(id, payments.StateProcessing, 0)
	if e.tip() != before {
		t.Fatal("a block was processed; the payment must be found in the mempool")
	}
	rawKept := func() int {
		var n int
		if err := e.db.QueryRow(context.Background(), `select count(*) from btc_payments where order_id = $1 and raw_tx is not null`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := rawKept(); n != 1 {
		t.Fatalf("%d unconfirmed payments keep their transaction, want 1", n)
	}
	e.node.MustMine(1)
	e.waitOrder(id, payments.StateSettled, 0)
	if n := rawKept(); n != 0 {
		t.Fatalf("%d confirmed payments still keep their transaction, want 0", n)
	}
}

// TestServerRestart stops the watcher, lets blocks pass with a payment in
// them, and starts a new one (a restarted server): it catches up from the
// last processed block.
func TestServerRestart(t *testing.T) {
	e := newEnv(t, envOptions{confirmations: 2})
	id, inv := e.order()
	before := e.tip()
	e.stopWatcher()
	e.pay(inv, planPrice)
	e.node.MustMine(3)
	if e.tip() != before {
		t.Fatal("the tip moved with no watcher running")
	}
	e.newMethod()
	e.startWatcher()
	e.waitOrder(id, payments.StateSettled, 0)
	e.waitFor("the tip catches up", func() bool { return e.tip() == before+3 })
	e.waitMinted(id)
}

// TestRateSourceDown: with no price, btc orders are refused with
// btc_unavailable (503) and leave nothing behind, while card orders on the
// same service keep working.
func TestRateSourceDown(t *testing.T) {
	e := newEnv(t, envOptions{rates: bitcoin.StaticRate{}}) // no usd price
	e.svc.AddMethod(paytest.NewCard(t, payments.CardConfig{APIURL: stripemock.Start(t)}))
	_, _, err := e.svc.CreateOrder(context.Background(), "basic-30d", newAddress(t), "btc")
	if !isCode(err, "btc_unavailable") {
		t.Fatalf("err %v, want btc_unavailable", err)
	}
	var n int
	e.db.QueryRow(context.Background(), `select count(*) from orders`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d orders left behind by a refused btc order", n)
	}
	o, pay, err := e.svc.CreateOrder(context.Background(), "basic-30d", newAddress(t), "card")
	if err != nil || o.Method != "card" || pay["checkout_url"] == nil {
		t.Fatalf("card order while Bitcoin is unavailable: %v, %v, %v", o, pay, err)
	}
}

func TestGapLimit(t *testing.T) {
	e := newEnv(t, envOptions{gapLimit: 2})
	addrs := map[string]bool{}
	for range 3 {
		_, inv := e.order()
		addrs[inv["address"].(string)] = true
	}
	if len(addrs) != 3 {
		t.Fatalf("addresses reused: %v", addrs)
	}
	unused := gauge(t, e.btc, "licensed_btc_unused_addresses")
	if unused != 3 {
		t.Fatalf("unused addresses gauge %v, want 3", unused)
	}
}

func TestInvoiceNotFound(t *testing.T) {
	e := newEnv(t, envOptions{})
	if _, err := e.btc.Invoice(context.Background(), "nope"); !errors.Is(err, bitcoin.ErrNoInvoice) {
		t.Fatalf("err %v", err)
	}
}

// TestInvoiceFromAnotherProcess makes the invoice through a second server
// process's method (no watcher of its own) and pays it at once: the one
// watcher must still see the payment, even if the block came before it
// loaded the new address.
func TestInvoiceFromAnotherProcess(t *testing.T) {
	e := newEnv(t, envOptions{})
	btc2, err := bitcoin.New(e.db, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc2 := e.newService(btc2)
	o, inv, err := svc2.CreateOrder(context.Background(), "basic-30d", newAddress(t), "btc")
	if err != nil {
		t.Fatal(err)
	}
	e.pay(inv, planPrice)
	e.node.MustMine(1)
	e.waitOrder(o.ID, payments.StateSettled, 0)
}

// BenchmarkCatchUp measures how fast a restarted watcher processes the
// blocks it missed (one database transaction and one rescanblocks entry per
// block), with one invoice paid in the last block.
func BenchmarkCatchUp(b *testing.B) {
	for _, blocks := range []int{100, 500} {
		b.Run(fmt.Sprintf("blocks=%d", blocks), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				e := newEnv(b, envOptions{})
				id, inv := e.order()
				e.stopWatcher()
				start := e.tip()
				e.node.MustMine(blocks - 1)
				e.pay(inv, planPrice)
				e.node.MustMine(1)
				e.newMethod()
				b.StartTimer()
				e.startWatcher()
				e.waitFor("caught up", func() bool { return e.tip() == start+int32(blocks) })
				e.waitOrder(id, payments.StateSettled, 0)
				b.StopTimer()
			}
			b.ReportMetric(float64(blocks*b.N)/b.Elapsed().Seconds(), "blocks/s")
		})
	}
}

// TestTwoWatchers runs a second server process's watcher on the same
// database: blocks are processed once (the chain state only moves from the
// block each expected), and the order settles and mints once.
func TestTwoWatchers(t *testing.T) {
	e := newEnv(t, envOptions{})
	btc2, err := bitcoin.New(e.db, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc2 := e.newService(btc2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); btc2.Run(ctx, svc2) }()
	defer func() { cancel(); <-done }()
	start := e.tip()
	var ids []string
	for range 3 {
		id, inv := e.order()
		e.pay(inv, planPrice)
		ids = append(ids, id)
		e.node.MustMine(1)
	}
	for _, id := range ids {
		e.waitOrder(id, payments.StateSettled, 0)
		e.waitMinted(id)
	}
	e.waitFor("both watchers at the tip", func() bool { return e.tip() == start+3 })
	var blocks int
	e.db.QueryRow(context.Background(), `select count(*) from btc_blocks where height > $1`, start).Scan(&blocks)
	if blocks != 3 {
		t.Fatalf("%d block rows above the start, want 3", blocks)
	}
	if n := e.licenses(); n != 3 {
		t.Fatalf("%d license entries, want 3", n)
	}
}

// probeRate is a rate source that, while it is asked, tries to take the one
// connection of the order service's pool: the order's transaction must not
// hold it during a call that may go to a remote ticker.
type probeRate struct {
	pool  *pgxpool.Pool
	calls int
	err   error
}

func (p *probeRate) Rate(ctx context.Context, currency string) (int64, error) {
	p.calls++
	actx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := p.pool.Acquire(actx)
	if err != nil {
		p.err = fmt.Errorf("the order service's only connection is busy during the rate call: %w", err)
	} else {
		c.Release()
	}
	return usdRate, nil
}

// TestRateAskedOutsideTransaction: a btc order prices itself (and takes its
// address) before the order's transaction takes a connection.
func TestRateAskedOutsideTransaction(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	pc := e.db.Config().Copy()
	pc.MaxConns = 1
	one, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	probe := &probeRate{pool: one}
	cfg := e.cfg
	cfg.Rates = probe
	btc, err := bitcoin.New(e.db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	svc := paytest.NewService(t, one, btc)
	o, pay, err := svc.CreateOrder(ctx, "basic-30d", newAddress(t), "btc")
	if err != nil {
		t.Fatal(err)
	}
	if probe.calls != 1 || probe.err != nil {
		t.Fatalf("rate asked %d times; %v", probe.calls, probe.err)
	}
	got, err := btc.Invoice(ctx, o.ID)
	if err != nil || got.Address != pay["address"] || got.AmountSats != planPrice {
		t.Fatalf("stored invoice %+v, %v; want the address %v and %d sats", got, err, pay["address"], planPrice)
	}
}
