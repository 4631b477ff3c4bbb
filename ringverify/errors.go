package ringverify

import "errors"

// Error is a refusal a client can act on. Its Code is short, stable and
// machine-readable (it is what an admission endpoint returns); Message is a
// sentence for humans. Errors returned by this package wrap one of the Err…
// values below, so callers test them with errors.Is and map them with Code.
// Like every domain error of this module, it has a Code() string method.
type Error struct {
	code    string
	Message string
}

// Code returns the stable, machine-readable reason, e.g. "member_revoked".
func (e *Error) Code() string { return e.code }

func (e *Error) Error() string { return "ringverify: " + e.Message }

// Is reports whether target is an *Error with the same Code, so that a copy
// of an error value still matches.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.code == e.code
}

// Code returns the Code of the first *Error in err's chain, or "" if there is
// none (an internal error, such as a failing Members implementation or
// random source).
func Code(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.code
	}
	return ""
}

func newError(code, msg string) *Error { return &Error{code: code, Message: msg} }

// Decoding errors (ParseProof).
var (
	ErrProofLength = newError("proof_length", "proof encoding has the wrong length for the ring size")
	ErrProofScalar = newError("proof_scalar", "proof contains a scalar that is not canonically encoded (not below the group order l)")
	ErrProofTag    = newError("proof_tag", "proof tag is not a canonical ristretto255 encoding")
	ErrIdentityTag = newError("proof_identity_tag", "proof tag is the identity element")
)

// Signature and input errors (Sign, Verify).
var (
	ErrRingSize      = newError("ring_size", "ring is empty, larger than MaxRingSize, or does not match the proof")
	ErrRingKey       = newError("ring_key", "ring key is missing or the identity element")
	ErrDuplicateKey  = newError("ring_duplicate_key", "ring contains the same key twice")
	ErrScope         = newError("scope", "scope must be 1 to 255 bytes long")
	ErrSigner        = newError("signer", "secret key does not match the ring key at the signer's position, or position out of range")
	ErrBadSignature  = newError("signature", "ring signature does not verify")
	ErrMalformedData = newError("malformed", "proof is missing a field")
)

// Ring policy errors (Verifier).
var (
	ErrRingBounds        = newError("ring_size_bounds", "ring size is outside the configured bounds")
	ErrDuplicateMember   = newError("ring_duplicate_member", "ring references the same ledger entry twice")
	ErrMixedPlans        = newError("ring_mixed_plans", "ring members belong to different plans")
	ErrUnknownMember     = newError("member_unknown", "ring member is not a license on the ledger")
	ErrMemberNotYetValid = newError("member_not_yet_valid", "ring member license is not valid yet")
	ErrMemberExpired     = newError("member_expired", "ring member license has expired")
	ErrMemberSuspended   = newError("member_suspended", "ring member license is suspended")
	ErrMemberRevoked     = newError("member_revoked", "ring member license is revoked")
	ErrMemberKey         = newError("member_key", "ring member key is not a canonical non-identity ristretto255 element")
)
