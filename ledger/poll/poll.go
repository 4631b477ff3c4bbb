package poll

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/licensed/licensed/ringverify"
)

// Hash labels of this package (see the table in package ringverify).
const (
	LabelPoll   = "lic/v1/poll"   // the poll hash: SHA-256(label ‖ definition)
	LabelBallot = "lic/v1/ballot" // a ballot's message: SHA-256(label ‖ poll hash ‖ u8(option))
)

// Kind bytes: the first byte of every leaf of a poll's log.
const (
	KindPoll   = 0x50 // 'P': a poll definition, version 1
	KindBallot = 0x42 // 'B': a ballot, version 1
)

// Bounds of a poll definition.
const (
	MaxIDSize       = 63
	MaxQuestionSize = 1000
	MinOptions      = 2
	MaxOptions      = 64
	MaxOptionSize   = 200
	MaxPlans        = 16
	MaxPlanSize     = 64
	// DefaultMinRing is the minimum ring size of a poll that sets none.
	DefaultMinRing = ringverify.DefaultRingSize
	// MaxDefinitionSize bounds an encoded definition.
	MaxDefinitionSize = 1 + 1 + MaxIDSize + 2 + MaxQuestionSize + 1 + MaxOptions*(2+MaxOptionSize) + 1 + MaxPlans*(1+MaxPlanSize) + 8 + 8 + 1 + 2
)

// HashSize is the size of a poll hash and of a ballot message.
const HashSize = sha256.Size

// A Hash is a poll's hash: SHA-256("lic/v1/poll" ‖ definition).
type Hash [HashSize]byte

// A Poll is a poll's definition. Once created it never changes: its hash is
// in every ballot and its encoding is leaf 0 of its log.
type Poll struct {
	// ID names the poll: 1 to 63 bytes of a-z, 0-9 and '-', starting with a
	// letter or digit. Its ballots are signed in scope "poll/<id>".
	ID       string
	Question string
	// Options are the choices; a ballot names one by its position, from 0.
	Options []string
	// Plans are the plans whose licenses may vote, sorted, distinct.
	Plans []string
	// Opens and Closes bound the voting period, [Opens, Closes), whole
	// seconds, UTC.
	Opens, Closes time.Time
	// Electorate is the number of ledger entries, fixed when the poll is
	// made, among which voters are: the licenses at ledger indices below
	// it, of an eligible plan, valid at Opens. A license minted after the
	// poll was announced does not vote.
	Electorate uint64
	// HiddenTally keeps the counts and the ballots' contents unpublished
	// until Closes (the server still sees them).
	HiddenTally bool
	// MinRing is the smallest ring a ballot may use, 11 to 1024.
	MinRing int
}

// Scope is the ring proof scope of the poll's ballots, "poll/<id>".
func (p *Poll) Scope() string { return "poll/" + p.ID }

// State is "scheduled" before Opens, "open" until Closes, then "closed".
func (p *Poll) State(now time.Time) string {
	switch {
	case now.Before(p.Opens):
		return "scheduled"
	case now.Before(p.Closes):
		return "open"
	}
	return "closed"
}

// Eligible reports whether licenses of plan may vote.
func (p *Poll) Eligible(plan string) bool {
	_, ok := slices.BinarySearch(p.Plans, plan)
	return ok
}

func validID(id string) bool {
	if len(id) == 0 || len(id) > MaxIDSize || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidID reports whether id is a well-formed poll id.
func ValidID(id string) bool { return validID(id) }

func validText(s string, max int) bool {
	return len(s) > 0 && len(s) <= max && utf8.ValidString(s) && strings.TrimSpace(s) == s && !strings.ContainsRune(s, 0)
}

// Check reports the first rule p breaks, as an error wrapping ErrInvalid
// with a sentence that says what to fix.
func (p *Poll) Check() error {
	bad := func(format string, a ...any) error { return errorf(ErrInvalid, fmt.Sprintf(format, a...)) }
	switch {
	case !validID(p.ID):
		return bad("the poll id must be 1 to %d characters of a-z, 0-9 and '-', starting with a letter or digit", MaxIDSize)
	case !validText(p.Question, MaxQuestionSize):
		return bad("the question must be 1 to %d bytes of UTF-8 without leading or trailing space", MaxQuestionSize)
	case len(p.Options) < MinOptions || len(p.Options) > MaxOptions:
		return bad("a poll has %d to %d options; this one has %d", MinOptions, MaxOptions, len(p.Options))
	case len(p.Plans) < 1 || len(p.Plans) > MaxPlans:
		return bad("a poll names 1 to %d eligible plans; this one names %d", MaxPlans, len(p.Plans))
	case p.Opens.Unix() < 0 || !p.Opens.Equal(time.Unix(p.Opens.Unix(), 0)) || !p.Closes.Equal(time.Unix(p.Closes.Unix(), 0)):
		return bad("the opening and closing times must be whole seconds after 1970")
	case !p.Closes.After(p.Opens):
		return bad("the poll must close after it opens")
	case p.Electorate == 0 || p.Electorate > 1<<62:
		return bad("the electorate must be a number of ledger entries, at least 1")
	case p.MinRing < ringverify.MinAllowedRingSize || p.MinRing > ringverify.MaxRingSize:
		return bad("the minimum ring size must be between %d and %d", ringverify.MinAllowedRingSize, ringverify.MaxRingSize)
	}
	seen := map[string]bool{}
	for i, o := range p.Options {
		if !validText(o, MaxOptionSize) {
			return bad("option %d must be 1 to %d bytes of UTF-8 without leading or trailing space", i, MaxOptionSize)
		}
		if seen[o] {
			return bad("option %d repeats an earlier option", i)
		}
		seen[o] = true
	}
	for i, pl := range p.Plans {
		if !validText(pl, MaxPlanSize) {
			return bad("plan %d must be 1 to %d bytes", i, MaxPlanSize)
		}
		if i > 0 && p.Plans[i-1] >= pl {
			return bad("the plans must be sorted and distinct")
		}
	}
	return nil
}

// Normalize sorts the plans, removes duplicate plans, drops sub-second
// parts of the times, sets them in UTC and fills MinRing's default, so
// that a definition typed by an operator becomes canonical.
func (p *Poll) Normalize() {
	slices.Sort(p.Plans)
	p.Plans = slices.Compact(p.Plans)
	p.Opens = time.Unix(p.Opens.Unix(), 0).UTC()
	p.Closes = time.Unix(p.Closes.Unix(), 0).UTC()
	if p.MinRing == 0 {
		p.MinRing = DefaultMinRing
	}
}

// MarshalBinary returns the canonical encoding of p (see the package
// documentation). p must pass Check.
func (p *Poll) MarshalBinary() ([]byte, error) {
	if err := p.Check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 256)
	b = append(b, KindPoll, byte(len(p.ID)))
	b = append(b, p.ID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.Question)))
	b = append(b, p.Question...)
	b = append(b, byte(len(p.Options)))
	for _, o := range p.Options {
		b = binary.BigEndian.AppendUint16(b, uint16(len(o)))
		b = append(b, o...)
	}
	b = append(b, byte(len(p.Plans)))
	for _, pl := range p.Plans {
		b = append(b, byte(len(pl)))
		b = append(b, pl...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(p.Opens.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(p.Closes.Unix()))
	b = binary.BigEndian.AppendUint64(b, p.Electorate)
	var flags byte
	if p.HiddenTally {
		flags |= 1
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(p.MinRing))
	return b, nil
}

// HashDefinition returns the poll hash of a definition's encoding:
// SHA-256("lic/v1/poll" ‖ encoding).
func HashDefinition(enc []byte) Hash {
	h := sha256.New()
	h.Write([]byte(LabelPoll))
	h.Write(enc)
	return Hash(h.Sum(nil))
}

// Hash returns the poll's hash. p must pass Check.
func (p *Poll) Hash() (Hash, error) {
	enc, err := p.MarshalBinary()
	if err != nil {
		return Hash{}, err
	}
	return HashDefinition(enc), nil
}

// Message returns the message a ballot for option signs:
// SHA-256("lic/v1/ballot" ‖ poll hash ‖ u8(option)).
func Message(h Hash, option int) []byte {
	s := sha256.New()
	s.Write([]byte(LabelBallot))
	s.Write(h[:])
	s.Write([]byte{byte(option)})
	return s.Sum(nil)
}

// reader reads a canonical encoding; the first failure sticks.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() int {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (r *reader) u16() int {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

func (r *reader) u64() uint64 {
	b := r.bytes(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// ParseDefinition decodes a poll definition. It accepts exactly what
// MarshalBinary produces: every other input is refused with an error
// wrapping ErrMalformed or ErrInvalid.
func ParseDefinition(b []byte) (*Poll, error) {
	if len(b) > MaxDefinitionSize {
		return nil, errorf(ErrMalformed, "the poll definition is too long")
	}
	r := &reader{b: b}
	if r.u8() != KindPoll {
		return nil, errorf(ErrMalformed, "the poll definition does not start with its kind byte 0x50")
	}
	p := &Poll{}
	p.ID = string(r.bytes(r.u8()))
	p.Question = string(r.bytes(r.u16()))
	n := r.u8()
	for i := 0; i < n && !r.bad; i++ {
		p.Options = append(p.Options, string(r.bytes(r.u16())))
	}
	n = r.u8()
	for i := 0; i < n && !r.bad; i++ {
		p.Plans = append(p.Plans, string(r.bytes(r.u8())))
	}
	opens, closes := r.u64(), r.u64()
	p.Electorate = r.u64()
	flags := r.u8()
	p.MinRing = r.u16()
	if r.bad || len(r.b) != 0 {
		return nil, errorf(ErrMalformed, "the poll definition is truncated or has trailing bytes")
	}
	if opens > 1<<62 || closes > 1<<62 {
		return nil, errorf(ErrMalformed, "the poll's times are out of range")
	}
	if flags&^1 != 0 {
		return nil, errorf(ErrMalformed, "the poll definition has unknown flags")
	}
	p.Opens, p.Closes = time.Unix(int64(opens), 0).UTC(), time.Unix(int64(closes), 0).UTC()
	p.HiddenTally = flags&1 != 0
	if err := p.Check(); err != nil {
		return nil, err
	}
	if enc, _ := p.MarshalBinary(); !bytes.Equal(enc, b) {
		return nil, errorf(ErrMalformed, "the poll definition is not canonical")
	}
	return p, nil
}
