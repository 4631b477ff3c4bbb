package payments

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/fakestripe"
)

const testSecret = "whsec_test_secret"

func TestVerifyWebhook(t *testing.T) {
	good := fakestripe.CheckoutSessionEvent("evt_1", "checkout.session.completed", fakestripe.Checkout{SessionID: "cs_1", OrderID: newOrderID(), PaymentIntent: "pi_1", Amount: 500, Currency: "usd", Paid: true})
	oldVersion := bytes.Replace(good, []byte(`"2023-10-16"`), []byte(`"2022-11-15"`), 1)
	noID := bytes.Replace(good, []byte(`"evt_1"`), []byte(`""`), 1)
	huge := append(bytes.TrimSuffix(good, []byte("}")), []byte(`,"pad":"`+strings.Repeat("x", MaxWebhookBody)+`"}`)...)
	now := time.Now()
	tests := []struct {
		name    string
		payload []byte
		header  string
		want    error
	}{
		{"good", good, fakestripe.SignEvent(good, testSecret, now), nil},
		{"good, 299 s old", good, fakestripe.SignEvent(good, testSecret, now.Add(-299*time.Second)), nil},
		{"stale timestamp", good, fakestripe.SignEvent(good, testSecret, now.Add(-301*time.Second)), ErrWebhookSignature},
		{"wrong secret", good, fakestripe.SignEvent(good, "whsec_other", now), ErrWebhookSignature},
		{"no header", good, "", ErrWebhookSignature},
		{"garbage header", good, "t=1,v1", ErrWebhookSignature},
		{"body changed after signing", append([]byte(" "), good...), fakestripe.SignEvent(good, testSecret, now), ErrWebhookSignature},
		{"wrong API version", oldVersion, fakestripe.SignEvent(oldVersion, testSecret, now), ErrWebhookAPIVersion},
		// Signed by Stripe's secret, so not anyone's junk: unreadable, kept
		// by package web as an exception of its own.
		{"signed, not JSON", []byte("hello"), fakestripe.SignEvent([]byte("hello"), testSecret, now), ErrWebhookUnreadable},
		{"signed, no event id", noID, fakestripe.SignEvent(noID, testSecret, now), ErrWebhookUnreadable},
		{"unsigned, not JSON", []byte("hello"), "", ErrWebhookSignature},
		{"oversized", huge, fakestripe.SignEvent(huge, testSecret, now), ErrWebhookTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := verifyWebhook(tt.payload, tt.header, testSecret)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && (ev.ID != "evt_1" || ev.Type != "checkout.session.completed") {
				t.Fatalf("decoded %s %s", ev.ID, ev.Type)
			}
		})
	}
}

func TestReadWebhookBody(t *testing.T) {
	if _, err := ReadWebhookBody(bytes.NewReader(make([]byte, MaxWebhookBody+1))); !errors.Is(err, ErrWebhookTooLarge) {
		t.Fatalf("oversized body: err = %v", err)
	}
	b, err := ReadWebhookBody(bytes.NewReader(make([]byte, MaxWebhookBody)))
	if err != nil || len(b) != MaxWebhookBody {
		t.Fatalf("body at the limit: %d bytes, %v", len(b), err)
	}
}

// FuzzVerifyWebhook feeds verifyWebhook validly signed arbitrary bodies: it
// must never panic, and whatever it accepts has an id, a type and data.
func FuzzVerifyWebhook(f *testing.F) {
	f.Add(fakestripe.CheckoutSessionEvent("evt_1", "checkout.session.completed", fakestripe.Checkout{SessionID: "cs", OrderID: "o", PaymentIntent: "pi", Paid: true}))
	f.Add(fakestripe.ChargeRefundedEvent("evt_2", "pi", true))
	f.Add(fakestripe.DisputeEvent("evt_3", "charge.dispute.created", "pi", "needs_response"))
	f.Add([]byte(`{"id":"evt","api_version":"2023-10-16","type":"x","data":{"object":null}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := verifyWebhook(payload, fakestripe.SignEvent(payload, testSecret, time.Time{}), testSecret)
		if err != nil {
			return
		}
		if ev.ID == "" || ev.Type == "" || ev.Data == nil || len(ev.Data.Raw) == 0 {
			t.Fatalf("accepted an event without id, type or data: %q", payload)
		}
	})
}

func BenchmarkVerifyWebhook(b *testing.B) {
	payload := fakestripe.CheckoutSessionEvent("evt_1", "checkout.session.completed", fakestripe.Checkout{SessionID: "cs_1", OrderID: newOrderID(), PaymentIntent: "pi_1", Amount: 500, Currency: "usd", Paid: true})
	header := fakestripe.SignEvent(payload, testSecret, time.Now())
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := verifyWebhook(payload, header, testSecret); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUnreadableEventKey: a signed event that does not decode names itself
// by its id, so that package web counts Stripe's retries of it in one row;
// a body without a readable id by a hash of the body, the same for every
// retry.
func TestUnreadableEventKey(t *testing.T) {
	now := time.Now()
	hello := []byte("hello")
	numericID := []byte(`{"id":7,"object":"event","api_version":"2023-10-16"}`)
	noID := bytes.Replace(fakestripe.CheckoutSessionEvent("evt_1", "checkout.session.completed", fakestripe.Checkout{SessionID: "cs_1", OrderID: newOrderID(), Amount: 500, Currency: "usd", Paid: true}),
		[]byte(`"evt_1"`), []byte(`""`), 1)
	for _, tt := range []struct {
		name    string
		payload []byte
		want    string
	}{
		{"not JSON", hello, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e"},
		{"id not a string", numericID, ""},
		{"empty id", noID, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := verifyWebhook(tt.payload, fakestripe.SignEvent(tt.payload, testSecret, now), testSecret)
			if !errors.Is(err, ErrWebhookUnreadable) {
				t.Fatalf("err = %v, want %v", err, ErrWebhookUnreadable)
			}
			key := UnreadableEventKey(err)
			if !strings.HasPrefix(key, "sha256:") || len(key) != len("sha256:")+32 || tt.want != "" && key != tt.want {
				t.Fatalf("key %q, want a sha256: key %s", key, tt.want)
			}
			_, again := verifyWebhook(tt.payload, fakestripe.SignEvent(tt.payload, testSecret, now.Add(time.Minute)), testSecret)
			if UnreadableEventKey(again) != key {
				t.Fatalf("a retry's key %q, want %q", UnreadableEventKey(again), key)
			}
		})
	}
	if k := UnreadableEventKey(ErrWebhookSignature); k != "" {
		t.Fatalf("key %q for a refused signature", k)
	}
}
