package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/tlogclient"
	"github.com/licensed/licensed/ringverify"
)

// ErrFork is returned by Sync when the server's checkpoint is not
// consistent with one the mirror verified before: the log was rewritten, or
// the server shows different logs to different clients. Stop trusting it.
// It is tlogclient.ErrFork.
var ErrFork = tlogclient.ErrFork

// Mirror is a relay's copy of the license ledger's index (a ledger.Index):
// every license's key, plan and validity, and the revocations, read with
// package tlogclient from the public tiles under checkpoints it audits, and
// the suspensions, read from the server's signed suspension feed. It
// implements admission.Licenses, so a Local verifier checks rings against
// it exactly as the server's admission does. It is safe for concurrent use;
// Sync may run while proofs are verified.
type Mirror struct {
	c        *Client
	log      *tlogclient.Client // keeps the hash tiles it verified
	verifier note.Verifier
	index    *ledger.Index

	syncMu sync.Mutex // one Sync at a time

	mu   sync.RWMutex
	cp   ledger.Checkpoint       // last verified and applied
	feed *ledger.SuspensionState // likewise
}

// NewMirror returns an empty mirror of c's ledger, whose checkpoints must
// be signed by the note verifier key vkey (as `licensed keygen` prints it).
func NewMirror(c *Client, vkey string) (*Mirror, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("relay: bad ledger verifier key: %w", err)
	}
	return &Mirror{c: c, log: &tlogclient.Client{Server: c.URL, Verifier: v, HTTP: c.HTTP}, verifier: v, index: ledger.NewIndex(), feed: ledger.NewSuspensionState()}, nil
}

// Checkpoint returns the last checkpoint the mirror verified and applied.
func (m *Mirror) Checkpoint() ledger.Checkpoint {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.cp
}

// Sync fetches the server's latest checkpoint, checks its signature and its
// consistency with the last one (ErrFork if it is not an extension), then
// fetches the new entries in C2SP entry bundles, checks each against the
// tree (the hash tiles are proven up to the signed root); it fetches the
// suspension feed's checkpoint (signed by the same key) and its new
// entries, checks they extend the feed it holds up to the signed head
// (ErrFork if not), and applies both. If the ledger fails, the mirror
// stays as it was; if only the feed fails, the verified ledger entries are
// applied (revocations must not wait for the feed) and the feed's error is
// returned. A status other than 200 from the server is an *Error.
func (m *Mirror) Sync(ctx context.Context) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	err := m.sync(ctx)
	var he *tlogclient.HTTPError
	if errors.As(err, &he) {
		return &Error{Status: he.Status, Code: fmt.Sprint("http_", he.Status), Message: "couldn't fetch /ledger/" + he.Path}
	}
	return err
}

func (m *Mirror) sync(ctx context.Context) error {
	m.log.Server, m.log.HTTP = m.c.URL, m.c.HTTP
	old := m.Checkpoint()
	cp, _, err := m.log.Checkpoint(ctx)
	if err != nil {
		return err
	}
	if err := m.log.Consistent(ctx, old, cp); err != nil {
		return err
	}
	var entries [][]byte
	if cp.Size > old.Size {
		for b, err := range m.log.Entries(ctx, cp, old.Size, cp.Size) {
			if err != nil {
				return err
			}
			entries = append(entries, b.Entries...)
		}
	}
	m.mu.RLock()
	feed := m.feed
	m.mu.RUnlock()
	next, feedErr := m.fetchFeed(ctx, feed)
	m.mu.Lock()
	defer m.mu.Unlock()
	// The verified ledger entries are applied even when the feed failed:
	// a feed the mirror cannot read must not hold back revocations.
	if len(entries) > 0 {
		if err := m.index.Append(uint64(old.Size), entries); err != nil {
			return fmt.Errorf("relay: %w", err)
		}
	}
	m.cp = cp
	if feedErr != nil {
		return feedErr
	}
	m.feed = next
	m.index.SetSuspended(next.Indices())
	return nil
}

// Follow calls Sync every period (default one minute) until ctx is done,
// logging failures (ErrFork among them) to log; the mirror keeps serving its
// last verified state meanwhile.
func (m *Mirror) Follow(ctx context.Context, period time.Duration, log *slog.Logger) {
	if period <= 0 {
		period = time.Minute
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		if err := m.Sync(ctx); err != nil && ctx.Err() == nil {
			log.Warn("relay: couldn't sync the ledger mirror", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Member implements ringverify.Members: a license suspended in the feed
// the mirror last synced is Suspended.
func (m *Mirror) Member(index uint64) (ringverify.Member, error) {
	return m.index.Member(index)
}

// Valid implements admission.Licenses: the indices of the licenses of plan
// valid at at, neither revoked nor suspended, sorted.
func (m *Mirror) Valid(plan string, at time.Time) []uint64 {
	return m.index.Valid(plan, at)
}

var _ admission.Licenses = (*Mirror)(nil)

// Local is a relay's own admission service: the checks of package
// ledger/admission against a Mirror, with tags in memory.
type Local = admission.Service

// NewLocal returns a Local verifier over m. cfg.Network and cfg.Quota are
// required (QuotaFunc makes Quota from Client.Quotas); cfg may also set the
// ring bounds, clock skew and proof of work, as the server does.
func NewLocal(m *Mirror, cfg admission.Config) (*Local, error) {
	return admission.New(m, admission.NewMemoryTags(), cfg)
}

// QuotaFunc returns an admission.Config.Quota over the quotas of
// Client.Quotas.
func QuotaFunc(quotas map[string]uint32) func(plan string) (uint32, bool) {
	return func(plan string) (uint32, bool) {
		q, ok := quotas[plan]
		return q, ok
	}
}
