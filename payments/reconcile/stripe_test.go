package reconcile_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/fakestripe"
	"github.com/licensed/licensed/internal/launch/stripemock"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/reconcile"
)

// stripe-mock answers every request from one fixture per resource and
// ignores the filters of a list: a balance transaction list is always the
// bundled balance transaction, whose expanded source is always an
// application fee (the first resource its spec allows), with no
// PaymentIntent. To show the Stripe processor a charge or a refund of a
// known PaymentIntent, stripeMock runs the pinned stripe-mock with the
// bundled spec and fixtures edited for one case.

var specs struct {
	sync.Mutex
	dir   string            // removed by TestMain
	paths map[string]string // source type → spec listing it first
}

// stripeMockModule is the directory of the pinned stripe-mock module, which
// holds the spec and fixtures stripe-mock embeds.
var stripeMockModule = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/stripe/stripe-mock").Output()
	return strings.TrimSpace(string(out)), err
})

// bundled returns the path of one of stripe-mock's bundled OpenAPI files.
func bundled(t *testing.T, name string) string {
	t.Helper()
	dir, err := stripeMockModule()
	if err != nil || dir == "" {
		t.Fatalf("couldn't find the stripe-mock module: %v", err)
	}
	return filepath.Join(dir, "embedded", "openapi", name)
}

// specFor returns stripe-mock's spec with typ ("charge" or "refund") as the
// first resource a balance transaction's source expands to.
func specFor(t *testing.T, typ string) string {
	t.Helper()
	specs.Lock()
	defer specs.Unlock()
	if p, ok := specs.paths[typ]; ok {
		return p
	}
	raw, err := os.ReadFile(bundled(t, "spec3.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		t.Fatal(err)
	}
	get := func(m any, key string) any { return m.(map[string]any)[key] }
	src := get(get(get(get(get(spec, "components"), "schemas"), "balance_transaction"), "properties"), "source")
	res := get(get(src, "x-expansionResources"), "oneOf").([]any)
	first := "#/components/schemas/" + typ
	slices.SortStableFunc(res, func(a, b any) int {
		rank := func(r any) int {
			if get(r, "$ref") == first {
				return 0
			}
			return 1
		}
		return rank(a) - rank(b)
	})
	if get(res[0], "$ref") != first {
		t.Fatalf("stripe-mock's spec has no %s source", typ)
	}
	if specs.dir == "" {
		if specs.dir, err = os.MkdirTemp("", "reconcile-stripe-spec-"); err != nil {
			t.Fatal(err)
		}
		specs.paths = map[string]string{}
	}
	p := filepath.Join(specs.dir, typ+".json")
	if raw, err = json.Marshal(spec); err == nil {
		err = os.WriteFile(p, raw, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	specs.paths[typ] = p
	return p
}

// stripeMock starts stripe-mock for this test with every balance
// transaction of type typ ("charge" or "refund", its source expanding to
// that resource) and the bundled fixtures changed by edits (resource →
// field → value), and returns its API URL.
func stripeMock(t *testing.T, typ string, edits map[string]map[string]any) string {
	t.Helper()
	spec := specFor(t, typ)
	raw, err := os.ReadFile(bundled(t, "fixtures3.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Resources map[string]map[string]any `json:"resources"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	edits["balance_transaction"]["type"] = typ
	edits["balance_transaction"]["source"] = fx.Resources[typ]["id"]
	for res, fields := range edits {
		if fx.Resources[res] == nil {
			t.Fatalf("no %s fixture", res)
		}
		for k, v := range fields {
			fx.Resources[res][k] = v
		}
	}
	fixtures := filepath.Join(t.TempDir(), "fixtures.json")
	if raw, err = json.Marshal(fx); err == nil {
		err = os.WriteFile(fixtures, raw, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	return stripemock.Start(t, "-spec", spec, "-fixtures", fixtures)
}

// removeSpecs removes the edited specs (TestMain).
func removeSpecs() {
	if specs.dir != "" {
		os.RemoveAll(specs.dir)
	}
}

// The charges the Stripe processor lists reach an hour past the period on
// both sides; their orders may have been made in the neighbouring period.
// They are known orders all the same, matched (amounts compared) and never
// "unknown".
func TestStripeChargeAcrossPeriodBoundary(t *testing.T) {
	e := newEnv(t)
	day := time.Now().UTC().Truncate(24 * time.Hour)
	from, to := day.AddDate(0, 0, -1), day // yesterday
	// paid returns a settled, minted card order made at created, paid (its
	// charge made) ten minutes later.
	paid := func(created time.Time) string {
		id := e.paidCard("basic-30d")
		e.exec(`update orders set created_at = $2, settled_at = $3 where id = $1`, id, created, created.Add(10*time.Minute))
		return id
	}
	before := paid(from.Add(-40 * time.Minute)) // the day before yesterday, charged 30 min before the period
	after := paid(to.Add(20 * time.Minute))     // today, charged 30 min after the period
	for _, tt := range []struct {
		name   string
		intent string
		amount int64
		at     time.Time
		want   []string
	}{
		{"order of the period before, charge in the hour before", fakestripe.DevPaymentIntent(before), 500, from.Add(-30 * time.Minute), nil},
		{"order of the period after, charge in the hour after", fakestripe.DevPaymentIntent(after), 500, to.Add(30 * time.Minute), nil},
		// The order is found, not passed over: its amount is compared.
		{"order of the period before, other amount", fakestripe.DevPaymentIntent(before), 400, from.Add(-30 * time.Minute),
			[]string{string(reconcile.StripeAmount) + ":" + before}},
		{"no order has the PaymentIntent", "pi_nobody", 500, from.Add(-30 * time.Minute),
			[]string{string(reconcile.StripeUnknown) + ":"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkCharge(t, e, from, to, oneCharge{tt.intent, tt.amount, tt.at, 24 * time.Hour}, 0, tt.want)
		})
	}
}

// oneCharge is the one charge a stripe-mock lists (created at), and the
// Stripe processor's PayWithin.
type oneCharge struct {
	intent    string
	amount    int64
	at        time.Time
	payWithin time.Duration
}

// checkCharge reconciles [from, to) against a stripe-mock listing c, and
// checks the number of orders of the period and the exceptions.
func checkCharge(t *testing.T, e *env, from, to time.Time, c oneCharge, orders int, want []string) {
	t.Helper()
	url := stripeMock(t, "charge", map[string]map[string]any{
		"balance_transaction": {"amount": c.amount, "currency": "usd", "created": c.at.Unix()},
		"charge":              {"amount": c.amount, "currency": "usd", "payment_intent": c.intent, "created": c.at.Unix()},
	})
	st := reconcile.NewStripe("sk_test_123", url, nil)
	st.Books, st.PayWithin = e.books, c.payWithin
	r := &reconcile.Reconciler{Books: e.books, Processors: []reconcile.Processor{st}}
	rep, err := r.Run(context.Background(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Orders != orders {
		t.Fatalf("%d orders in the period, want %d", rep.Orders, orders)
	}
	if got := kinds(rep.Exceptions); !slices.Equal(got, want) {
		t.Fatalf("exceptions %q, want %q (%+v)", got, want, rep.Exceptions)
	}
}

// TestStripeChargeNextDay: a Checkout Session can be paid for 24 h, so an
// order made late in the period may be charged the next morning: that charge
// is its order's, not missing; a charge of the next morning that is not for
// an order of the period is left to its own period's report.
func TestStripeChargeNextDay(t *testing.T) {
	e := newEnv(t)
	day := time.Now().UTC().Truncate(24 * time.Hour)
	from, to := day.AddDate(0, 0, -1), day // yesterday
	late := e.paidCard("basic-30d")
	e.exec(`update orders set created_at = $2, settled_at = $3 where id = $1`, late, to.Add(-30*time.Minute), to.Add(5*time.Hour))
	for _, tt := range []struct {
		name      string
		intent    string
		payWithin time.Duration
		want      []string
	}{
		{"the order's charge, five hours after the period", fakestripe.DevPaymentIntent(late), 24 * time.Hour, nil},
		{"without the 24 h, the order looks unpaid", fakestripe.DevPaymentIntent(late), 0,
			[]string{string(reconcile.StripeMissing) + ":" + late}},
		{"a charge of the next morning for no order of the period", "pi_nobody", 24 * time.Hour,
			[]string{string(reconcile.StripeMissing) + ":" + late}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkCharge(t, e, from, to, oneCharge{tt.intent, 500, to.Add(5 * time.Hour), tt.payWithin}, 1, tt.want)
		})
	}
}

// A refund is checked against its order by the server's own rule for
// charge.refunded: a charge refunded in full revokes the license, a partial
// refund keeps it. The orders here were made ten days before the period:
// a refund comes after its order, whenever that was.
func TestStripeRefunds(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	day := time.Now().UTC().Truncate(24 * time.Hour)
	for _, tt := range []struct {
		name string
		// webhooks are the charge.refunded events the server got: false
		// for a partial refund, true once all of the charge is refunded.
		webhooks []bool
		// Stripe's refund of the period and its charge now.
		refund, refunded int64
		full             bool
		license          payments.LicenseState
		want             []reconcile.Kind
	}{
		{"partial refund, license kept", []bool{false}, 200, 200, false, payments.LicenseActive, nil},
		{"full refund, license revoked", []bool{true}, 500, 500, true, payments.LicenseRevoked, nil},
		{"partial refunds that add up to all of it", []bool{false, true}, 300, 500, true, payments.LicenseRevoked, nil},
		{"full refund the server never heard of", nil, 500, 500, true, payments.LicenseActive, []reconcile.Kind{reconcile.StripeRefundUnrecorded}},
		{"revoked, but Stripe refunded only part of it", []bool{true}, 500, 200, false, payments.LicenseRevoked, []reconcile.Kind{reconcile.StripeRefundedPartly}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := e.paidCard("basic-30d")
			pi := fakestripe.DevPaymentIntent(id)
			e.exec(`update orders set created_at = created_at - interval '10 days', settled_at = settled_at - interval '10 days' where id = $1`, id)
			for _, full := range tt.webhooks {
				e.MustDeliver(fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), pi, full))
			}
			if o, err := e.svc.Order(ctx, id); err != nil || o.License != tt.license {
				t.Fatalf("license %v, %v; want %s", o.License, err, tt.license)
			}
			url := stripeMock(t, "refund", map[string]map[string]any{
				"balance_transaction": {"amount": -tt.refund, "currency": "usd", "created": day.Add(time.Hour).Unix()},
				"refund":              {"amount": tt.refund, "currency": "usd", "payment_intent": pi, "status": "succeeded"},
				"charge":              {"amount": 500, "currency": "usd", "payment_intent": pi, "amount_refunded": tt.refunded, "refunded": tt.full},
			})
			st := reconcile.NewStripe("sk_test_123", url, nil)
			st.Books = e.books
			r := &reconcile.Reconciler{Books: e.books, Processors: []reconcile.Processor{st}}
			rep, err := r.Run(ctx, day, day.AddDate(0, 0, 1))
			if err != nil {
				t.Fatal(err)
			}
			var got []reconcile.Kind
			for _, x := range rep.Exceptions {
				if x.OrderID != id || !strings.HasPrefix(x.Ref, "txn_") {
					t.Errorf("exception %+v is not about order %s's refund", x, id)
				}
				got = append(got, x.Kind)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("exceptions %v, want %v (%+v)", got, tt.want, rep.Exceptions)
			}
		})
	}
}
