package bitcoin_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/licensed/licensed/payments"
)

// TestHeldLinksWindowStarvation: links that stay held for good (here: 1000
// Bitcoin orders that left settled after a reorg and a double spend, whose
// licenses the operator then revoked) must not keep the link of a later
// order, whose payment is buried, from being released to the retention.
func TestHeldLinksWindowStarvation(t *testing.T) {
	e := newEnv(t, envOptions{reorgDepth: 2})
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `insert into orders (id, plan, method, amount, currency, state, license_state)
		select '0stuck' || lpad(i::text, 20, '0'), 'basic-30d', 'btc', 500, 'usd', 'expired', 'revoked'
		from generate_series(1, 1000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(ctx, `insert into order_links (order_id, ledger_index, forget_after, hold)
		select '0stuck' || lpad(i::text, 20, '0'), 1000000 + i, now(), true from generate_series(1, 1000) i`); err != nil {
		t.Fatal(err)
	}
	id, inv := e.order()
	e.pay(inv, planPrice)
	e.node.MustMine(2)
	e.waitOrder(id, payments.StateSettled, 0)
	e.waitMinted(id)
	e.node.MustMine(3)
	e.waitFor(fmt.Sprintf("the link of order %s released once its payment is buried", id), func() bool {
		var hold bool
		e.db.QueryRow(ctx, `select hold from order_links where order_id = $1`, id).Scan(&hold)
		return !hold
	})
}
