package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/gtank/ristretto255"
)

// EntryVersion is the first byte of every entry encoding.
const EntryVersion = 1

// Sizes and bounds of the entry encodings.
const (
	// KeySize is the size of R and P.
	KeySize = 32
	// MaxPlanLen bounds a plan id (1 to 64 bytes of printable ASCII other
	// than space, as issuer.Payload).
	MaxPlanLen = 64
	// MaxSealedLen bounds the sealed payload.
	MaxSealedLen = 1024
	// MaxEntrySize bounds any entry encoding. C2SP entry bundles prefix each
	// entry with a 16-bit length, so no entry may be longer than 65535 bytes.
	MaxEntrySize = 2 + 1 + MaxPlanLen + 4 + 4 + 2*KeySize + 1 + 2 + MaxSealedLen
	// maxDay is 9999-12-31 in days since 1970-01-01.
	maxDay = 2932896
)

// Kind is the kind of a ledger entry, its second byte.
type Kind byte

const (
	// KindLicense is a license output (LicenseEntry).
	KindLicense Kind = 1
	// KindRevoke revokes an earlier license (RevokeEntry).
	KindRevoke Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindLicense:
		return "license"
	case KindRevoke:
		return "revoke"
	}
	return fmt.Sprintf("Kind(%d)", byte(k))
}

// An Entry is one record of the ledger: a *LicenseEntry or a *RevokeEntry.
type Entry interface {
	Kind() Kind
	// MarshalBinary returns the canonical encoding, or an error if the entry
	// breaks a rule of its format (so nothing invalid is ever appended).
	MarshalBinary() ([]byte, error)
	isEntry()
}

// LicenseEntry is a minted license: the public part of a license output
// (package issuer) plus its plan and validity in clear, so relays can check
// ring members without opening anything.
//
// Encoding (version 1), all integers big-endian:
//
//	version (1) ‖ kind=1 (1) ‖ len(plan) (1) ‖ plan ‖ not_before (4) ‖
//	not_after (4) ‖ R (32) ‖ P (32) ‖ view_tag (1) ‖ len(sealed) (2) ‖ sealed
//
// where not_before and not_after are days since 1970-01-01 UTC.
type LicenseEntry struct {
	// Plan is the plan id: 1 to 64 bytes of printable ASCII (0x21–0x7e).
	Plan string
	// The license is valid from NotBefore (inclusive) to NotAfter
	// (exclusive); both are midnight UTC, NotBefore < NotAfter, years
	// 1970–9999.
	NotBefore, NotAfter time.Time
	// R is the ephemeral X25519 public key of the output.
	R [KeySize]byte
	// P is the one-time license key: a canonical, non-identity ristretto255
	// element. P is unique across the ledger.
	P [KeySize]byte
	// ViewTag lets owners skip most outputs that are not theirs.
	ViewTag byte
	// Sealed is the sealed payload, 1 to MaxSealedLen bytes.
	Sealed []byte
}

// RevokeReason says why a license was revoked.
type RevokeReason byte

const (
	// RevokeRefund: the payment was refunded.
	RevokeRefund RevokeReason = 1
	// RevokeDispute: the payment was disputed and the dispute lost.
	RevokeDispute RevokeReason = 2
	// RevokeOperator: revoked by an operator (fraud, abuse, mistake).
	RevokeOperator RevokeReason = 3
)

func (r RevokeReason) String() string {
	switch r {
	case RevokeRefund:
		return "refund"
	case RevokeDispute:
		return "dispute"
	case RevokeOperator:
		return "operator"
	}
	return fmt.Sprintf("RevokeReason(%d)", byte(r))
}

// RevokeEntry revokes the license entry at index Target. Enqueue does not
// look the target up (the caller knows it, e.g. from its order link); a
// revoke whose target is not an earlier license entry has no effect on the
// Index.
//
// Encoding (version 1): version (1) ‖ kind=2 (1) ‖ target (8, big-endian) ‖
// reason (1).
type RevokeEntry struct {
	Target uint64
	Reason RevokeReason
}

func (*LicenseEntry) Kind() Kind { return KindLicense }
func (*RevokeEntry) Kind() Kind  { return KindRevoke }
func (*LicenseEntry) isEntry()   {}
func (*RevokeEntry) isEntry()    {}

// entryError is a malformed or invalid entry; its code is "bad_entry".
type entryError struct{ msg string }

func (e *entryError) Error() string { return "ledger: " + e.msg }
func (e *entryError) Code() string  { return "bad_entry" }

// ErrBadEntry is matched (errors.Is) by every error about a malformed entry.
var ErrBadEntry = errors.New("ledger: bad entry")

func (e *entryError) Is(target error) bool { return target == ErrBadEntry }

func badEntry(format string, args ...any) error {
	return &entryError{msg: fmt.Sprintf(format, args...)}
}

func validPlan(p string) error {
	if len(p) < 1 || len(p) > MaxPlanLen {
		return badEntry("plan id must be 1 to %d bytes, not %d", MaxPlanLen, len(p))
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x21 || p[i] > 0x7e {
			return badEntry("plan id must be printable ASCII without spaces")
		}
	}
	return nil
}

// dayOf returns t as days since 1970-01-01 if t is midnight UTC in
// 1970–9999.
func dayOf(t time.Time, what string) (uint32, error) {
	u := t.UTC()
	sec := u.Unix()
	if sec < 0 || sec%86400 != 0 || u.Nanosecond() != 0 {
		return 0, badEntry("%s must be a whole UTC day (midnight UTC) from 1970 on", what)
	}
	d := sec / 86400
	if d > maxDay {
		return 0, badEntry("%s is after 9999-12-31", what)
	}
	return uint32(d), nil
}

// Day returns midnight UTC of the day d days after 1970-01-01.
func Day(d uint32) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

func validP(p *[KeySize]byte) error {
	e, err := ristretto255.NewIdentityElement().SetCanonicalBytes(p[:])
	if err != nil {
		return badEntry("P is not a canonical ristretto255 encoding")
	}
	if e.Equal(ristretto255.NewIdentityElement()) == 1 {
		return badEntry("P is the identity element")
	}
	return nil
}

// MarshalBinary returns the canonical encoding of e.
func (e *LicenseEntry) MarshalBinary() ([]byte, error) {
	if err := validPlan(e.Plan); err != nil {
		return nil, err
	}
	nb, err := dayOf(e.NotBefore, "not_before")
	if err != nil {
		return nil, err
	}
	na, err := dayOf(e.NotAfter, "not_after")
	if err != nil {
		return nil, err
	}
	if nb >= na {
		return nil, badEntry("not_before must be before not_after")
	}
	if err := validP(&e.P); err != nil {
		return nil, err
	}
	if len(e.Sealed) < 1 || len(e.Sealed) > MaxSealedLen {
		return nil, badEntry("sealed payload must be 1 to %d bytes, not %d", MaxSealedLen, len(e.Sealed))
	}
	b := make([]byte, 0, 3+len(e.Plan)+8+2*KeySize+3+len(e.Sealed))
	b = append(b, EntryVersion, byte(KindLicense), byte(len(e.Plan)))
	b = append(b, e.Plan...)
	b = binary.BigEndian.AppendUint32(b, nb)
	b = binary.BigEndian.AppendUint32(b, na)
	b = append(b, e.R[:]...)
	b = append(b, e.P[:]...)
	b = append(b, e.ViewTag)
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.Sealed)))
	b = append(b, e.Sealed...)
	return b, nil
}

// MarshalBinary returns the canonical encoding of e.
func (e *RevokeEntry) MarshalBinary() ([]byte, error) {
	switch e.Reason {
	case RevokeRefund, RevokeDispute, RevokeOperator:
	default:
		return nil, badEntry("unknown revoke reason %d", e.Reason)
	}
	b := make([]byte, 0, 11)
	b = append(b, EntryVersion, byte(KindRevoke))
	b = binary.BigEndian.AppendUint64(b, e.Target)
	return append(b, byte(e.Reason)), nil
}

// ParseEntry decodes a canonical entry encoding. It accepts exactly the
// encodings MarshalBinary produces: anything else (unknown version or kind,
// trailing bytes, a non-canonical P, a time that is not a whole day) is an
// error matching ErrBadEntry. The returned entry does not alias b.
func ParseEntry(b []byte) (Entry, error) { return parseEntry(b, true) }

// parseEntry is ParseEntry; checkP false skips decoding P (the costliest
// check, about 10 µs), for the index, which reads entries that were
// checked when enqueued and whose keys ringverify decodes anyway.
func parseEntry(b []byte, checkP bool) (Entry, error) {
	if len(b) < 2 {
		return nil, badEntry("entry is too short")
	}
	if b[0] != EntryVersion {
		return nil, badEntry("unknown entry version %d", b[0])
	}
	// On error the Entry is a nil interface, never a typed nil pointer that
	// a type switch would take for an entry.
	switch Kind(b[1]) {
	case KindLicense:
		e, err := parseLicense(b[2:], checkP)
		if err != nil {
			return nil, err
		}
		return e, nil
	case KindRevoke:
		e, err := parseRevoke(b[2:])
		if err != nil {
			return nil, err
		}
		return e, nil
	}
	return nil, badEntry("unknown entry kind %d", b[1])
}

func parseLicense(b []byte, checkP bool) (*LicenseEntry, error) {
	if len(b) < 1 {
		return nil, badEntry("license entry is truncated")
	}
	n := int(b[0])
	b = b[1:]
	if len(b) < n+8+2*KeySize+3 {
		return nil, badEntry("license entry is truncated")
	}
	e := &LicenseEntry{Plan: string(b[:n])}
	if err := validPlan(e.Plan); err != nil {
		return nil, err
	}
	b = b[n:]
	nb, na := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	if nb >= na || na > maxDay {
		return nil, badEntry("license validity is not a range of days before 9999-12-31")
	}
	e.NotBefore, e.NotAfter = Day(nb), Day(na)
	b = b[8:]
	copy(e.R[:], b)
	copy(e.P[:], b[KeySize:])
	if checkP {
		if err := validP(&e.P); err != nil {
			return nil, err
		}
	}
	e.ViewTag = b[2*KeySize]
	b = b[2*KeySize+1:]
	sl := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if sl < 1 || sl > MaxSealedLen {
		return nil, badEntry("sealed payload must be 1 to %d bytes", MaxSealedLen)
	}
	if len(b) != sl {
		return nil, badEntry("license entry has %d bytes of sealed payload where its length says %d", len(b), sl)
	}
	e.Sealed = append([]byte(nil), b...)
	return e, nil
}

func parseRevoke(b []byte) (*RevokeEntry, error) {
	if len(b) != 9 {
		return nil, badEntry("revoke entry must be 11 bytes")
	}
	e := &RevokeEntry{Target: binary.BigEndian.Uint64(b), Reason: RevokeReason(b[8])}
	switch e.Reason {
	case RevokeRefund, RevokeDispute, RevokeOperator:
	default:
		return nil, badEntry("unknown revoke reason %d", b[8])
	}
	return e, nil
}
