package poll

import (
	"errors"
	"testing"
	"time"

	"github.com/licensed/licensed/ledger"
)

// TestRecountRefusesBackdatedBallot: license 0 is revoked at ledger
// index 20. Ballot 1 (license 5) was checked against 21 entries, so the
// revocation was known to the server; ballot 2, of the revoked license 0,
// comes after it in the log but claims LedgerSize 20, as if checked before
// the revocation. A server that rewinds LedgerSize lets revoked licenses
// vote and the recount (poll verify: e.SetSize(b.LedgerSize); rc.Add)
// counts it. LedgerSize must not decrease along the log.
func TestRecountRefusesBackdatedBallot(t *testing.T) {
	nb := opens.Truncate(24*time.Hour).AddDate(0, 0, -1)
	na := nb.AddDate(0, 0, 30)
	m := members{}
	var entries [][]byte
	for i := range uint64(20) {
		m.add(i, "basic", nb, na)
		k := m[i].Key
		e := &ledger.LicenseEntry{Plan: "basic", NotBefore: nb, NotAfter: na, P: k, Sealed: []byte{1}}
		e.R = [32]byte{byte(i) + 1}
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, b)
	}
	rv, err := (&ledger.RevokeEntry{Target: 0, Reason: ledger.RevokeRefund}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	entries = append(entries, rv) // index 20
	e, err := NewElectorate(entries)
	if err != nil {
		t.Fatal(err)
	}
	p := samplePoll()
	p.Plans = []string{"basic"}
	p.Electorate = 20
	v, err := NewVerifier(e)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := NewRecount(p, v)
	if err != nil {
		t.Fatal(err)
	}
	ring := ringOf(0, 11)
	b1 := vote(t, m, p, ringOf(1, 11), 4, 0, 1) // license 5, ring without the revoked one
	b1.LedgerSize = 21
	b2 := vote(t, m, p, ring, 0, 1, 2) // the revoked license
	b2.LedgerSize = 20                 // rewound by the server
	var errs []error
	for i, b := range []*Ballot{b1, b2} {
		err := e.SetSize(b.LedgerSize)
		if err == nil {
			err = rc.Add(int64(i+1), b)
		}
		errs = append(errs, err)
	}
	if errs[0] != nil {
		t.Fatalf("ballot 1: %v", errs[0])
	}
	if !errors.Is(errs[1], ErrBackdated) {
		t.Fatalf("the recount took a revoked license's ballot whose LedgerSize (20) went back below the previous ballot's (21): %v, counts %v", errs[1], rc.Counts())
	}
}
