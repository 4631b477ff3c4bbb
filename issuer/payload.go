package issuer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

const (
	// PayloadVersion is the version byte of the payload encoding.
	PayloadVersion = 1
	// MaxPlanLen is the longest plan identifier a payload can carry.
	MaxPlanLen = 64
	// ReceiptSize is the length of a receipt code.
	ReceiptSize = 16

	payloadFixedSize = 1 + 1 + 8 + 8 + 4 + ReceiptSize // without the plan
	day              = 24 * 60 * 60
	// maxTime is 10000-01-01T00:00:00Z: times must be in years 1970 to 9999.
	maxTime = 253402300800
)

// Payload is what a license output carries, sealed, for its owner.
type Payload struct {
	// Plan is the plan identifier: 1 to 64 bytes of printable ASCII other
	// than space (0x21 to 0x7e).
	Plan string
	// NotBefore and NotAfter bound the validity: the license is valid from
	// NotBefore up to but not including NotAfter. Both are whole UTC days
	// (midnight UTC) between 1970 and 9999, and NotBefore < NotAfter.
	NotBefore, NotAfter time.Time
	// DailyQuota is the number of ring proofs per scope (day): at least 1.
	DailyQuota uint32
	// Receipt is a random code the customer can quote to the issuer.
	Receipt [ReceiptSize]byte
}

// ErrInvalidPayload is wrapped by every error of EncodePayload and
// DecodePayload.
var ErrInvalidPayload = errors.New("issuer: invalid license payload")

func payloadErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidPayload, fmt.Sprintf(format, args...))
}

// dayTime returns t as unix seconds if it is a whole UTC day in range.
func dayTime(t time.Time) (uint64, bool) {
	s := t.Unix()
	if t.Nanosecond() != 0 || s < 0 || s >= maxTime || s%day != 0 {
		return 0, false
	}
	return uint64(s), true
}

func validPlan(plan string) bool {
	if len(plan) < 1 || len(plan) > MaxPlanLen {
		return false
	}
	for i := 0; i < len(plan); i++ {
		if plan[i] < 0x21 || plan[i] > 0x7e {
			return false
		}
	}
	return true
}

// check validates p as EncodePayload requires.
func (p *Payload) check() (nb, na uint64, err error) {
	if !validPlan(p.Plan) {
		return 0, 0, payloadErr("plan must be 1 to %d printable ASCII characters without spaces", MaxPlanLen)
	}
	nb, ok1 := dayTime(p.NotBefore)
	na, ok2 := dayTime(p.NotAfter)
	if !ok1 || !ok2 {
		return 0, 0, payloadErr("validity must be whole UTC days between 1970 and 9999")
	}
	if nb >= na {
		return 0, 0, payloadErr("not_after must be after not_before")
	}
	if p.DailyQuota == 0 {
		return 0, 0, payloadErr("daily quota must be at least 1")
	}
	return nb, na, nil
}

// AppendPayload appends the canonical encoding of p to b:
//
//	version (1 byte, 0x01) ‖ len(plan) (1 byte) ‖ plan ‖
//	not_before (8 bytes, big-endian unix seconds) ‖
//	not_after (8 bytes, big-endian unix seconds) ‖
//	daily_quota (4 bytes, big-endian) ‖ receipt (16 bytes)
func AppendPayload(b []byte, p *Payload) ([]byte, error) {
	nb, na, err := p.check()
	if err != nil {
		return b, err
	}
	b = append(b, PayloadVersion, byte(len(p.Plan)))
	b = append(b, p.Plan...)
	b = binary.BigEndian.AppendUint64(b, nb)
	b = binary.BigEndian.AppendUint64(b, na)
	b = binary.BigEndian.AppendUint32(b, p.DailyQuota)
	return append(b, p.Receipt[:]...), nil
}

// EncodePayload returns the canonical encoding of p (see AppendPayload), or
// an error wrapping ErrInvalidPayload if p breaks a rule of Payload.
func EncodePayload(p *Payload) ([]byte, error) {
	return AppendPayload(make([]byte, 0, payloadFixedSize+len(p.Plan)), p)
}

// DecodePayload decodes a canonical payload encoding. It accepts exactly the
// outputs of EncodePayload: anything else (unknown version, wrong lengths,
// trailing bytes, a time that is not a whole day, an empty quota) is an error
// wrapping ErrInvalidPayload. Times are returned in UTC.
func DecodePayload(b []byte) (*Payload, error) {
	if len(b) < 2 {
		return nil, payloadErr("too short")
	}
	if b[0] != PayloadVersion {
		return nil, payloadErr("unknown version %d", b[0])
	}
	n := int(b[1])
	if len(b) != payloadFixedSize+n {
		return nil, payloadErr("length %d does not match a plan of %d bytes", len(b), n)
	}
	b = b[2:]
	p := &Payload{Plan: string(b[:n])}
	b = b[n:]
	nb := binary.BigEndian.Uint64(b[0:8])
	na := binary.BigEndian.Uint64(b[8:16])
	if nb >= maxTime || na >= maxTime {
		return nil, payloadErr("validity after year 9999")
	}
	p.NotBefore = time.Unix(int64(nb), 0).UTC()
	p.NotAfter = time.Unix(int64(na), 0).UTC()
	p.DailyQuota = binary.BigEndian.Uint32(b[16:20])
	copy(p.Receipt[:], b[20:36])
	if _, _, err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}
