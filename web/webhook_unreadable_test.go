package web

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/licensed/licensed/payments"
)

// TestWebhookSignedButUnreadable: a correctly signed event whose object does
// not decode as its type says (or that is not an event at all) is refused
// webhook_unreadable, changes nothing, and stays an exception of its own,
// not a count in the bucket of anyone's junk: one row per event, which
// Stripe's retries add to; unsigned junk is still counted by reason and hour.
func TestWebhookSignedButUnreadable(t *testing.T) {
	e := newPayEnv(t)
	id := e.createOrder("basic-30d")
	bodies := [][]byte{
		// A session whose id is a number: Stripe's type says a string.
		fmt.Appendf(nil, `{"id":"evt_unreadable_1","object":"event","api_version":"2023-10-16","type":"checkout.session.completed","created":%d,"data":{"object":{"id":123,"object":"checkout.session","client_reference_id":%q}}}`, time.Now().Unix(), id),
		// The same again (Stripe retries): counted in the event's row.
		fmt.Appendf(nil, `{"id":"evt_unreadable_1","object":"event","api_version":"2023-10-16","type":"checkout.session.completed","created":%d,"data":{"object":{"id":123,"object":"checkout.session","client_reference_id":%q}}}`, time.Now().Unix(), id),
		// Signed, but its data is not an object.
		fmt.Appendf(nil, `{"id":"evt_unreadable_2","object":"event","api_version":"2023-10-16","type":"charge.refunded","created":%d,"data":{"object":"refunded"}}`, time.Now().Unix()),
	}
	for i, body := range bodies {
		status, out := e.do("POST", webhookPath, body, map[string]string{"Stripe-Signature": e.sign(body)})
		if status != http.StatusBadRequest || out["code"] != payments.ErrWebhookUnreadable.Code() {
			t.Fatalf("delivery %d: %d %v, want 400 webhook_unreadable", i, status, out)
		}
	}
	// Unsigned junk: one counted row.
	for range 3 {
		if status, _ := e.do("POST", webhookPath, bodies[0], nil); status != http.StatusBadRequest {
			t.Fatalf("unsigned: %d", status)
		}
	}
	if o := e.Order(id); o.State != payments.StateNew {
		t.Fatalf("order moved to %s", o.State)
	}
	if n := e.count(`select count(*) from stripe_events`); n != 0 {
		t.Fatalf("%d events recorded", n)
	}
	if n := e.count(`select count(*) from webhook_failures where reason = 'unreadable' and hour is null and code = 'webhook_unreadable'`); n != 2 {
		t.Fatalf("%d rows for 2 unreadable signed events, want one each", n)
	}
	if n := e.count(`select count from webhook_failures where event_id = 'evt_unreadable_1'`); n != 2 {
		t.Fatalf("the row of evt_unreadable_1 counts %d deliveries, want 2", n)
	}
	if n := e.count(`select count(*) from webhook_failures where reason = 'unsigned' and hour is not null and count = 3`); n != 1 {
		t.Fatalf("%d counted rows for 3 unsigned deliveries, want 1", n)
	}
}
