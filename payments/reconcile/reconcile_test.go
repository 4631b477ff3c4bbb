package reconcile_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/internal/btcdtest"
	"github.com/licensed/licensed/internal/fakestripe"
	"github.com/licensed/licensed/internal/launch/regtest"
	"github.com/licensed/licensed/internal/launch/stripemock"
	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/reconcile"
)

func TestMain(m *testing.M) {
	code := m.Run()
	removeSpecs()
	pgtest.Shutdown()
	btcdtest.Cleanup()
	os.Exit(code)
}

const webhookSecret = "whsec_reconcile_test"

// env is a payments service (card method, webhooks only) on its own
// database with a running ledger sequencer. db, svc and ledger are the
// Env's, by the names the tests use.
type env struct {
	*paytest.Env
	t      *testing.T
	db     *pgxpool.Pool
	svc    *payments.Service
	ledger *pgledger.Ledger
	books  *reconcile.Books
}

func newEnv(t *testing.T) *env {
	t.Helper()
	p := paytest.New(t, paytest.Options{WebhookSecret: webhookSecret})
	return &env{Env: p, t: t, db: p.DB, svc: p.Service, ledger: p.Ledger, books: reconcile.NewBooks(p.DB)}
}

// exec runs SQL on the test database.
func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// paidCard makes a card order and settles it through a signed webhook, as
// Stripe would, then waits for its license entry.
func (e *env) paidCard(plan string) string {
	e.t.Helper()
	id := e.CardOrder(plan)
	e.Settle(id)
	e.WaitMinted(id)
	return id
}

func kinds(ex []reconcile.Exception) []string {
	var out []string
	for _, x := range ex {
		out = append(out, string(x.Kind)+":"+x.OrderID)
	}
	slices.Sort(out)
	return out
}

func TestQueues(t *testing.T) {
	e := newEnv(t)
	type order struct {
		state, license, dispute string
		flags                   payments.Flags
		round                   int64
		refunded, linked        bool
		revokeEnqueued          bool
		settledAgo, updatedAgo  time.Duration
	}
	for _, tt := range []struct {
		name string
		o    order
		want []reconcile.Kind
	}{
		{"settled, not minted after the grace", order{state: "settled", license: "active", settledAgo: 10 * time.Minute}, []reconcile.Kind{reconcile.PaidNotMinted}},
		{"settled, not minted yet", order{state: "settled", license: "active", settledAgo: time.Minute}, nil},
		{"settled and minted", order{state: "settled", license: "active", round: 1, settledAgo: time.Hour}, nil},
		{"minted but expired", order{state: "expired", license: "active", round: 2}, []reconcile.Kind{reconcile.MintedNotSettled}},
		{"minted, confirming again after a reorg", order{state: "processing", license: "suspended", round: 2, linked: true}, nil},
		{"minted, processing past the grace", order{state: "processing", license: "suspended", round: 2, linked: true, updatedAgo: 25 * time.Hour}, []reconcile.Kind{reconcile.MintedNotSettled}},
		{"minted, back at new after a double spend", order{state: "new", license: "suspended", round: 2, linked: true}, []reconcile.Kind{reconcile.MintedNotSettled}},
		{"minted but expired, revoked by an operator", order{state: "expired", license: "revoked", round: 2, linked: true}, nil},
		{"reorged after the link was erased", order{state: "processing", license: "suspended", round: 2}, []reconcile.Kind{reconcile.SuspendUnenforced}},
		{"refunded, still active", order{state: "settled", license: "active", refunded: true, round: 3, settledAgo: time.Hour}, []reconcile.Kind{reconcile.RefundedValid}},
		{"dispute lost, suspended", order{state: "settled", license: "suspended", dispute: "lost", round: 3, linked: true, settledAgo: time.Hour}, []reconcile.Kind{reconcile.RefundedValid}},
		{"refunded and revoked", order{state: "settled", license: "revoked", refunded: true, round: 3, linked: true, settledAgo: time.Hour}, nil},
		{"dispute open, active", order{state: "settled", license: "active", dispute: "open", round: 3, settledAgo: time.Hour}, []reconcile.Kind{reconcile.DisputedValid}},
		{"dispute open, suspended", order{state: "settled", license: "suspended", dispute: "open", round: 3, linked: true, settledAgo: time.Hour}, nil},
		{"dispute open after the link was erased", order{state: "settled", license: "suspended", dispute: "open", round: 3, settledAgo: time.Hour}, []reconcile.Kind{reconcile.SuspendUnenforced}},
		{"revoked after the link was erased", order{state: "settled", license: "revoked", refunded: true, round: 4, settledAgo: time.Hour}, []reconcile.Kind{reconcile.RevokeUnreachable}},
		{"revoked, then its link erased by the retention", order{state: "settled", license: "revoked", refunded: true, round: 4, settledAgo: time.Hour, revokeEnqueued: true}, nil},
		{"partly paid", order{state: "new", flags: payments.FlagPaidPartial}, []reconcile.Kind{reconcile.BTCPartial}},
		{"partly paid, expired", order{state: "expired", flags: payments.FlagPaidPartial}, []reconcile.Kind{reconcile.BTCPartial}},
		{"partly paid, then the rest", order{state: "settled", license: "active", flags: payments.FlagPaidPartial, round: 5, settledAgo: time.Hour}, nil},
		{"overpaid", order{state: "settled", license: "active", flags: payments.FlagPaidOver, round: 5, settledAgo: time.Hour}, []reconcile.Kind{reconcile.BTCOver}},
		{"paid late", order{state: "expired", flags: payments.FlagPaidLate}, []reconcile.Kind{reconcile.BTCLate}},
		{"paid late, settled by hand", order{state: "settled", license: "active", flags: payments.FlagPaidLate | payments.FlagMarked, round: 5, settledAgo: time.Hour}, nil},
		{"expired unpaid", order{state: "expired"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := paytest.OrderID(t)
			o := tt.o
			var license, dispute *string
			if o.license != "" {
				license = &o.license
			}
			if o.dispute != "" {
				dispute = &o.dispute
			}
			var round *int64
			if o.round != 0 {
				round = &o.round
			}
			var settled *time.Time
			if o.settledAgo != 0 {
				at := time.Now().Add(-o.settledAgo)
				settled = &at
			}
			e.exec(`insert into orders (id, plan, method, amount, currency, state, flags, license_state, mint_round, refunded, dispute, settled_at, updated_at, revoke_enqueued)
				values ($1, 'basic-30d', 'btc', 500, 'usd', $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				id, o.state, o.flags, license, round, o.refunded, dispute, settled, time.Now().Add(-o.updatedAgo), o.revokeEnqueued)
			if o.linked {
				e.exec(`insert into order_links (order_id, ledger_index, forget_after) values ($1, (select coalesce(max(ledger_index), 0) + 1 from order_links), now() + interval '1 day')`, id)
			}
			ex, err := e.books.Queues(context.Background(), time.Time{}, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			var got []reconcile.Kind
			for _, x := range ex {
				if x.OrderID == id {
					got = append(got, x.Kind)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("exceptions %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOrdersAndRevenue(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.paidCard("basic-30d")
	b := e.paidCard("pro-365d")
	c := e.paidCard("basic-30d")
	e.exec(`update orders set refunded = true where id = $1`, c)
	e.exec(`update orders set settled_at = settled_at - interval '1 day', created_at = created_at - interval '1 day' where id = $1`, b)
	open := paytest.OrderID(t)
	e.exec(`insert into orders (id, plan, method, amount, currency, address) values ($1, 'basic-30d', 'btc', 500, 'usd', $2)`, open, paytest.Address(t))
	for _, tt := range []struct {
		name string
		f    reconcile.Filter
		want []string
	}{
		{"all", reconcile.Filter{}, []string{a, b, c, open}},
		{"settled", reconcile.Filter{State: "settled"}, []string{a, b, c}},
		{"card", reconcile.Filter{Method: "card"}, []string{a, b, c}},
		{"plan", reconcile.Filter{Plan: "pro-365d"}, []string{b}},
		{"today", reconcile.Filter{From: time.Now().UTC().Truncate(24 * time.Hour)}, []string{a, c, open}},
		{"until today", reconcile.Filter{To: time.Now().UTC().Truncate(24 * time.Hour)}, []string{b}},
		{"one", reconcile.Filter{ID: open}, []string{open}},
		{"by PaymentIntent", reconcile.Filter{ID: fakestripe.DevPaymentIntent(b)}, []string{b}},
		{"limit", reconcile.Filter{Limit: 1}, nil}, // checked by count below
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := e.books.Orders(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if tt.f.Limit == 1 {
				if len(rows) != 1 {
					t.Fatalf("%d rows with limit 1", len(rows))
				}
				return
			}
			var got []string
			for _, r := range rows {
				got = append(got, r.ID)
				if r.ID == a && (!r.Linked || r.PaymentRef != fakestripe.DevPaymentIntent(a) || r.MintRound == 0) {
					t.Errorf("row of a paid card order: %+v", r)
				}
			}
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("orders %v, want %v", got, want)
			}
		})
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	rev, err := e.books.Revenue(ctx, today.AddDate(0, 0, -1), today.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	want := []reconcile.Revenue{
		{Day: today.AddDate(0, 0, -1), Plan: "pro-365d", Currency: "usd", Amount: 500, Orders: 1},
		{Day: today, Plan: "basic-30d", Currency: "usd", Amount: 500, Orders: 1}, // c is refunded
	}
	if !slices.Equal(rev, want) {
		t.Fatalf("revenue %+v, want %+v", rev, want)
	}
}

func TestReconcileLedger(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 4; i++ {
		ids = append(ids, e.paidCard("basic-30d"))
	}
	day := time.Now().UTC().Truncate(24 * time.Hour)
	from, to := day, day.AddDate(0, 0, 1)
	r := &reconcile.Reconciler{Books: e.books, Ledger: reconcile.LedgerStore(e.ledger.Store())}
	rep, err := r.Run(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Exceptions) != 0 || rep.Orders != 4 || rep.Rounds == 0 || !slices.Equal(rep.Sources, []string{"database", "ledger"}) {
		t.Fatalf("clean books: %+v", rep)
	}
	rows, _ := e.books.Orders(ctx, reconcile.Filter{})
	index := map[string]int64{}
	round := map[string]int64{}
	for _, row := range rows {
		index[row.ID], round[row.ID] = row.LedgerIndex, row.MintRound
	}

	// 1. A license revoked in the database, no revoke entry: exact match
	// while linked.
	e.exec(`update orders set license_state = 'revoked' where id = $1`, ids[0])
	// 2. A revoke entry on the ledger for an active, linked license.
	if _, err := e.ledger.Append(ctx, &ledger.RevokeEntry{Target: uint64(index[ids[1]]), Reason: ledger.RevokeOperator}); err != nil {
		t.Fatal(err)
	}
	// 3. A link that points at that revoke entry instead of a license.
	cp, _ := e.ledger.Store().Latest(ctx)
	e.exec(`update order_links set ledger_index = $2 where order_id = $1`, ids[2], cp.Size-1)
	// 4. After the link is erased, only rounds can be compared: an order
	// claiming a round it was not minted in unbalances two rounds.
	e.exec(`delete from order_links where order_id = $1`, ids[3])
	other := round[ids[0]]
	if other == round[ids[3]] {
		// All in one round: claim a round that has no license entry.
		other = round[ids[3]] + 1000
	}
	e.exec(`update orders set mint_round = $2 where id = $1`, ids[3], other)

	rep, err = r.Run(ctx, from, to)
	if err != nil {
		t.Fatal(err)
	}
	// The same two rounds, whatever the period.
	bs, err := r.Rounds(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var unbalanced []int64
	for _, b := range bs {
		if !b.Balanced() {
			unbalanced = append(unbalanced, b.Round)
		}
	}
	if wantRounds := []int64{min(round[ids[3]], other), max(round[ids[3]], other)}; !slices.Equal(unbalanced, wantRounds) {
		t.Fatalf("unbalanced rounds %v, want %v (%+v)", unbalanced, wantRounds, bs)
	}
	if _, err := (&reconcile.Reconciler{Books: e.books}).Rounds(ctx, from, to); err == nil {
		t.Fatal("rounds compared without a ledger")
	}
	got := kinds(rep.Exceptions)
	want := []string{
		string(reconcile.RevokedNotOnLog) + ":" + ids[0],
		string(reconcile.RevokedOnLogOnly) + ":" + ids[1],
		string(reconcile.LinkNotLicense) + ":" + ids[2],
		string(reconcile.RoundMismatch) + ":",
	}
	// Two rounds no longer balance: the one it left and the one it claims.
	want = append(want, string(reconcile.RoundMismatch)+":")
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("exceptions %q, want %q", got, want)
	}
	// The same run as CSV.
	var buf bytes.Buffer
	if err := reconcile.WriteExceptionsCSV(&buf, rep.Exceptions); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != len(want)+1 || !slices.Equal(recs[0], reconcile.CSVHeader) {
		t.Fatalf("CSV %q, %v", recs, err)
	}
}

func TestStripeProcessor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.paidCard("basic-30d")
	// The bundled stripe-mock answers every list with the same fixture: one
	// charge balance transaction, created 1234567890 (2009-02-13), whose
	// source is not a PaymentIntent's charge. With the order made that day,
	// the order is therefore missing at Stripe, and Stripe's transaction is
	// unknown to the books. The refund list is that charge too, which is not
	// a refund and is not read as one.
	fixture := time.Unix(1234567890, 0).UTC()
	day := fixture.Truncate(24 * time.Hour)
	e.exec(`update orders set created_at = $2, settled_at = $2 where id = $1`, id, fixture.Add(-time.Minute))
	st := reconcile.NewStripe("sk_test_123", stripemock.Start(t), nil)
	r := &reconcile.Reconciler{Books: e.books, Processors: []reconcile.Processor{st}}
	if _, err := r.Run(ctx, day, day.AddDate(0, 0, 1)); err == nil || !strings.Contains(err.Error(), "Books") {
		t.Fatalf("a Stripe processor without Books ran: %v", err)
	}
	st.Books = e.books
	rep, err := r.Run(ctx, day, day.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	got := kinds(rep.Exceptions)
	want := []string{string(reconcile.StripeMissing) + ":" + id, string(reconcile.StripeUnknown) + ":"}
	if !slices.Equal(got, want) || !slices.Contains(rep.Sources, "stripe") {
		t.Fatalf("exceptions %q, want %q", got, want)
	}
	for _, x := range rep.Exceptions {
		if x.Kind == reconcile.StripeUnknown && !strings.HasPrefix(x.Ref, "txn_") {
			t.Fatalf("unknown charge ref %q", x.Ref)
		}
	}
}

func TestMatchCharges(t *testing.T) {
	row := func(id, state, intent string, amount int64) reconcile.Row {
		return reconcile.Row{ID: id, Method: "card", State: payments.State(state), PaymentRef: intent, Amount: amount, Currency: "usd"}
	}
	for _, tt := range []struct {
		name    string
		rows    []reconcile.Row
		charges []reconcile.Charge
		want    []string
	}{
		{"all match", []reconcile.Row{row("a", "settled", "pi_a", 500)}, []reconcile.Charge{{ID: "txn_a", PaymentIntent: "pi_a", Amount: 500, Currency: "usd"}}, nil},
		{"missing at Stripe", []reconcile.Row{row("a", "settled", "pi_a", 500)}, nil, []string{"stripe_missing:a"}},
		{"amount differs", []reconcile.Row{row("a", "settled", "pi_a", 500)}, []reconcile.Charge{{ID: "txn_a", PaymentIntent: "pi_a", Amount: 400, Currency: "usd"}}, []string{"stripe_amount:a"}},
		{"converted currency", []reconcile.Row{row("a", "settled", "pi_a", 500)}, []reconcile.Charge{{ID: "txn_a", PaymentIntent: "pi_a", Amount: 460, Currency: "eur"}}, nil},
		{"unknown charge", nil, []reconcile.Charge{{ID: "txn_x", PaymentIntent: "pi_x", Amount: 500, Currency: "usd"}}, []string{"stripe_unknown:"}},
		{"charge of an unsettled order", []reconcile.Row{row("a", "processing", "pi_a", 500)}, []reconcile.Charge{{ID: "txn_a", PaymentIntent: "pi_a", Amount: 500, Currency: "usd"}}, nil},
		{"bitcoin orders are not Stripe's", []reconcile.Row{{ID: "b", Method: "btc", State: "settled"}}, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := kinds(reconcile.MatchCharges(tt.rows, tt.charges)); !slices.Equal(got, tt.want) {
				t.Fatalf("exceptions %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMatchRefunds(t *testing.T) {
	orders := []reconcile.Row{
		{ID: "a", PaymentRef: "pi_a", Refunded: true, License: "revoked"},
		{ID: "b", PaymentRef: "pi_b", License: "active"},
	}
	refund := func(intent string, amount, refunded int64, full bool) reconcile.Charge {
		return reconcile.Charge{ID: "txn_" + intent, PaymentIntent: intent, Amount: -amount, Currency: "usd",
			ChargeAmount: 500, ChargeRefunded: refunded, FullyRefunded: full}
	}
	for _, tt := range []struct {
		name    string
		refunds []reconcile.Charge
		want    []string
	}{
		{"recorded full refund", []reconcile.Charge{refund("pi_a", 500, 500, true)}, nil},
		{"last of partial refunds, recorded", []reconcile.Charge{refund("pi_a", 100, 500, true)}, nil},
		{"full refund the order does not know", []reconcile.Charge{refund("pi_b", 500, 500, true)}, []string{"stripe_refund_unrecorded:b"}},
		{"partial refund, license kept", []reconcile.Charge{refund("pi_b", 200, 200, false)}, nil},
		{"two partial refunds, license kept", []reconcile.Charge{refund("pi_b", 200, 300, false), refund("pi_b", 100, 300, false)}, nil},
		{"order refunded, Stripe only partly", []reconcile.Charge{refund("pi_a", 200, 200, false)}, []string{"stripe_refunded_partly:a"}},
		{"refund whose charge Stripe did not send", []reconcile.Charge{{ID: "txn_5", PaymentIntent: "pi_b", Amount: -200}}, []string{"stripe_refund_unrecorded:b"}},
		{"refund of no order", []reconcile.Charge{refund("pi_x", 200, 200, false)}, []string{"stripe_unknown:"}},
		{"refund without PaymentIntent", []reconcile.Charge{{ID: "txn_4", Amount: -500}}, []string{"stripe_unknown:"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := kinds(reconcile.MatchRefunds(orders, tt.refunds)); !slices.Equal(got, tt.want) {
				t.Fatalf("exceptions %q, want %q", got, tt.want)
			}
		})
	}
}

func TestByPaymentRef(t *testing.T) {
	e := newEnv(t)
	a, b := e.paidCard("basic-30d"), e.paidCard("pro-365d")
	e.exec(`update orders set created_at = now() - interval '400 days' where id = $1`, a)
	rows, err := e.books.ByPaymentRef(context.Background(), []string{fakestripe.DevPaymentIntent(a), "pi_nobody"})
	if err != nil || len(rows) != 1 || rows[0].ID != a {
		t.Fatalf("rows %+v, %v (want only %s, not %s)", rows, err, a, b)
	}
	if rows, err := e.books.ByPaymentRef(context.Background(), nil); err != nil || len(rows) != 0 {
		t.Fatalf("no refs: %+v, %v", rows, err)
	}
}

func TestChainProcessor(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	node := btcdtest.Start(t)
	pay := func(confirmed bool) (string, string) {
		t.Helper()
		id := paytest.OrderID(t)
		e.exec(`insert into orders (id, plan, method, amount, currency, state) values ($1, 'basic-30d', 'btc', 500, 'usd', 'settled')`, id)
		addr := node.Wallet.Address() // any address will do: btcd is asked about the txid
		e.exec(`insert into btc_invoices (order_id, address_index, address, amount_sats, rate, expires_at)
			values ($1, nextval('btc_address_index'), $2, 10000, 5000000, now() + interval '15 minutes')`, id, id)
		tx, err := node.Wallet.Pay(regtest.Output{Address: addr, Sats: 10000})
		if err != nil {
			t.Fatal(err)
		}
		txid := tx.TxHash().String()
		if confirmed {
			node.MustMine(1)
		}
		e.exec(`insert into btc_payments (outpoint, order_id, amount_sats, seen_at) values ($1, $2, 10000, now())`, txid+":0", id)
		return id, txid
	}
	confirmed, confirmedTx := pay(true)
	unconfirmed, _ := pay(false)
	ghost := paytest.OrderID(t)
	e.exec(`insert into orders (id, plan, method, amount, currency, state) values ($1, 'basic-30d', 'btc', 500, 'usd', 'settled')`, ghost)
	e.exec(`insert into btc_invoices (order_id, address_index, address, amount_sats, rate, expires_at)
		values ($1, nextval('btc_address_index'), $1, 10000, 5000000, now())`, ghost)
	e.exec(`insert into btc_payments (outpoint, order_id, amount_sats, seen_at) values ($1, $2, 10000, now())`, strings.Repeat("ab", 32)+":0", ghost)
	day := time.Now().UTC().Truncate(24 * time.Hour)
	r := &reconcile.Reconciler{Books: e.books, Processors: []reconcile.Processor{&reconcile.Chain{RPC: node.RPC, Payments: e.books.BTCPayments}}}
	rep, err := r.Run(ctx, day, day.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := e.books.Orders(ctx, reconcile.Filter{ID: confirmed})
	if err != nil || len(rows) != 1 || rows[0].PaymentRef != confirmedTx+":0" {
		t.Fatalf("the order's payment reference: %+v, %v", rows, err)
	}
	// Support finds the order by the txid the customer quotes.
	if rows, err := e.books.Orders(ctx, reconcile.Filter{ID: confirmedTx}); err != nil || len(rows) != 1 || rows[0].ID != confirmed {
		t.Fatalf("orders by txid: %+v, %v", rows, err)
	}
	got := kinds(rep.Exceptions)
	want := []string{string(reconcile.BTCUnconfirmed) + ":" + ghost, string(reconcile.BTCUnconfirmed) + ":" + unconfirmed}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("exceptions %q, want %q (confirmed order %s)", got, want, confirmed)
	}
	node.MustMine(1)
	rep, err = r.Run(ctx, day, day.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(rep.Exceptions); !slices.Equal(got, []string{string(reconcile.BTCUnconfirmed) + ":" + ghost}) {
		t.Fatalf("after a block: %q", got)
	}
}

func TestOrdersCSV(t *testing.T) {
	at := time.Date(2026, 11, 22, 3, 4, 5, 0, time.UTC)
	rows := []reconcile.Row{
		{ID: "a", CreatedAt: at, Plan: "basic-30d", Method: "card", Amount: 500, Currency: "usd", State: "settled", Flags: payments.FlagPaidOver, License: "active", MintRound: 7, LedgerIndex: 3, Linked: true, PaymentRef: "pi_1", SettledAt: at},
		{ID: "b", CreatedAt: at, Plan: "=cmd|' /C calc'!A0", Method: "btc", Amount: 500, Currency: "usd", State: "new", LedgerIndex: -1,
			BTCSats: 1_000_000, BTCReceivedSats: 400_000, BTCRate: 5_000_000},
	}
	var buf bytes.Buffer
	if err := reconcile.WriteOrdersCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		reconcile.OrdersCSVHeader,
		{"a", "2026-11-22T03:04:05Z", "basic-30d", "card", "500", "usd", "settled", "paid_over", "active", "7", "3", "pi_1", "false", "", "2026-11-22T03:04:05Z", "", "", ""},
		{"b", "2026-11-22T03:04:05Z", "'=cmd|' /C calc'!A0", "btc", "500", "usd", "new", "", "", "", "", "", "false", "", "", "0.01000000", "0.00400000", "50000.00"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records, want %d", len(recs), len(want))
	}
	for i := range want {
		if !slices.Equal(recs[i], want[i]) {
			t.Errorf("record %d: %q, want %q", i, recs[i], want[i])
		}
	}
}

// FuzzExceptionsCSV checks that any exception survives the CSV round trip
// (with formula-looking text defused by a leading apostrophe).
func FuzzExceptionsCSV(f *testing.F) {
	f.Add("paid_not_minted", "abc", int64(3), "pi_1", "settled at 2026-11-22")
	f.Add("stripe_unknown", "", int64(0), "=HYPERLINK(\"x\")", "a,b\n\"c\"")
	f.Add("round_mismatch", "", int64(-1), "@x", "\r\n")
	f.Fuzz(func(t *testing.T, kind, order string, round int64, ref, detail string) {
		var buf bytes.Buffer
		ex := []reconcile.Exception{{Kind: reconcile.Kind(kind), OrderID: order, Round: round, Ref: ref, Detail: detail}}
		if err := reconcile.WriteExceptionsCSV(&buf, ex); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("unreadable CSV: %v\n%q", err, buf.String())
		}
		if len(recs) != 2 || len(recs[1]) != len(reconcile.CSVHeader) {
			t.Fatalf("records %q", recs)
		}
		got := recs[1]
		norm := func(s string) string { return strings.ReplaceAll(s, "\r", "") } // encoding/csv drops carriage returns before newlines
		unsafe := func(s string) bool { return s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) }
		for i, want := range map[int]string{3: ref, 4: detail} {
			if unsafe(want) {
				want = "'" + want
			}
			if norm(got[i]) != norm(want) {
				t.Fatalf("field %d: %q, want %q", i, got[i], want)
			}
		}
		if norm(got[0]) != norm(kind) || norm(got[1]) != norm(order) {
			t.Fatalf("kind/order %q %q", got[0], got[1])
		}
	})
}

// An order made just before the end of the period and minted just after is
// matched with its round, though the round was committed outside the period.
func TestReconcileRoundAfterPeriod(t *testing.T) {
	e := newEnv(t)
	id := e.paidCard("basic-30d")
	day := time.Now().UTC().Truncate(24 * time.Hour)
	e.exec(`update orders set created_at = $2 where id = $1`, id, day.Add(-time.Minute))
	r := &reconcile.Reconciler{Books: e.books, Ledger: reconcile.LedgerStore(e.ledger.Store())}
	rep, err := r.Run(context.Background(), day.AddDate(0, 0, -1), day)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Orders != 1 || rep.Rounds != 1 || len(rep.Exceptions) != 0 {
		t.Fatalf("report %+v", rep)
	}
	// A round the ledger does not have at all is a mismatch.
	e.exec(`update orders set mint_round = 999999 where id = $1`, id)
	rep, err = r.Run(context.Background(), day.AddDate(0, 0, -1), day)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(rep.Exceptions); !slices.Equal(got, []string{string(reconcile.RoundMismatch) + ":"}) || rep.Exceptions[0].Round != 999999 {
		t.Fatalf("exceptions %+v", rep.Exceptions)
	}
}
