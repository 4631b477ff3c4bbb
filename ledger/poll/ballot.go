package poll

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/licensed/licensed/ringverify"
)

// A Ballot is one vote as recorded in a poll's log: a ring proof by some
// license of an eligible plan, valid at the poll's opening, over the
// message Message(PollHash, Option), in scope "poll/<id>" at counter 0.
type Ballot struct {
	PollHash Hash
	Option   int
	// LedgerSize is the number of ledger entries the server checked the
	// ring against: revocations at ledger indices below it count, later
	// ones do not. The server sets it.
	LedgerSize uint64
	// Ring lists the members' ledger indices in the signer's order.
	Ring []uint64
	// Proof is the ring proof's encoding: tag ‖ c_0 ‖ s_0 … s_{n-1}.
	Proof []byte
}

// Tag returns the ballot's linkability tag, the proof's first 32 bytes:
// one license makes one tag per poll.
func (b *Ballot) Tag() [ringverify.ElementSize]byte {
	var t [ringverify.ElementSize]byte
	copy(t[:], b.Proof)
	return t
}

// MarshalBinary returns the ballot's canonical encoding, a leaf of the
// poll's log (see the package documentation).
func (b *Ballot) MarshalBinary() ([]byte, error) {
	if b.Option < 0 || b.Option >= MaxOptions || len(b.Ring) < 1 || len(b.Ring) > ringverify.MaxRingSize ||
		len(b.Proof) != ringverify.ProofSize(len(b.Ring)) {
		return nil, errorf(ErrMalformed, "the ballot's option, ring or proof size is out of range")
	}
	out := make([]byte, 0, 1+HashSize+1+8+2+8*len(b.Ring)+len(b.Proof))
	out = append(out, KindBallot)
	out = append(out, b.PollHash[:]...)
	out = append(out, byte(b.Option))
	out = binary.BigEndian.AppendUint64(out, b.LedgerSize)
	out = binary.BigEndian.AppendUint16(out, uint16(len(b.Ring)))
	for _, i := range b.Ring {
		out = binary.BigEndian.AppendUint64(out, i)
	}
	return append(out, b.Proof...), nil
}

// ParseBallot decodes a ballot leaf. It accepts exactly what
// MarshalBinary produces, with a canonical proof (ringverify.ParseProof);
// everything else is refused with an error wrapping ErrMalformed.
func ParseBallot(data []byte) (*Ballot, error) {
	r := &reader{b: data}
	if r.u8() != KindBallot {
		return nil, errorf(ErrMalformed, "a ballot starts with its kind byte 0x42")
	}
	b := &Ballot{}
	copy(b.PollHash[:], r.bytes(HashSize))
	b.Option = r.u8()
	b.LedgerSize = r.u64()
	n := r.u16()
	if n < 1 || n > ringverify.MaxRingSize || b.Option >= MaxOptions {
		return nil, errorf(ErrMalformed, "the ballot's option or ring size is out of range")
	}
	ring := r.bytes(8 * n)
	proof := r.bytes(ringverify.ProofSize(n))
	if r.bad || len(r.b) != 0 {
		return nil, errorf(ErrMalformed, "the ballot is truncated or has trailing bytes")
	}
	b.Ring = make([]uint64, n)
	for i := range b.Ring {
		b.Ring[i] = binary.BigEndian.Uint64(ring[8*i:])
	}
	if _, err := ringverify.ParseProof(proof, n); err != nil {
		return nil, &Error{code: ErrMalformed.code, msg: "the ballot's proof is not canonical: " + err.Error(), err: err}
	}
	b.Proof = bytes.Clone(proof)
	return b, nil
}

// Request is the body of POST /v1/polls/{id}/ballots, the wire shape of
// admission's request for what a ballot needs: the option instead of the
// scope, counter and message, which the poll fixes.
type Request struct {
	// Option is the chosen option's position, from 0.
	Option int `json:"option"`
	// Ring lists the members' ledger indices in the signer's order.
	Ring []uint64 `json:"ring"`
	// Tag is the proof's first 32 bytes.
	Tag []byte `json:"tag"`
	// Signature is the rest of the proof: c_0 ‖ s_0 … s_{n-1}.
	Signature []byte `json:"signature"`
}

// MaxRequestSize bounds the JSON of a request.
const MaxRequestSize = 64 << 10

// DecodeRequest decodes a ballot request strictly: one JSON object, no
// unknown fields, nothing after it, and the sizes of a ballot. Errors wrap
// ErrMalformed.
func DecodeRequest(data []byte) (*Request, error) {
	if len(data) > MaxRequestSize {
		return nil, errorf(ErrMalformed, fmt.Sprintf("a ballot request is at most %d bytes", MaxRequestSize))
	}
	t := bytes.TrimSpace(data)
	if len(t) == 0 || t[0] != '{' {
		return nil, errorf(ErrMalformed, "the body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.DisallowUnknownFields()
	r := new(Request)
	if err := dec.Decode(r); err != nil {
		var ce base64.CorruptInputError
		msg := "the body is not a ballot request {option, ring, tag, signature}"
		if errors.As(err, &ce) {
			msg = "tag and signature must be standard base64 with padding"
		}
		return nil, errorf(ErrMalformed, msg)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errorf(ErrMalformed, "the body has data after the JSON object")
	}
	switch {
	case r.Option < 0 || r.Option >= MaxOptions:
		return nil, errorf(ErrOption, fmt.Sprintf("option must be an option's position, 0 to %d", MaxOptions-1))
	case len(r.Ring) < 1 || len(r.Ring) > ringverify.MaxRingSize:
		return nil, errorf(ErrMalformed, fmt.Sprintf("ring must list 1 to %d ledger indices", ringverify.MaxRingSize))
	case len(r.Tag) != ringverify.ElementSize:
		return nil, errorf(ErrMalformed, "tag must be 32 bytes")
	case len(r.Signature) != ringverify.ProofSize(len(r.Ring))-ringverify.ElementSize:
		return nil, errorf(ErrMalformed, "signature must be 32 bytes plus 32 per ring member")
	}
	return r, nil
}

// Ballot returns the ballot of the request for the poll of hash h,
// checked against ledgerSize ledger entries.
func (r *Request) Ballot(h Hash, ledgerSize uint64) *Ballot {
	return &Ballot{PollHash: h, Option: r.Option, LedgerSize: ledgerSize, Ring: r.Ring, Proof: append(bytes.Clone(r.Tag), r.Signature...)}
}

// NewRequest makes the request of a proof made with ringverify.Sign.
func NewRequest(option int, ring []uint64, p *ringverify.Proof) *Request {
	b := p.Bytes()
	return &Request{Option: option, Ring: ring, Tag: b[:ringverify.ElementSize], Signature: b[ringverify.ElementSize:]}
}

// CheckBallot checks b as a ballot of poll p (of hash h), cheapest first:
// the poll hash, the option, the ring size against p.MinRing, every
// member within the electorate (index below p.Electorate), the proof's
// encoding, then the ring through v at p.Opens (members known, distinct,
// valid at the opening, active, of one plan), the plan's eligibility, and
// the signature. v's Members must describe the ledger's first
// b.LedgerSize entries or more (for a recount: exactly those; see Recount).
// It does not check the poll's time or the tag's uniqueness.
//
// Errors wrap ErrWrongPoll, ErrOption, ErrRingTooSmall, ErrElectorate, ErrMalformed,
// ErrPlan, or are ringverify errors (ringverify.Code says which), or are
// internal errors from v's Members.
func CheckBallot(v *ringverify.Verifier, p *Poll, h Hash, b *Ballot) error {
	proof, err := checkShape(p, h, b)
	if err != nil {
		return err
	}
	ring, err := v.Resolve(b.Ring, p.Opens)
	if err != nil {
		return err
	}
	if !p.Eligible(ring.Plan()) {
		return errorf(ErrPlan, fmt.Sprintf("licenses of plan %q may not vote in this poll (eligible: %v)", ring.Plan(), p.Plans))
	}
	return v.VerifyRing(ring, p.Scope(), 0, Message(h, b.Option), proof)
}

// CheckBallotShape runs the checks of CheckBallot that need no lookup: the
// poll hash, the option, the ring size, the electorate, the proof's
// encoding. A server runs it before anything that costs a query.
func CheckBallotShape(p *Poll, h Hash, b *Ballot) error {
	_, err := checkShape(p, h, b)
	return err
}

func checkShape(p *Poll, h Hash, b *Ballot) (*ringverify.Proof, error) {
	switch {
	case b.PollHash != h:
		return nil, errorf(ErrWrongPoll, "the ballot is for another poll (its poll hash differs)")
	case b.Option < 0 || b.Option >= len(p.Options):
		return nil, errorf(ErrOption, fmt.Sprintf("option must be 0 to %d for this poll", len(p.Options)-1))
	case len(b.Ring) < p.MinRing:
		return nil, errorf(ErrRingTooSmall, fmt.Sprintf("this poll takes rings of at least %d members; make the ring larger", p.MinRing))
	}
	for _, i := range b.Ring {
		if i >= p.Electorate {
			return nil, errorf(ErrElectorate, fmt.Sprintf("ring member %d is not in this poll's electorate, the ledger's first %d entries: draw the ring from them", i, p.Electorate))
		}
	}
	return ringverify.ParseProof(b.Proof, len(b.Ring))
}

// NewVerifier returns a ringverify.Verifier for ballots: rings of
// ringverify.MinAllowedRingSize to MaxRingSize members (each poll's
// MinRing is checked by CheckBallot).
func NewVerifier(m ringverify.Members) (*ringverify.Verifier, error) {
	return ringverify.NewVerifier(ringverify.VerifierConfig{Members: m, MinRingSize: ringverify.MinAllowedRingSize, MaxRingSize: ringverify.MaxRingSize})
}
