package poll

import (
	"fmt"
	"time"

	"github.com/licensed/licensed/ringverify"
)

// Recount checks a poll's ballots one by one and counts them, as anyone can
// from the public log: each ballot with CheckBallot, and every tag once.
type Recount struct {
	p      *Poll
	h      Hash
	v      *ringverify.Verifier
	tags   map[[ringverify.ElementSize]byte]int64
	counts []int64
	size   uint64 // the largest LedgerSize counted so far
}

// NewRecount starts a recount of poll p with v (see CheckBallot for what
// v's Members must describe).
func NewRecount(p *Poll, v *ringverify.Verifier) (*Recount, error) {
	h, err := p.Hash()
	if err != nil {
		return nil, err
	}
	return &Recount{p: p, h: h, v: v, tags: map[[ringverify.ElementSize]byte]int64{}, counts: make([]int64, len(p.Options))}, nil
}

// Add checks the ballot at log index and counts it, ballots in log order.
// A second ballot with a tag already counted is refused with
// ErrAlreadyVoted; a ballot checked against a smaller ledger than one
// logged before it with ErrBackdated: the ledger only grows, so a server
// that logs a ballot as checked before a revocation it already knew of is
// caught.
func (r *Recount) Add(index int64, b *Ballot) error {
	if first, ok := r.tags[b.Tag()]; ok {
		return errorf(ErrAlreadyVoted, fmt.Sprintf("the ballot at %d has the tag of the ballot at %d: one license voted twice", index, first))
	}
	if b.LedgerSize < r.size {
		return errorf(ErrBackdated, fmt.Sprintf("the ballot at %d says it was checked against the ledger's first %d entries, after a ballot checked against %d: the server backdated it", index, b.LedgerSize, r.size))
	}
	if err := CheckBallot(r.v, r.p, r.h, b); err != nil {
		return err
	}
	r.size = b.LedgerSize
	r.tags[b.Tag()] = index
	r.counts[b.Option]++
	return nil
}

// Counts returns the votes per option so far.
func (r *Recount) Counts() []int64 { return append([]int64(nil), r.counts...) }

// View is a poll as GET /v1/polls/{id} shows it.
type View struct {
	ID          string    `json:"id"`
	Question    string    `json:"question"`
	Options     []string  `json:"options"`
	Plans       []string  `json:"plans"`
	Opens       time.Time `json:"opens"`
	Closes      time.Time `json:"closes"`
	Electorate  uint64    `json:"electorate"`
	HiddenTally bool      `json:"hidden_tally"`
	MinRing     int       `json:"min_ring"`
	Scope       string    `json:"scope"`
	// Definition is the canonical encoding, leaf 0 of the log; Hash is
	// its poll hash, in hex.
	Definition []byte `json:"definition"`
	Hash       string `json:"hash"`
	// State is "scheduled", "open" or "closed" at Now.
	State string    `json:"state"`
	Now   time.Time `json:"now"`
	// Ballots is the number of ballots in the log.
	Ballots int64 `json:"ballots"`
	// Counts are the votes per option, after the close or all along when
	// the tally is not hidden; absent otherwise.
	Counts []int64 `json:"counts,omitempty"`
	// Checkpoint is the log's latest signed checkpoint (a signed note).
	Checkpoint string `json:"checkpoint"`
}

// NewView is the view of p, encoded as enc, at now.
func NewView(p *Poll, enc []byte, now time.Time) View {
	h := HashDefinition(enc)
	return View{ID: p.ID, Question: p.Question, Options: p.Options, Plans: p.Plans, Opens: p.Opens, Closes: p.Closes, Electorate: p.Electorate,
		HiddenTally: p.HiddenTally, MinRing: p.MinRing, Scope: p.Scope(), Definition: enc, Hash: fmt.Sprintf("%x", h[:]),
		State: p.State(now), Now: now.UTC().Truncate(time.Second)}
}

// Revealed reports whether the counts and the ballots' contents are
// published at now: after the close, or all along when the tally is not
// hidden.
func (p *Poll) Revealed(now time.Time) bool { return !p.HiddenTally || !now.Before(p.Closes) }

// LeafView is one leaf of the log in a page of GET /v1/polls/{id}/ballots.
type LeafView struct {
	Index int64 `json:"index"`
	// Leaf is the ballot's encoding, absent while a hidden tally is
	// hidden; LeafHash (RFC 6962, tlog.RecordHash) is always given, so a
	// voter can check their own ballot's inclusion before the close.
	Leaf     []byte   `json:"leaf,omitempty"`
	LeafHash []byte   `json:"leaf_hash"`
	Tag      []byte   `json:"tag"`
	Proof    [][]byte `json:"proof"` // inclusion proof in the checkpoint's tree
}

// Page is a page of GET /v1/polls/{id}/ballots: ballots from start, with
// inclusion proofs in the tree of Checkpoint.
type Page struct {
	Checkpoint string     `json:"checkpoint"`
	Size       int64      `json:"size"`
	Ballots    []LeafView `json:"ballots"`
	// Next is the index to ask for next, 0 when there is no more.
	Next int64 `json:"next,omitempty"`
}
