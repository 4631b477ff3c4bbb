package admission

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/licensed/licensed/ringverify"
)

// MaxRegistrations is the largest number of registrations in one call of
// Register (one POST /v1/tags/register).
const MaxRegistrations = 1024

// A Registry is a TagStore that also takes registrations: uses whose
// proof a relay verified, recorded with that proof (Use.Proof) so that the
// server can check it if another use of the same key ever conflicts with
// it. Package pgadmission's PostgresTags is one. The Service decides
// conflicts (see "The tag registry" in the package documentation); a
// Registry only stores.
type Registry interface {
	TagStore
	// Claim records every use that is the first of its key, as Record
	// does, and says for each whether it is admitted (the first use of
	// its key, or a repeat with the same message), and for the others
	// what the key holds.
	Claim(ctx context.Context, uses []Use) ([]Claim, error)
	// Held reads what u's key holds now (ok false: nothing, the key was
	// pruned).
	Held(ctx context.Context, u Use) (held Use, ok bool, err error)
	// Confirm marks the held use verified (its Proof is dropped), if the
	// key still holds held's message.
	Confirm(ctx context.Context, held Use) error
	// Replace puts u (verified: u.Proof nil) in place of held, if the
	// key still holds held's message unverified; it reports whether it
	// did. Of concurrent Replace calls on one key, at most one succeeds.
	Replace(ctx context.Context, held, u Use) (bool, error)
}

// Claim is how a Registry decided one use.
type Claim struct {
	// Admitted: the use is the first of its key, or a repeat of the held
	// use's message.
	Admitted bool
	// Unconfirmed, with Admitted: the key holds the same message under a
	// proof nobody verified that differs from the use's (Held.Proof). The
	// Service verifies the use's proof and marks the held use verified, so
	// that a forged proof of an admitted message cannot later be replaced
	// by a second message.
	Unconfirmed bool
	// Held is what the key holds when not Admitted or when Unconfirmed:
	// its MsgHash, and its Proof (nil when verified).
	Held Use
}

// MaxProofSize is the largest EncodeProof encoding: a 1024-byte message
// and a ring of 1024 members.
const MaxProofSize = 2 + MaxMessageSize + 2 + 8*ringverify.MaxRingSize + 32 + 32*ringverify.MaxRingSize

// ErrIndexBehind refuses, for now, a registration or a conflict that names
// a ledger index this server's license index does not hold yet (another
// process, or the relay's mirror, saw it first): it is a retry, not a
// verdict. Send it again in a second.
var ErrIndexBehind = newError("index_behind", "a ring member is not in this server's license index yet: send it again in a second")

// A VerdictStore is a TagStore that refuses each use with a reason of its
// own: nil (admitted), ErrTagUsed, or another *Error (a relay's
// registration refused by the server, e.g. rate_limited). A relay's
// registry client (package ledger/relay) is one.
type VerdictStore interface {
	TagStore
	RecordVerdicts(ctx context.Context, uses []Use) ([]error, error)
}

// EncodeProof encodes what a registration keeps to be verified later:
// u16be(len(message)) ‖ message ‖ u16be(len(ring)) ‖ u64be(index)… ‖
// signature (c_0 ‖ s_0 … s_{n-1}). The scope, counter and tag are the
// use's key and are not repeated.
func EncodeProof(r *Request) []byte {
	b := make([]byte, 0, 4+len(r.Message)+8*len(r.Ring)+len(r.Signature))
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Message)))
	b = append(b, r.Message...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Ring)))
	for _, i := range r.Ring {
		b = binary.BigEndian.AppendUint64(b, i)
	}
	return append(b, r.Signature...)
}

// DecodeProof is the inverse of EncodeProof: the request of use u (its
// scope, counter and tag) with the message, ring and signature of b. It
// checks the sizes only.
func DecodeProof(u Use, b []byte) (*Request, error) {
	bad := errMalformed("a stored registration proof is malformed")
	if len(b) < 2 {
		return nil, bad
	}
	n := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if n == 0 || n > MaxMessageSize || len(b) < n+2 {
		return nil, bad
	}
	msg := b[:n:n]
	b = b[n:]
	k := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if k == 0 || k > ringverify.MaxRingSize || len(b) != 8*k+ringverify.ProofSize(k)-TagSize {
		return nil, bad
	}
	ring := make([]uint64, k)
	for i := range ring {
		ring[i] = binary.BigEndian.Uint64(b[8*i:])
	}
	tag := u.Tag
	return &Request{Scope: u.Scope, Counter: u.Counter, Message: msg, Ring: ring, Tag: tag[:], Signature: b[8*k:]}, nil
}

// TakesRegistrations reports whether the Service's tag store is a Registry,
// so that Register works.
func (s *Service) TakesRegistrations() bool {
	_, ok := s.tags.(Registry)
	return ok
}

// Register records relays' registrations: proofs the relays verified
// against their mirrors of the ledger. It checks each, cheapest first, for
// shape, current scope, and ring size and distinct indices, without
// looking anything up or verifying anything, then records them with their
// proofs in one round trip: the first registration of a key wins; the same
// message again is the same success. Only a registration that conflicts
// with what its key holds costs verifications, each one announced to
// charge first (which may refuse it: the registration is then answered
// with charge's error). It returns one result per request, in order
// ({"admitted": true} without plan, for a registration), and an error only
// when the store fails. The TagStore must be a Registry.
func (s *Service) Register(ctx context.Context, reqs []*Request, charge func() error) ([]Result, error) {
	if _, ok := s.tags.(Registry); !ok {
		return nil, errors.New("admission: this service's tag store takes no registrations")
	}
	now := s.cfg.Now()
	results := make([]Result, len(reqs))
	var uses []Use
	var at []int
	for i, r := range reqs {
		if r == nil {
			results[i] = refusal(ErrMalformed)
			continue
		}
		u, err := s.checkRegistration(r, now)
		if err != nil {
			results[i] = refusal(err)
			continue
		}
		uses = append(uses, u)
		at = append(at, i)
	}
	if len(uses) > 0 {
		errs, err := s.record(ctx, clientOf(ctx), uses, charge)
		if err != nil {
			return nil, err
		}
		for k, i := range at {
			if errs[k] == nil {
				results[i] = Result{Admitted: true}
			} else {
				results[i] = refusal(errs[k])
			}
		}
	}
	for i := range results {
		code := "registered"
		if !results[i].Admitted {
			code = results[i].Code
		}
		countCode(&s.regCount, code)
	}
	return results, nil
}

// Registrations returns how many registrations ended with each code
// ("registered" for success) since the Service started.
func (s *Service) Registrations() map[string]int64 { return codeCounts(&s.regCount) }

// checkRegistration runs the checks of a registration that cost neither a
// lookup nor a verification: shape, scope, ring size and distinct indices.
func (s *Service) checkRegistration(r *Request, now time.Time) (Use, error) {
	if r.Free() {
		return Use{}, errMalformed("a registration carries a ring proof (ring, tag, signature): the free tier needs none")
	}
	if _, err := s.shape(r); err != nil {
		return Use{}, err
	}
	day, err := s.currentDay(r.Scope, now)
	if err != nil {
		return Use{}, err
	}
	if n := len(r.Ring); n < s.min || n > s.max {
		return Use{}, wrapError(ringverify.ErrRingBounds.Code(), fmt.Sprintf("the ring has %d members; this server accepts %d to %d", n, s.min, s.max), ringverify.ErrRingBounds)
	}
	size, sized := s.indexSize()
	seen := make(map[uint64]struct{}, len(r.Ring))
	for pos, i := range r.Ring {
		if _, dup := seen[i]; dup {
			return Use{}, newError("ring_duplicate_member", fmt.Sprintf("ledger index %d appears twice in the ring (position %d): every member must be distinct", i, pos))
		}
		seen[i] = struct{}{}
		// Every stored registration names only indices this server held
		// when it was written, so a member a later conflict cannot find is
		// an index that lags, never one that does not exist (see resolve).
		switch {
		case !sized || i < size:
		case i-size < indexLag:
			return Use{}, ErrIndexBehind
		default:
			return Use{}, wrapError(ringverify.ErrUnknownMember.Code(), fmt.Sprintf("ledger index %d (ring position %d) is far past the ledger's %d entries: pick the ring from GET /v1/licenses/valid", i, pos, size), ringverify.ErrUnknownMember)
		}
	}
	return Use{Scope: r.Scope, Day: day, Counter: r.Counter, Tag: [TagSize]byte(r.Tag), MsgHash: sha256.Sum256(r.Message), Proof: EncodeProof(r), Request: r}, nil
}

// indexLag is how far past this server's license index a ring member may
// be and still be a license another process or a relay's mirror saw first
// (index_behind, a retry): more than a sequencer round holds (100,000) is
// no license at all (member_unknown).
const indexLag = 100_000

// indexSize returns the size of the license index, when Licenses tells it.
func (s *Service) indexSize() (uint64, bool) {
	if z, ok := s.lic.(interface{ Size() uint64 }); ok {
		return z.Size(), true
	}
	return 0, false
}

// record records uses and decides each: nil (admitted), ErrTagUsed or
// another refusal. A use with a Proof is a registration nobody here
// verified yet; one without was verified by this Service. With a Registry,
// conflicts are decided by verifying (see resolve); charge, if not nil, is
// called before each verification and may refuse it.
func (s *Service) record(ctx context.Context, client client, uses []Use, charge func() error) ([]error, error) {
	errs := make([]error, len(uses))
	switch st := s.tags.(type) {
	case Registry:
		claims, err := st.Claim(ctx, uses)
		if err != nil {
			return nil, err
		}
		for i, c := range claims {
			switch {
			case c.Admitted && c.Unconfirmed:
				errs[i], err = s.confirm(ctx, st, client, uses[i], c.Held, charge)
			case !c.Admitted:
				errs[i], err = s.resolve(ctx, st, client, uses[i], c.Held, charge)
			}
			if err != nil {
				return nil, err
			}
		}
	case VerdictStore:
		return st.RecordVerdicts(ctx, uses)
	default:
		admitted, err := s.tags.Record(ctx, uses)
		if err != nil {
			return nil, err
		}
		for i, ok := range admitted {
			if !ok {
				errs[i] = ErrTagUsed
			}
		}
	}
	return errs, nil
}

// confirm decides a use of the same message as the held one, whose
// different proof nobody verified: the use's proof is verified (free when
// this Service verified it already) and the held use marked verified. Left
// unverified, a forged proof of an admitted message would lose to the
// license holder's second message later, and both would be admitted.
func (s *Service) confirm(ctx context.Context, st Registry, client client, u, held Use, charge func() error) (error, error) {
	if u.Proof != nil {
		if refused, err := s.verifyNew(ctx, client, u, charge); refused != nil || err != nil {
			return refused, err
		}
	}
	if err := st.Confirm(ctx, held); err != nil {
		return nil, err
	}
	return nil, nil
}

// verifyNew runs every admission check but the proof of work (its relay
// checked it) on a registration, charged. It returns the refusal, or an
// internal error.
func (s *Service) verifyNew(ctx context.Context, client client, u Use, charge func() error) (error, error) {
	r := u.Request // the registration's own request, when this call made the use
	if r == nil {
		var err error
		if r, err = DecodeProof(u, u.Proof); err != nil {
			return err, nil
		}
	}
	err := s.verifyCharged(ctx, client, charge, func() error {
		_, err := s.check(r, s.cfg.Now(), true)
		return err
	})
	if err == nil {
		return nil, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var ce chargeError
	if Code(err) == "" && !errors.As(err, &ce) {
		return nil, err
	}
	return err, nil
}

// resolve decides a use that conflicts with what its key holds: the use
// wins only if its proof verifies and the held one's does not. A held use
// that verifies is marked verified, so that no conflict verifies it again.
// The held use's verification is the server's cost, not charged to the
// caller: a forger's registration must not spend its victim's tokens.
func (s *Service) resolve(ctx context.Context, st Registry, client client, u, held Use, charge func() error) (error, error) {
	if u.Proof != nil {
		// A registration: it must pass every check an admission passes
		// (members valid and active now, counter within quota, signature).
		if refused, err := s.verifyNew(ctx, client, u, charge); refused != nil || err != nil {
			return refused, err
		}
		u.Proof = nil
	}
	for range 4 {
		if held.MsgHash == u.MsgHash {
			if held.Proof != nil {
				if err := st.Confirm(ctx, held); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}
		if held.Proof == nil {
			return ErrTagUsed, nil
		}
		valid := false
		hr, err := DecodeProof(held, held.Proof)
		if err == nil {
			// The held registration is judged as its signer made it: by its
			// signature over ring members of one plan valid at some moment
			// its scope was current, whatever their state now (a license
			// revoked since still signed it).
			err = s.verifyCharged(ctx, client, nil, func() error { return s.verifyAsRegistered(hr, held.Day) })
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, ringverify.ErrUnknownMember) && s.namesUnknown(hr.Ring) {
				// Written by a process whose index held the member: this
				// one's lags. Judge it when it does not.
				return ErrIndexBehind, nil
			}
			if err != nil && Code(err) == "" && ringverify.Code(err) == "" {
				return nil, err // not a verdict on the proof
			}
			valid = err == nil
		}
		if valid {
			if err := st.Confirm(ctx, held); err != nil {
				return nil, err
			}
			return ErrTagUsed, nil
		}
		ok, err := st.Replace(ctx, held, u)
		if err != nil {
			return nil, err
		}
		if ok {
			return nil, nil
		}
		// Another process changed the key meanwhile: look again.
		var found bool
		if held, found, err = st.Held(ctx, u); err != nil {
			return nil, err
		}
		if !found {
			return newError("scope_not_current", "the scope's tags were pruned while this registration was decided"), nil
		}
	}
	return nil, errors.New("admission: a tag kept changing while a conflict was decided")
}

// namesUnknown reports whether ring names an index past this server's
// license index.
func (s *Service) namesUnknown(ring []uint64) bool {
	size, ok := s.indexSize()
	if !ok {
		return false
	}
	for _, i := range ring {
		if i >= size {
			return true
		}
	}
	return false
}

// chargeError is charge's refusal of a verification.
type chargeError struct{ error }

func (e chargeError) Unwrap() error { return e.error }

// verifyCharged runs verify (a ring signature check) on one of the
// verifying cores, after charge accepted it.
func (s *Service) verifyCharged(ctx context.Context, client client, charge func() error, verify func() error) error {
	if charge != nil {
		if err := charge(); err != nil {
			return chargeError{err}
		}
	}
	if err := s.cores.acquire(ctx, client); err != nil {
		return err
	}
	defer s.cores.release(client)
	return verify()
}

// verifyAsRegistered verifies r's signature over its ring with every member
// counted active and valid if its validity overlaps the time its scope's
// day was current: the day, widened by the clock skew on both sides. A
// relay checked the members at some moment in that span, so a license that
// expired at midnight still counts for a registration of tomorrow's scope
// made at 23:55.
func (s *Service) verifyAsRegistered(r *Request, day time.Time) error {
	p, err := s.shape(r)
	if err != nil {
		return err
	}
	lo, hi := day.Add(-s.cfg.ClockSkew), day.Add(24*time.Hour+s.cfg.ClockSkew)
	v, err := ringverify.NewVerifier(ringverify.VerifierConfig{Members: activeMembers{s.lic, lo, hi}, MinRingSize: s.min, MaxRingSize: s.max})
	if err != nil {
		return err
	}
	ring, err := v.Resolve(r.Ring, lo)
	if err != nil {
		return err
	}
	if q, ok := s.cfg.Quota(ring.Plan()); !ok || r.Counter >= q {
		return ErrCounterOverQuota
	}
	s.verifications.Add(1)
	return v.VerifyRing(ring, r.Scope, r.Counter, r.Message, p)
}

// activeMembers reports every member of lic as active, and one whose
// validity overlaps [lo, hi) as valid from lo to hi: how a held registration
// is judged (see verifyAsRegistered).
type activeMembers struct {
	lic    Licenses
	lo, hi time.Time
}

func (a activeMembers) Member(i uint64) (ringverify.Member, error) {
	m, err := a.lic.Member(i)
	if err == nil {
		m.State = ringverify.Active
		if m.NotBefore.Before(a.hi) && m.NotAfter.After(a.lo) {
			m.NotBefore, m.NotAfter = a.lo, a.hi
		}
	}
	return m, err
}
