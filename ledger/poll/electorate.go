package poll

import (
	"fmt"
	"sync/atomic"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ringverify"
)

// An Electorate is the ledger as a recount sees it: every license entry,
// and for each the position of the revoke entry that revoked it, if any.
// It answers ringverify's Members for a prefix of the ledger (SetSize), so
// that each ballot is checked against exactly the entries the server
// checked it against: a revocation at or after a ballot's ledger_size does
// not undo that ballot.
//
// It has no suspensions: they are not on the ledger.
type Electorate struct {
	members   map[uint64]ringverify.Member
	revokedAt map[uint64]uint64 // license index → index of its first revoke entry
	total     uint64
	size      atomic.Uint64
}

// NewElectorate reads the ledger's entries, entry i at ledger index i.
// An entry that does not parse is an error: the ledger is broken.
func NewElectorate(entries [][]byte) (*Electorate, error) {
	e := &Electorate{members: map[uint64]ringverify.Member{}, revokedAt: map[uint64]uint64{}, total: uint64(len(entries))}
	for i, b := range entries {
		en, err := ledger.ParseEntry(b)
		if err != nil {
			return nil, fmt.Errorf("poll: ledger entry %d does not parse: %w", i, err)
		}
		switch en := en.(type) {
		case *ledger.LicenseEntry:
			e.members[uint64(i)] = ringverify.Member{Key: en.P, Plan: en.Plan, NotBefore: en.NotBefore, NotAfter: en.NotAfter, State: ringverify.Active}
		case *ledger.RevokeEntry:
			if _, ok := e.revokedAt[en.Target]; !ok {
				e.revokedAt[en.Target] = uint64(i)
			}
		}
	}
	e.size.Store(e.total)
	return e, nil
}

// Total is the number of ledger entries read.
func (e *Electorate) Total() uint64 { return e.total }

// SetSize makes Member answer for the ledger's first n entries: indices at
// or beyond n are unknown, revocations at or beyond n are not applied. It
// fails with ErrLedgerSize when n is more than the entries read. A recount
// calls it before each ballot, with the ballot's LedgerSize; it is not
// meant to change while a ballot is checked.
func (e *Electorate) SetSize(n uint64) error {
	if n > e.total {
		return errorf(ErrLedgerSize, fmt.Sprintf("the ballot was checked against %d ledger entries; the ledger read has only %d: read a newer checkpoint", n, e.total))
	}
	e.size.Store(n)
	return nil
}

// Member implements ringverify.Members for the prefix set by SetSize.
func (e *Electorate) Member(index uint64) (ringverify.Member, error) {
	m, ok := e.members[index]
	if !ok || index >= e.size.Load() {
		return ringverify.Member{}, fmt.Errorf("%w: %d", ringverify.ErrUnknownMember, index)
	}
	if at, ok := e.revokedAt[index]; ok && at < e.size.Load() {
		m.State = ringverify.Revoked
	}
	return m, nil
}

// Eligible returns, sorted, the ledger indices among the first SetSize
// entries and within p's electorate of licenses of plan that count for
// poll p: valid at p.Opens and not revoked. A voter draws decoys from it.
func (e *Electorate) Eligible(p *Poll, plan string) []uint64 {
	var out []uint64
	for i := range min(e.size.Load(), p.Electorate) {
		m, err := e.Member(i)
		if err != nil || m.Plan != plan || m.State != ringverify.Active || p.Opens.Before(m.NotBefore) || !p.Opens.Before(m.NotAfter) {
			continue
		}
		out = append(out, i)
	}
	return out
}
