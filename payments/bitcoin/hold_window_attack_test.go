package bitcoin_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/licensed/licensed/payments"
)

// TestHeldLinksWindowStarvation: links that stay held for good must not
// keep the link of a later order, whose payment is buried, from being
// released to the retention. The stuck links here are 1000 Bitcoin orders
// that left settled (a reorg, then a double spend) while their licenses are
// still active: the retention never drops those (they are neither released
// nor revoked), so only HeldLinks choosing among settled orders keeps them
// out of its window. Their ids sort before every real order id, so a window
// taken over all held links would be theirs alone.
func TestHeldLinksWindowStarvation(t *testing.T) {
	e := newEnv(t, envOptions{reorgDepth: 2})
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `insert into orders (id, plan, method, amount, currency, state, license_state, mint_round)
		select '0stuck' || lpad(i::text, 20, '0'), 'basic-30d', 'btc', 500, 'usd', 'expired', 'active', 0
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
		if err := e.db.QueryRow(ctx, `select hold from order_links where order_id = $1`, id).Scan(&hold); err != nil {
			t.Fatalf("reading the link of order %s: %v", id, err)
		}
		return !hold
	})
	// The stuck links are still held: the retention has no business with
	// them: neither released nor revoked, they wait for the operator.
	if _, err := e.svc.ForgetLinks(ctx); err != nil {
		t.Fatal(err)
	}
	var stuck int
	if err := e.db.QueryRow(ctx, `select count(*) from order_links where hold and order_id like '0stuck%'`).Scan(&stuck); err != nil {
		t.Fatal(err)
	}
	if stuck != 1000 {
		t.Fatalf("%d stuck links still held, want 1000", stuck)
	}
}
