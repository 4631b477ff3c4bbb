package payments

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
)

// Error is an error a client can fix. Code is stable and machine readable
// (the HTTP API sends it), Message is a sentence that says what to change.
type Error struct {
	code    string
	message string
}

func (e *Error) Error() string { return e.message }

// Code returns the stable machine-readable code.
func (e *Error) Code() string { return e.code }

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.code == e.code
}

// NewError returns an Error with code and message (for payment methods that
// live in other packages).
func NewError(code, message string) *Error { return &Error{code, message} }

// The errors of this package a client can fix.
var (
	ErrOrderNotFound     = &Error{"not_found", "There is no order with this id."}
	ErrPlanUnknown       = &Error{"plan_unknown", "There is no plan with this id: choose one of the plans listed at /v1/plans."}
	ErrMethodUnavailable = &Error{"method_unavailable", "This payment method is not offered here: use one of the methods listed at /v1/plans."}
	// Webhook errors: Stripe sees a 400 and retries (a real delivery never
	// causes them).
	ErrWebhookSignature  = &Error{"webhook_signature", "The Stripe-Signature header is missing, malformed, stale or does not match the body."}
	ErrWebhookAPIVersion = &Error{"webhook_api_version", "The event was sent with another Stripe API version than 2023-10-16: set the webhook endpoint's API version to 2023-10-16."}
	ErrWebhookTooLarge   = &Error{"webhook_too_large", "The webhook body is larger than this server accepts."}
	ErrWebhookMalformed  = &Error{"webhook_malformed", "The webhook body is not a Stripe event this server can read."}
	// ErrWebhookUnreadable is a correctly signed event whose object does not
	// decode as its type says: Stripe sent it, so it is the operator's to
	// look at (package web keeps it as an exception of its own, one per
	// event however often Stripe retries it: see UnreadableEventKey).
	ErrWebhookUnreadable = &Error{"webhook_unreadable", "The event is correctly signed, but it is not a Stripe event, or its object is not what its type says; it is kept for the operator."}
)

// UnreadableEventKey returns the key that names, across Stripe's retries,
// the event of an ErrWebhookUnreadable that HandleStripe returned: the
// event's id, or, for a signed body that carries none (or one longer than
// 255 bytes), "sha256:" and the
// hex of the first 16 bytes of the body's SHA-256 (a retry sends the same
// body). It returns "" for any other error. Stripe retries a 400 for up to
// three days; the key lets each retry count on the event's one record.
func UnreadableEventKey(err error) string {
	var u *unreadableEvent
	if errors.As(err, &u) {
		return u.key
	}
	return ""
}

// unreadableEvent is ErrWebhookUnreadable for one event.
type unreadableEvent struct{ key string }

func (u *unreadableEvent) Error() string { return ErrWebhookUnreadable.Error() }
func (u *unreadableEvent) Unwrap() error { return ErrWebhookUnreadable }

// unreadable returns ErrWebhookUnreadable for the signed body payload, whose
// event id is id if it could be decoded.
func unreadable(id string, payload []byte) error {
	if id == "" {
		var ev struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(payload, &ev) == nil {
			id = ev.ID
		}
	}
	if id == "" || len(id) > 255 {
		sum := sha256.Sum256(payload)
		id = "sha256:" + hex.EncodeToString(sum[:16])
	}
	return &unreadableEvent{key: id}
}
