package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/reconcile"
)

// TestUnreadableEventRetriesAreOneRow: Stripe retries a refused delivery of
// a signed event that does not decode for days. Recorded as package web
// records it (the event's key from the service's error), every delivery of
// one event counts in one row, whose exception says how many times and
// until when; another unreadable event, and one without an id, get rows of
// their own, and retries of the id-less one count too.
func TestUnreadableEventRetriesAreOneRow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.CardOrder("basic-30d")
	event := func(evt string) []byte {
		// A session whose id is a number: Stripe's type says a string.
		return fmt.Appendf(nil, `{"id":%q,"object":"event","api_version":"2023-10-16","type":"checkout.session.completed","created":%d,"data":{"object":{"id":123,"object":"checkout.session","client_reference_id":%q}}}`,
			evt, time.Now().Unix(), id)
	}
	noID := []byte(`{"id":7,"object":"event","api_version":"2023-10-16"}`)
	deliver := func(body []byte) {
		t.Helper()
		err := e.Deliver(body)
		if !errors.Is(err, payments.ErrWebhookUnreadable) {
			t.Fatalf("delivery: %v, want %v", err, payments.ErrWebhookUnreadable)
		}
		key := payments.UnreadableEventKey(err)
		if key == "" {
			t.Fatalf("no event key in %v", err)
		}
		if _, err := e.books.RecordWebhookFailure(ctx, reconcile.WebhookFailure{Source: "stripe", Status: 400,
			Code: payments.ErrWebhookUnreadable.Code(), Reason: "unreadable", Alone: true, Event: key}); err != nil {
			t.Fatal(err)
		}
	}
	const retries = 5
	for range retries {
		deliver(event("evt_unreadable_1"))
	}
	deliver(event("evt_unreadable_2"))
	deliver(noID)
	deliver(noID)

	type row struct {
		event string
		count int64
	}
	rows, err := e.db.Query(ctx, `select coalesce(event_id, ''), count from webhook_failures order by at, id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.event, &r.count); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0] != (row{"evt_unreadable_1", retries}) || got[1] != (row{"evt_unreadable_2", 1}) ||
		!strings.HasPrefix(got[2].event, "sha256:") || got[2].count != 2 {
		t.Fatalf("webhook_failures rows %+v; want evt_unreadable_1 ×%d, evt_unreadable_2 ×1, sha256:… ×2", got, retries)
	}
	if o := e.Order(id); o.State != payments.StateNew {
		t.Fatalf("order moved to %s", o.State)
	}

	ex, err := e.books.Queues(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var failed []reconcile.Exception
	for _, x := range ex {
		if x.Kind == reconcile.WebhookFailed {
			failed = append(failed, x)
		}
	}
	if len(failed) != 3 || failed[0].Ref != "evt_unreadable_1" || !strings.Contains(failed[0].Detail, fmt.Sprintf("refused %d times between", retries)) {
		t.Fatalf("webhook_failed exceptions %+v; want 3, the first evt_unreadable_1 refused %d times", failed, retries)
	}
}
