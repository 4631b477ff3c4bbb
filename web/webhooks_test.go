package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/fakestripe"
	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/reconcile"
	"github.com/licensed/licensed/ringverify"
)

// TestMain is in ledger_test.go (pgtest.Main).

const testWebhookSecret = "whsec_web_test"

// payEnv is the server with payments on a fresh database, a running
// sequencer whose rounds call the payments hook, a stripe-mock, and a
// license index.
type payEnv struct {
	*paytest.Env
	t   *testing.T
	url string  // the test HTTP server
	srv *Server // the server it runs
}

func newPayEnv(t *testing.T, cfg ...Config) *payEnv {
	t.Helper()
	e := &payEnv{t: t, Env: paytest.New(t, paytest.Options{Stripe: true, WebhookSecret: testWebhookSecret,
		CheckoutURL: "/dev/checkout/{ORDER_ID}"})}
	s := New(append(cfg, Config{})[0], Deps{DB: e.DB, Payments: e.Service, DevCheckout: &DevCheckout{PaidEvent: func(o *payments.Order) ([]byte, string) {
		return fakestripe.PaidCheckout(testWebhookSecret, o.ID, o.StripeSession, o.Amount, o.Currency)
	}}}, slog.New(slog.DiscardHandler))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	e.url, e.srv = ts.URL, s
	return e
}

// do sends a request and decodes the JSON answer.
func (e *payEnv) do(method, path string, body []byte, header map[string]string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// createOrder orders plan for a new account through the API.
func (e *payEnv) createOrder(plan string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"plan": plan, "address": paytest.Address(e.t), "method": "card"})
	status, out := e.do("POST", "/v1/orders", body, nil)
	if status != http.StatusCreated {
		e.t.Fatalf("POST /v1/orders: %d %v", status, out)
	}
	return out["order_id"].(string)
}

// webhook posts a signed event and returns the status.
func (e *payEnv) webhook(client *http.Client, payload []byte, sig string) int {
	req, _ := http.NewRequest("POST", e.url+webhookPath, bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", sig)
	resp, err := client.Do(req)
	if err != nil {
		e.t.Error(err)
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (e *payEnv) sign(payload []byte) string {
	return fakestripe.SignEvent(payload, testWebhookSecret, time.Time{})
}

func (e *payEnv) mustWebhook(payload []byte) {
	e.t.Helper()
	if st := e.webhook(http.DefaultClient, payload, e.sign(payload)); st != http.StatusOK {
		e.t.Fatalf("webhook answered %d", st)
	}
}

func (e *payEnv) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.DB.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// licenseEntries counts the license entries on the ledger.
func (e *payEnv) licenseEntries() (licenses, revokes int) {
	e.t.Helper()
	for _, en := range e.Entries() {
		switch en.Kind() {
		case ledger.KindLicense:
			licenses++
		case ledger.KindRevoke:
			revokes++
		}
	}
	return licenses, revokes
}

// reconcile checks that there are sequencer rounds and that each has one
// license entry per order minted in it.
func (e *payEnv) reconcile() {
	e.t.Helper()
	if len(e.Balanced()) == 0 {
		e.t.Fatal("no rounds to reconcile")
	}
}

func (e *payEnv) link(id string) uint64 {
	e.t.Helper()
	idx, ok := e.Link(id)
	if !ok {
		e.t.Fatalf("no link for order %s", id)
	}
	return idx
}

// TestWebhookStorm: 100 paid orders, 1,000 webhook deliveries (every event
// several times, shuffled, stale events among them) from 20 concurrent
// clients → exactly 100 license entries, one per order.
func TestWebhookStorm(t *testing.T) {
	e := newPayEnv(t)
	const orders, deliveries, clients = 100, 1000, 20
	var ids []string
	for i := 0; i < orders; i++ {
		id := e.createOrder("basic-30d")
		ids = append(ids, id)
	}
	// Half the orders are paid at once (completed, paid); the other half
	// asynchronously (completed unpaid → processing, then
	// async_payment_succeeded → settled), so reordering matters. Every order
	// also gets an event of a type the server ignores. Then duplicates up to
	// 1,000 deliveries, shuffled.
	var events [][]byte
	for i, id := range ids {
		if i%2 == 0 {
			events = append(events, e.CheckoutEvent("checkout.session.completed", id, true))
		} else {
			events = append(events,
				e.CheckoutEvent("checkout.session.completed", id, false),
				e.CheckoutEvent("checkout.session.async_payment_succeeded", id, true))
		}
		events = append(events, e.CheckoutEvent("charge.succeeded", id, true))
	}
	work := append([][]byte(nil), events...)
	for len(work) < deliveries {
		work = append(work, events[mrand.IntN(len(events))])
	}
	mrand.Shuffle(len(work), func(i, j int) { work[i], work[j] = work[j], work[i] })
	ch := make(chan []byte)
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			for p := range ch {
				st := e.webhook(client, p, e.sign(p))
				mu.Lock()
				statuses[st]++
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for _, p := range work {
		ch <- p
	}
	close(ch)
	wg.Wait()
	took := time.Since(start)
	if statuses[http.StatusOK] != deliveries {
		t.Fatalf("statuses %v, want %d × 200", statuses, deliveries)
	}
	e.WaitSequenced()
	t.Logf("%d deliveries from %d clients in %v (%.0f/s); all sequenced %v after the start", deliveries, clients, took.Round(time.Millisecond),
		float64(deliveries)/took.Seconds(), time.Since(start).Round(time.Millisecond))
	lic, rev := e.licenseEntries()
	if lic != orders || rev != 0 {
		t.Fatalf("%d license and %d revoke entries, want %d and 0", lic, rev, orders)
	}
	if n := e.count(`select count(*) from orders where state = 'settled' and mint_round is not null and address is null`); n != orders {
		t.Fatalf("%d orders settled and minted, want %d", n, orders)
	}
	if n := e.count(`select count(*) from stripe_events`); n != len(events) {
		t.Fatalf("%d events recorded, want %d", n, len(events))
	}
	if n := e.count(`select count(distinct ledger_index) from order_links`); n != orders {
		t.Fatalf("%d links, want %d", n, orders)
	}
	e.reconcile()
	e.Fsck()
}

// TestWebhookRejects: a delivery that fails verification is a 400 with a
// code, and changes nothing.
func TestWebhookRejects(t *testing.T) {
	e := newPayEnv(t, Config{BodyLimit: 64 << 10}) // under the webhook's own 256 KiB
	id := e.createOrder("basic-30d")
	good := e.CheckoutEvent("checkout.session.completed", id, true)
	oldAPI := bytes.Replace(good, []byte(`"2023-10-16"`), []byte(`"2020-08-27"`), 1)
	huge := append(bytes.TrimSuffix(good, []byte("}")), []byte(`,"pad":"`+strings.Repeat("x", 300<<10)+`"}`)...)
	// Over the server-wide body limit too (64 KiB here): still the webhook's
	// 400, not echo's 413.
	overServer := append(bytes.TrimSuffix(good, []byte("}")), []byte(`,"pad":"`+strings.Repeat("x", 100<<10)+`"}`)...)
	tests := []struct {
		name    string
		payload []byte
		sig     string
		code    string
	}{
		{"bad signature", good, fakestripe.SignEvent(good, "whsec_wrong", time.Time{}), "webhook_signature"},
		{"no signature", good, "", "webhook_signature"},
		{"stale timestamp", good, fakestripe.SignEvent(good, testWebhookSecret, time.Now().Add(-6*time.Minute)), "webhook_signature"},
		{"wrong API version", oldAPI, fakestripe.SignEvent(oldAPI, testWebhookSecret, time.Time{}), "webhook_api_version"},
		{"oversized body", huge, fakestripe.SignEvent(huge, testWebhookSecret, time.Time{}), "webhook_too_large"},
		{"body over the server-wide limit", overServer, fakestripe.SignEvent(overServer, "whsec_wrong", time.Time{}), "webhook_signature"},
		{"tampered body", bytes.Replace(good, []byte(`"paid"`), []byte(`"unpaid"`), 1), fakestripe.SignEvent(good, testWebhookSecret, time.Time{}), "webhook_signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.do("POST", webhookPath, tt.payload, map[string]string{"Stripe-Signature": tt.sig})
			if status != http.StatusBadRequest || out["code"] != tt.code {
				t.Fatalf("got %d %v, want 400 %s", status, out, tt.code)
			}
			if o := e.Order(id); o.State != payments.StateNew || o.License != payments.LicenseNone {
				t.Fatalf("order changed: %s %s", o.State, o.License)
			}
			if n := e.count(`select count(*) from stripe_events`); n != 0 {
				t.Fatalf("%d events recorded", n)
			}
			if n := e.count(`select count(*) from ledger_pending`) + e.count(`select count(*) from ledger_entries`); n != 0 {
				t.Fatalf("%d ledger entries", n)
			}
		})
	}
	// The same event, properly signed, goes through: the rejections above
	// did not burn its id.
	e.mustWebhook(good)
	if o := e.Order(id); o.State != payments.StateSettled {
		t.Fatalf("state %s after the good delivery", o.State)
	}
}

// TestRefundAndDisputes: a refund appends a revoke entry and the license
// leaves the valid-license index; a dispute suspends it, then a won dispute
// restores it and a lost one revokes it.
func TestRefundAndDisputes(t *testing.T) {
	e := newPayEnv(t)
	plan := "basic-30d"
	refunded := e.createOrder(plan)
	won := e.createOrder(plan)
	lost := e.createOrder(plan)
	partial := e.createOrder(plan)
	for _, id := range []string{refunded, won, lost, partial} {
		e.mustWebhook(e.CheckoutEvent("checkout.session.completed", id, true))
	}
	e.WaitSequenced()
	idx := map[string]uint64{}
	for _, id := range []string{refunded, won, lost, partial} {
		idx[id] = e.link(id)
	}
	valid := func(id string) bool {
		for _, i := range e.Index.Valid(plan, time.Now()) {
			if i == idx[id] {
				return true
			}
		}
		return false
	}
	memberState := func(id string) ringverify.State {
		m, err := e.Index.Member(idx[id])
		if err != nil {
			t.Fatal(err)
		}
		return m.State
	}
	for id := range idx {
		if !valid(id) {
			t.Fatalf("order %s not valid after minting", id)
		}
	}

	tests := []struct {
		name    string
		id      string
		events  [][]byte
		license payments.LicenseState
		member  ringverify.State
		valid   bool
		revokes int // total revoke entries on the ledger after the step
	}{
		{"partial refund keeps the license", partial, [][]byte{fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), fakestripe.DevPaymentIntent(partial), false)},
			payments.LicenseActive, ringverify.Active, true, 0},
		{"refund revokes", refunded, [][]byte{fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), fakestripe.DevPaymentIntent(refunded), true)},
			payments.LicenseRevoked, ringverify.Revoked, false, 1},
		{"refund delivered twice, one revoke", refunded, [][]byte{fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), fakestripe.DevPaymentIntent(refunded), true)},
			payments.LicenseRevoked, ringverify.Revoked, false, 1},
		{"dispute opened suspends", won, [][]byte{fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.created", fakestripe.DevPaymentIntent(won), "needs_response")},
			payments.LicenseSuspended, ringverify.Suspended, false, 1},
		{"dispute won restores", won, [][]byte{fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.closed", fakestripe.DevPaymentIntent(won), "won")},
			payments.LicenseActive, ringverify.Active, true, 1},
		{"dispute opened again after the outcome is ignored", won, [][]byte{fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.created", fakestripe.DevPaymentIntent(won), "needs_response")},
			payments.LicenseActive, ringverify.Active, true, 1},
		{"dispute lost revokes", lost, [][]byte{
			fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.created", fakestripe.DevPaymentIntent(lost), "needs_response"),
			fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.closed", fakestripe.DevPaymentIntent(lost), "lost")},
			payments.LicenseRevoked, ringverify.Revoked, false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, ev := range tt.events {
				e.mustWebhook(ev)
			}
			e.WaitSequenced()
			if o := e.Order(tt.id); o.License != tt.license {
				t.Fatalf("license %s, want %s", o.License, tt.license)
			}
			if st := memberState(tt.id); st != tt.member {
				t.Fatalf("index state %v, want %v", st, tt.member)
			}
			if v := valid(tt.id); v != tt.valid {
				t.Fatalf("valid = %v, want %v", v, tt.valid)
			}
			if _, rev := e.licenseEntries(); rev != tt.revokes {
				t.Fatalf("%d revoke entries, want %d", rev, tt.revokes)
			}
		})
	}
	if n := e.count(`select count(*) from license_suspensions`); n != 0 {
		t.Fatalf("%d suspensions left", n)
	}
	e.reconcile()
	e.Fsck()
}

// TestRetention: after minting no license address is stored; after the
// retention the order → entry links are gone, a late refund can no longer
// revoke (an exception for operators), and the round-level reconciliation
// still balances.
func TestRetention(t *testing.T) {
	e := newPayEnv(t)
	var ids []string
	for i := 0; i < 5; i++ {
		id := e.createOrder("pro-365d")
		ids = append(ids, id)
		if i == 2 {
			// Two rounds at least.
			for _, id := range ids {
				e.mustWebhook(e.CheckoutEvent("checkout.session.completed", id, true))
			}
			e.WaitSequenced()
		}
	}
	for _, id := range ids[3:] {
		e.mustWebhook(e.CheckoutEvent("checkout.session.completed", id, true))
	}
	// A dispute open at the end of the retention keeps its link.
	disputed := ids[4]
	e.WaitSequenced()
	e.mustWebhook(fakestripe.DisputeEvent(fakestripe.NewEventID(), "charge.dispute.created", fakestripe.DevPaymentIntent(disputed), "needs_response"))
	if n := e.count(`select count(*) from orders where address is not null`); n != 0 {
		t.Fatalf("%d orders still hold a license address after minting", n)
	}
	if n := e.count(`select count(*) from order_links`); n != 5 {
		t.Fatalf("%d links before the retention, want 5", n)
	}
	ctx := context.Background()
	steps := []struct {
		name  string
		at    time.Duration
		links int
	}{
		{"a day before", payments.DefaultCardRetention - 24*time.Hour, 5},
		{"a day after", payments.DefaultCardRetention + 24*time.Hour, 1},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			e.SetNow(time.Now().Add(st.at))
			if _, err := e.Service.ForgetLinks(ctx); err != nil {
				t.Fatal(err)
			}
			if n := e.count(`select count(*) from order_links`); n != st.links {
				t.Fatalf("%d links, want %d", n, st.links)
			}
		})
	}
	if n := e.count(`select count(*) from order_links where order_id = $1`, disputed); n != 1 {
		t.Fatal("the disputed order lost its link while suspended")
	}
	// A refund after the retention: the license cannot be found any more.
	e.mustWebhook(fakestripe.ChargeRefundedEvent(fakestripe.NewEventID(), fakestripe.DevPaymentIntent(ids[0]), true))
	e.WaitSequenced()
	if _, rev := e.licenseEntries(); rev != 0 {
		t.Fatalf("%d revoke entries after the links were forgotten", rev)
	}
	if o := e.Order(ids[0]); o.License != payments.LicenseRevoked || !o.Refunded {
		t.Fatalf("order after a late refund: %+v", o)
	}
	if n := e.count(`select count(distinct mint_round) from orders`); n < 2 {
		t.Fatalf("orders minted in %d rounds, want at least 2", n)
	}
	e.reconcile()
	e.Fsck()
}

// TestWebhookFailureFlood: thousands of concurrent refused deliveries of
// six kinds make one exception row per reason, each with its exact count,
// and the metric counts the same.
func TestWebhookFailureFlood(t *testing.T) {
	e := newPayEnv(t)
	id := e.createOrder("basic-30d")
	good := e.CheckoutEvent("checkout.session.completed", id, true)
	oldAPI := bytes.Replace(good, []byte(`"2023-10-16"`), []byte(`"2020-08-27"`), 1)
	huge := append(bytes.TrimSuffix(good, []byte("}")), []byte(`,"pad":"`+strings.Repeat("x", 300<<10)+`"}`)...)
	kinds := []struct {
		reason, method string
		payload        []byte
		sig            string
		n              int
	}{
		{"unsigned", "POST", good, "", 1500},
		{"bad_signature", "POST", good, fakestripe.SignEvent(good, "whsec_wrong", time.Time{}), 700},
		{"stale", "POST", good, fakestripe.SignEvent(good, testWebhookSecret, time.Now().Add(-10*time.Minute)), 400},
		{"api_version", "POST", oldAPI, fakestripe.SignEvent(oldAPI, testWebhookSecret, time.Time{}), 300},
		{"method_not_allowed", "GET", nil, "", 300},
		{"too_large", "POST", huge, fakestripe.SignEvent(huge, testWebhookSecret, time.Time{}), 40},
	}
	jobs := make(chan int)
	go func() {
		var all []int
		for k, kind := range kinds {
			for range kind.n {
				all = append(all, k)
			}
		}
		mrand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		for _, k := range all {
			jobs <- k
		}
		close(jobs)
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	start := time.Now()
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				req, _ := http.NewRequest(kinds[k].method, e.url+webhookPath, bytes.NewReader(kinds[k].payload))
				if kinds[k].sig != "" {
					req.Header.Set("Stripe-Signature", kinds[k].sig)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, k := range kinds {
		total += k.n
	}
	t.Logf("%d refused deliveries in %v: %v", total, time.Since(start).Round(time.Millisecond), statuses)
	if statuses[http.StatusBadRequest]+statuses[http.StatusMethodNotAllowed] != total {
		t.Fatalf("statuses %v, want %d refusals", statuses, total)
	}

	rows, err := e.DB.Query(context.Background(), `select reason, count from webhook_failures order by reason`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	nrows := 0
	for rows.Next() {
		var reason string
		var n int
		if err := rows.Scan(&reason, &n); err != nil {
			t.Fatal(err)
		}
		got[reason] += n
		nrows++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if nrows != len(kinds) {
		t.Errorf("%d rows for %d reasons: %v", nrows, len(kinds), got)
	}
	mfs, err := e.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	metric := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != "licensed_webhook_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					metric[l.GetValue()] = int(m.GetCounter().GetValue())
				}
			}
		}
	}
	for _, k := range kinds {
		if got[k.reason] != k.n || metric[k.reason] != k.n {
			t.Errorf("%s: %d in the books, %d in the metric, want %d", k.reason, got[k.reason], metric[k.reason], k.n)
		}
	}

	// Reconcile shows one exception per reason, saying how many.
	ex, err := reconcile.NewBooks(e.DB).Queues(context.Background(), time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, x := range ex {
		if x.Kind == reconcile.WebhookFailed {
			failed = append(failed, x.Detail)
		}
	}
	if len(failed) != len(kinds) || !strings.Contains(strings.Join(failed, "\n"), "refused 1,500 times") {
		t.Fatalf("webhook exceptions:\n%s", strings.Join(failed, "\n"))
	}
	// The order was not touched by any of it.
	if o := e.Order(id); o.State != payments.StateNew {
		t.Fatalf("order %s", o.State)
	}
}

// TestWebhookFailureRows: refusals are counted per source, reason and hour;
// a failure to apply a verified event is always a row of its own.
func TestWebhookFailureRows(t *testing.T) {
	e := newPayEnv(t)
	books := reconcile.NewBooks(e.DB)
	now := time.Date(2026, 3, 1, 14, 59, 58, 0, time.UTC)
	books.Now = func() time.Time { return now }
	ctx := context.Background()
	record := func(f reconcile.WebhookFailure, want int64) {
		t.Helper()
		n, err := books.RecordWebhookFailure(ctx, f)
		if err != nil || n != want {
			t.Fatalf("record %+v: %d, %v; want count %d", f, n, err, want)
		}
	}
	unsigned := reconcile.WebhookFailure{Source: "stripe", Status: 400, Code: "webhook_signature", Reason: "unsigned"}
	stale := reconcile.WebhookFailure{Source: "stripe", Status: 400, Code: "webhook_signature", Reason: "stale"}
	failed := reconcile.WebhookFailure{Source: "stripe", Status: 500, Code: "internal", Reason: "apply_failed", Alone: true}
	record(unsigned, 1)
	record(unsigned, 2)
	record(stale, 1)
	record(failed, 1)
	record(failed, 1)
	now = now.Add(3 * time.Second) // the next hour
	record(unsigned, 1)
	record(unsigned, 2)
	record(reconcile.WebhookFailure{Source: "btcpay", Status: 400, Code: "webhook_signature", Reason: "unsigned"}, 1)
	if n := e.count(`select count(*) from webhook_failures`); n != 6 {
		t.Fatalf("%d rows, want 6 (unsigned ×2 hours, stale, two failures to apply, another source)", n)
	}
	ex, err := books.Queues(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"stripe webhook refused 2 times between 2026-03-01T14:59:58Z and 2026-03-01T14:59:58Z: HTTP 400 webhook_signature (unsigned)",
		"stripe webhook refused once at 2026-03-01T14:59:58Z: HTTP 400 webhook_signature (stale)",
		"stripe webhook refused at 2026-03-01T14:59:58Z: HTTP 500 internal (apply_failed)",
		"stripe webhook refused at 2026-03-01T14:59:58Z: HTTP 500 internal (apply_failed)",
		"stripe webhook refused 2 times between 2026-03-01T15:00:01Z and 2026-03-01T15:00:01Z: HTTP 400 webhook_signature (unsigned)",
		"btcpay webhook refused once at 2026-03-01T15:00:01Z: HTTP 400 webhook_signature (unsigned)",
	}
	var got []string
	for _, x := range ex {
		if x.Kind == reconcile.WebhookFailed {
			got = append(got, x.Detail)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("exceptions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
