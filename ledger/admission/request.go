package admission

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/licensed/licensed/ringverify"
)

// Sizes and bounds of a request.
const (
	// MaxMessageSize bounds the message (a data block hash), in bytes.
	MaxMessageSize = 1024
	// TagSize is the size of the tag, proof bytes [0:32].
	TagSize = ringverify.ElementSize
	// NonceSize is the size of a proof-of-work nonce.
	NonceSize = 8
	// MaxBatch is the largest number of proofs in one batch.
	MaxBatch = 256
	// FreePlan is the plan of free-tier admissions.
	FreePlan = "free"
)

// Request is one admission request, as sent on the wire.
type Request struct {
	// Scope is "<network>/<YYYY-MM-DD>".
	Scope string `json:"scope"`
	// Counter is 0 ≤ counter < the plan's daily quota.
	Counter uint32 `json:"counter"`
	// Message is the signed data (a data block hash), 1 to 1024 bytes.
	Message []byte `json:"message"`
	// Ring lists the members' ledger indices in the signer's order.
	Ring []uint64 `json:"ring,omitempty"`
	// Tag is the proof's first 32 bytes.
	Tag []byte `json:"tag,omitempty"`
	// Signature is the rest of the proof: c_0 ‖ s_0 … s_{n-1}.
	Signature []byte `json:"signature,omitempty"`
	// PoW is the proof of work, when the server asks for one.
	PoW *PoW `json:"pow,omitempty"`
}

// PoW is a hashcash proof of work over the request (see the package
// documentation).
type PoW struct {
	// Timestamp is in Unix seconds.
	Timestamp int64 `json:"timestamp"`
	// Nonce is 8 bytes.
	Nonce []byte `json:"nonce"`
}

// NewRequest makes the request of a proof made with ringverify.Sign.
func NewRequest(scope string, counter uint32, msg []byte, ring []uint64, p *ringverify.Proof) *Request {
	b := p.Bytes()
	return &Request{Scope: scope, Counter: counter, Message: msg, Ring: ring, Tag: b[:TagSize], Signature: b[TagSize:]}
}

// Free reports whether r asks for the free tier: no ring, tag or signature.
func (r *Request) Free() bool {
	return len(r.Ring) == 0 && len(r.Tag) == 0 && len(r.Signature) == 0
}

// Result is the answer to one request: either admitted, or refused with a
// code and a sentence. It is the JSON of the single and the batch answers.
type Result struct {
	Admitted bool `json:"admitted,omitempty"`
	// Plan is the ring's plan, or FreePlan.
	Plan string `json:"plan,omitempty"`
	// ValidUntil is the earliest expiry among the ring's members (the end of
	// the scope's day for the free tier).
	ValidUntil *time.Time `json:"valid_until,omitempty"`
	Code       string     `json:"code,omitempty"`
	Message    string     `json:"message,omitempty"`
}

// Batch is the body of POST /v1/admit/batch.
type Batch struct {
	Proofs []json.RawMessage `json:"proofs"`
}

// BatchResults is the answer to a batch, one result per proof in order.
type BatchResults struct {
	Results []Result `json:"results"`
}

// DecodeRequest decodes one request strictly: a single JSON object, no
// unknown fields, nothing after it. It checks the JSON types only; Admit
// checks sizes and everything else. Errors have code "malformed".
func DecodeRequest(b []byte) (*Request, error) {
	r := new(Request)
	if err := decodeStrict(b, r); err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeBatch decodes the body of a batch: up to MaxBatch proofs, each left
// undecoded so that one malformed proof is refused on its own (decode each
// with DecodeRequest). Errors have code "malformed" or "batch_too_large".
func DecodeBatch(b []byte) ([]json.RawMessage, error) {
	var batch Batch
	if err := decodeStrict(b, &batch); err != nil {
		return nil, err
	}
	if batch.Proofs == nil {
		return nil, errMalformed("the batch has no \"proofs\" array")
	}
	if len(batch.Proofs) > MaxBatch {
		return nil, newError("batch_too_large", fmt.Sprintf("a batch holds at most %d proofs, this one has %d: split it", MaxBatch, len(batch.Proofs)))
	}
	return batch.Proofs, nil
}

func decodeStrict(b []byte, v any) error {
	if len(bytes.TrimSpace(b)) == 0 || bytes.TrimSpace(b)[0] != '{' {
		return errMalformed("the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errMalformed("the body is not a valid request: " + jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errMalformed("the body has data after the JSON object")
	}
	return nil
}

// jsonProblem says what is wrong without echoing the client's data.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s", te.Field, kindOf(te.Type.String()))
	case errors.As(err, &se):
		return fmt.Sprintf("JSON syntax error at byte %d", se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends too early"
	}
	var ce base64.CorruptInputError
	if errors.As(err, &ce) {
		return "a binary field is not standard base64 with padding"
	}
	// Unknown fields carry no client data beyond a field name.
	return err.Error()
}

func kindOf(t string) string {
	switch t {
	case "uint32", "uint64", "int64":
		return "a non-negative integer in range"
	case "[]uint8":
		return "a base64 string"
	case "[]uint64":
		return "an array of ledger indices"
	case "string":
		return "a string"
	}
	return "of another type"
}

// RegistrationBatch is the body of POST /v1/tags/register.
type RegistrationBatch struct {
	Registrations []json.RawMessage `json:"registrations"`
}

// DecodeRegistrations decodes the body of a registration batch: up to
// MaxRegistrations requests, each left undecoded (decode each with
// DecodeRequest). Errors have code "malformed" or "batch_too_large".
func DecodeRegistrations(b []byte) ([]json.RawMessage, error) {
	var batch RegistrationBatch
	if err := decodeStrict(b, &batch); err != nil {
		return nil, err
	}
	if batch.Registrations == nil {
		return nil, errMalformed("the batch has no \"registrations\" array")
	}
	if len(batch.Registrations) > MaxRegistrations {
		return nil, newError("batch_too_large", fmt.Sprintf("a batch holds at most %d registrations, this one has %d: split it", MaxRegistrations, len(batch.Registrations)))
	}
	return batch.Registrations, nil
}
