package bitcoin_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/licensed/licensed/internal/btcdtest"
	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/bitcoin"
)

// TestRoundAndWatcherLockOrdersWithoutDeadlock runs the two transactions
// that change many orders at once against each other on the same orders,
// many times: a sequencer round committing the orders' license entries
// (OnSequenced) and the Bitcoin watcher undoing the block that confirmed
// their payments (a reorg: settled → processing, which suspends the
// licenses). Both lock the orders with payments.LockOrders; if either took
// them in another order, the two would deadlock and Postgres would abort one
// (SQLSTATE 40P01). A third transaction holds the middle order until both
// wait, so their locking overlaps in every iteration: with the round's or the
// watcher's lock taken in descending id order, the first iteration
// deadlocks. Whichever commits first, each order must end processing, its
// license suspended in the index through its link, with one license entry.
//
// It needs Postgres but no btcd: the watcher's evaluate is called directly
// on payments recorded by the test.
func TestRoundAndWatcherLockOrdersWithoutDeadlock(t *testing.T) {
	t.Parallel()
	const iterations, perRound = 30, 12
	e := paytest.New(t, paytest.Options{NoCard: true, ManualRounds: true})
	acct, err := bitcoin.ParseAccount(btcdtest.TestKeys().AccountTpub, &chaincfg.RegressionNetParams)
	if err != nil {
		t.Fatal(err)
	}
	// Never run: its RPC configuration is not dialled.
	btc, err := bitcoin.New(e.DB, bitcoin.Config{Params: &chaincfg.RegressionNetParams, Account: acct,
		Rates: bitcoin.StaticRate{"usd": usdRate}, RPC: &rpcclient.ConnConfig{Host: "127.0.0.1:1"},
		Confirmations: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.Service.AddMethod(btc)
	ctx := context.Background()
	svc := e.Service

	evaluate := func(ids []string, tip int32, reason string) error {
		return pgx.BeginFunc(ctx, e.DB, func(tx pgx.Tx) error {
			if tip == 0 {
				// The block that confirmed them left the best chain.
				if _, err := tx.Exec(ctx, `update btc_payments set block_hash = null, block_height = null
					where order_id = any($1)`, ids); err != nil {
					return err
				}
			}
			return btc.Evaluate(ctx, tx, svc, ids, tip, reason)
		})
	}

	for it := range iterations {
		// perRound orders paid and confirmed in block 1: settled, their
		// mints pending.
		var ids []string
		for range perRound {
			o, pay, err := svc.CreateOrder(ctx, "basic-30d", paytest.Address(t), payments.MethodBTC)
			if err != nil {
				t.Fatal(err)
			}
			var txid [32]byte
			rand.Read(txid[:])
			if _, err := e.DB.Exec(ctx, `insert into btc_payments (outpoint, order_id, amount_sats, seen_at, block_hash, block_height)
				values ($1, $2, $3, now(), 'block1', 1)`, hex.EncodeToString(txid[:])+":0", o.ID, pay["amount_sats"]); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, o.ID)
		}
		if err := evaluate(ids, 1, "test: block 1"); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			if o := e.Order(id); o.State != payments.StateSettled {
				t.Fatalf("iteration %d: order %s %s before the race, want settled", it, id, o.State)
			}
		}

		// The round and the reorg at once; the watcher gets the orders in
		// reverse order, as a block may list them. A third transaction
		// holds the middle order until both wait for a lock, so that their
		// lock statements overlap every time: taken in opposite orders,
		// each would then hold half the orders and want the other half.
		sorted := slices.Sorted(slices.Values(ids))
		gate, err := e.DB.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gate.Exec(ctx, `select id from orders where id = $1 for update`, sorted[perRound/2]); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var roundErr, watchErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			var n int
			n, roundErr = e.Ledger.Round(ctx)
			if roundErr == nil && n != perRound {
				roundErr = fmt.Errorf("round sequenced %d entries, want %d", n, perRound)
			}
		}()
		go func() {
			defer wg.Done()
			rev := slices.Clone(ids)
			slices.Reverse(rev)
			watchErr = evaluate(rev, 0, "test: reorg")
		}()
		waiting := 0
		for deadline := time.Now().Add(10 * time.Second); waiting < 2 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if err := e.DB.QueryRow(ctx, `select count(*) from pg_stat_activity
				where datname = current_database() and wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
		}
		if err := gate.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if waiting < 2 {
			t.Fatalf("iteration %d: the round and the watcher did not both wait for the orders", it)
		}
		for _, err := range []error{roundErr, watchErr} {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "40P01" {
				t.Fatalf("iteration %d: deadlock: %v", it, err)
			} else if err != nil {
				t.Fatalf("iteration %d: %v", it, err)
			}
		}

		if err := e.Index.Sync(ctx, e.Ledger.Store()); err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			o := e.Order(id)
			if o.State != payments.StateProcessing || o.License != payments.LicenseSuspended || !o.Minted() {
				t.Fatalf("iteration %d: order %s ends %s, license %s, minted %v; want processing, suspended, minted",
					it, id, o.State, o.License, o.Minted())
			}
			idx, ok := e.Link(id)
			if !ok {
				t.Fatalf("iteration %d: order %s has no link", it, id)
			}
			var suspended bool
			if err := e.DB.QueryRow(ctx, `select exists (select 1 from license_suspensions where ledger_index = $1)`,
				int64(idx)).Scan(&suspended); err != nil {
				t.Fatal(err)
			}
			if !suspended {
				t.Fatalf("iteration %d: the license of order %s (index %d) is not suspended in the index", it, id, idx)
			}
		}
	}
	var entries, orders int
	if err := e.DB.QueryRow(ctx, `select (select count(*) from ledger_entries), (select count(*) from orders where mint_round is not null)`).Scan(&entries, &orders); err != nil {
		t.Fatal(err)
	}
	if entries != iterations*perRound || orders != iterations*perRound {
		t.Fatalf("%d ledger entries and %d minted orders, want %d of each", entries, orders, iterations*perRound)
	}
}
