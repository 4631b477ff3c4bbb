package payments

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// Stripe events as Stripe sends them, for the dev checkout page (stripe-mock
// sends no webhooks) and for tests. Only the fields this package reads are
// filled in. Sign them with SignEvent.

// NewEventID returns a fresh random Stripe-style event id.
func NewEventID() string {
	var b [12]byte
	rand.Read(b[:])
	return "evt_dev_" + hex.EncodeToString(b[:])
}

// DevPaymentIntent is the payment intent id the dev checkout gives order id.
func DevPaymentIntent(orderID string) string { return "pi_dev_" + orderID }

func event(id, typ string, object map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id":          id,
		"object":      "event",
		"api_version": stripe.APIVersion,
		"created":     time.Now().Unix(),
		"livemode":    false,
		"type":        typ,
		"data":        map[string]any{"object": object},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// CheckoutSessionEvent returns a checkout.session.* event (typ is e.g.
// "checkout.session.completed") for orderID, with payment_status paid or
// unpaid and the given payment intent.
func CheckoutSessionEvent(eventID, typ, orderID, paymentIntent string, paid bool) []byte {
	status := "unpaid"
	if paid {
		status = "paid"
	}
	return event(eventID, typ, map[string]any{
		"id":                  "cs_dev_" + orderID,
		"object":              "checkout.session",
		"mode":                "payment",
		"status":              "complete",
		"client_reference_id": orderID,
		"metadata":            map[string]string{"order_id": orderID},
		"payment_status":      status,
		"payment_intent":      paymentIntent,
	})
}

// ChargeRefundedEvent returns a charge.refunded event for the charge of
// paymentIntent; full says whether all of it was refunded.
func ChargeRefundedEvent(eventID, paymentIntent string, full bool) []byte {
	return event(eventID, "charge.refunded", map[string]any{
		"id":             "ch_dev_" + paymentIntent,
		"object":         "charge",
		"payment_intent": paymentIntent,
		"refunded":       full,
	})
}

// DisputeEvent returns a charge.dispute.* event (typ "charge.dispute.created"
// or "charge.dispute.closed") with status (e.g. "needs_response", "won",
// "lost") for the charge of paymentIntent.
func DisputeEvent(eventID, typ, paymentIntent, status string) []byte {
	return event(eventID, typ, map[string]any{
		"id":             "dp_dev_" + paymentIntent,
		"object":         "dispute",
		"charge":         "ch_dev_" + paymentIntent,
		"payment_intent": paymentIntent,
		"status":         status,
	})
}

// SignEvent returns the Stripe-Signature header of payload signed with secret
// at time at (time.Now() if zero), as Stripe computes it.
func SignEvent(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}
