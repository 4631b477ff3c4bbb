// Package fakestripe makes Stripe webhook events as Stripe sends them, and
// signs them with stripe-go's test helper (webhook.GenerateTestSignedPayload):
// for the dev checkout page of `licensed dev` (stripe-mock sends no webhooks)
// and for tests. Only the fields package payments reads are filled in. Sign
// them with SignEvent. It is internal: nothing outside this module, and no
// production code path, should sign fake events.
package fakestripe

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// NewEventID returns a fresh random Stripe-style event id.
func NewEventID() string {
	var b [12]byte
	rand.Read(b[:])
	return "evt_dev_" + hex.EncodeToString(b[:])
}

// DevPaymentIntent is the payment intent id the dev checkout gives order id.
func DevPaymentIntent(orderID string) string { return "pi_dev_" + orderID }

func event(id, typ string, live bool, object map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id":          id,
		"object":      "event",
		"api_version": stripe.APIVersion,
		"created":     time.Now().Unix(),
		"livemode":    live,
		"type":        typ,
		"data":        map[string]any{"object": object},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// Checkout is what a checkout.session.* event says about its session: the
// fields payments.Service.HandleStripe compares with the order the session names.
type Checkout struct {
	SessionID     string
	OrderID       string // client_reference_id and metadata.order_id
	PaymentIntent string
	Amount        int64  // amount_total, in minor units
	Currency      string // lower case
	Paid          bool   // payment_status paid (else unpaid)
	Live          bool   // livemode
}

// CheckoutOf returns the Checkout that Stripe reports when the card order
// orderID, with Checkout Session sessionID, is paid: its own session, amount
// and currency, in test mode, with the payment intent
// DevPaymentIntent(orderID). (It takes the order's fields, not a
// *payments.Order, so that package payments' own tests can import it.)
func CheckoutOf(orderID, sessionID string, amount int64, currency string) Checkout {
	return Checkout{SessionID: sessionID, OrderID: orderID, PaymentIntent: DevPaymentIntent(orderID),
		Amount: amount, Currency: currency, Paid: true}
}

// CheckoutSessionEvent returns a checkout.session.* event (typ is e.g.
// "checkout.session.completed") about the session c.
func CheckoutSessionEvent(eventID, typ string, c Checkout) []byte {
	status := "unpaid"
	if c.Paid {
		status = "paid"
	}
	return event(eventID, typ, c.Live, map[string]any{
		"id":                  c.SessionID,
		"object":              "checkout.session",
		"mode":                "payment",
		"status":              "complete",
		"client_reference_id": c.OrderID,
		"metadata":            map[string]string{"order_id": c.OrderID},
		"payment_status":      status,
		"payment_intent":      c.PaymentIntent,
		"amount_total":        c.Amount,
		"currency":            c.Currency,
		"livemode":            c.Live,
	})
}

// ChargeRefundedEvent returns a charge.refunded event for the charge of
// paymentIntent; full says whether all of it was refunded.
func ChargeRefundedEvent(eventID, paymentIntent string, full bool) []byte {
	return event(eventID, "charge.refunded", false, map[string]any{
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
	return event(eventID, typ, false, map[string]any{
		"id":             "dp_dev_" + paymentIntent,
		"object":         "dispute",
		"charge":         "ch_dev_" + paymentIntent,
		"payment_intent": paymentIntent,
		"status":         status,
	})
}

// PaidCheckout returns a checkout.session.completed event saying that the
// card order orderID (session sessionID, amount, currency) is paid
// (CheckoutOf), with a fresh event id, and its Stripe-Signature header signed
// with secret now: what the dev checkout page hands to the server's own
// webhook handling.
func PaidCheckout(secret, orderID, sessionID string, amount int64, currency string) (payload []byte, signature string) {
	payload = CheckoutSessionEvent(NewEventID(), "checkout.session.completed", CheckoutOf(orderID, sessionID, amount, currency))
	return payload, SignEvent(payload, secret, time.Time{})
}

// SignEvent returns the Stripe-Signature header of payload signed with secret
// at time at (time.Now() if zero), as Stripe computes it.
func SignEvent(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}
