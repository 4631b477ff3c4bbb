package admission

import (
	"errors"

	"github.com/licensed/licensed/ringverify"
)

// Error is a refusal the client can act on: a stable machine-readable Code
// and a sentence saying what to change. Package web maps codes to HTTP
// statuses (tag_used is 409, the rest 400).
type Error struct {
	code, msg string
	// cause is the ringverify refusal this one translates, so that
	// errors.Is(err, ringverify.ErrMemberExpired) still matches.
	cause error
}

func newError(code, msg string) *Error { return &Error{code: code, msg: msg} }

// wrapError is newError keeping cause in the chain.
func wrapError(code, msg string, cause error) *Error {
	return &Error{code: code, msg: msg, cause: cause}
}

// Unwrap returns the ringverify refusal this one translates, if any.
func (e *Error) Unwrap() error { return e.cause }

func errMalformed(msg string) *Error { return newError("malformed", msg) }

// Code returns the machine-readable reason.
func (e *Error) Code() string { return e.code }

// Error returns the sentence for humans.
func (e *Error) Error() string { return e.msg }

// Is matches any *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.code == e.code
}

// Refusals of Admit, to match with errors.Is. The ring and member codes come
// from ringverify (see the package documentation), except its "signature",
// answered as bad_signature.
var (
	ErrMalformed        = newError("malformed", "the request is malformed")
	ErrScopeNotCurrent  = newError("scope_not_current", "the scope is not the current one")
	ErrCounterOverQuota = newError("counter_over_quota", "the counter is not below the plan's daily quota")
	ErrPlanUnknown      = newError("plan_unknown", "the ring's plan is not offered by this server")
	ErrBadSignature     = newError("bad_signature", "the ring signature does not verify")
	ErrPoWRequired      = newError("pow_required", "a proof of work is required")
	ErrPoWInvalid       = newError("pow_invalid", "the proof of work does not meet the difficulty")
	ErrPoWStale         = newError("pow_stale", "the proof of work's timestamp is outside the freshness window")
	ErrTagUsed          = newError("tag_used", "this tag was already used in this scope and counter for another message")
	ErrFreeDisabled     = newError("free_disabled", "this server has no free tier: send a ring proof")
)

// Code returns the code of a refusal from Admit, "" for an internal error.
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.code
	}
	return ""
}

// fromRingverify turns a ringverify refusal into an *Error, keeping its code
// (bad_signature for "signature") and its sentence. Internal errors (no code)
// are returned as they are.
func fromRingverify(err error) error {
	code := ringverify.Code(err)
	switch code {
	case "":
		return err
	case "signature":
		return wrapError(ErrBadSignature.code, "the ring signature does not verify: check the scope, counter, message, ring order and key", err)
	}
	return wrapError(code, err.Error(), err)
}

// NewRefusal returns a refusal with code and sentence msg, for callers that
// refuse on admission's behalf (package web's limits).
func NewRefusal(code, msg string) error { return newError(code, msg) }
