package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// The suspension feed is the public, signed, append-only record of what the
// server refuses beside revocations: every license it suspended (an open
// card dispute, a Bitcoin payment a reorg took back) and every suspension it
// lifted, in the order it decided them. Relays' mirrors sync it as they
// sync the ledger, so that a relay verifying locally refuses exactly the
// members the server refuses (member_suspended). It publishes which ledger
// indices were suspended and when each suspension was lifted, to the
// second, and keeps that history, as the ledger keeps revocations (a
// suspension lifted in the transaction that made it is withdrawn
// unpublished). Admission shows anyone only the current state, by refusing.
//
// Its checkpoint is not tied to the ledger's witnessed checkpoint: a mirror
// that has never synced can be served an older signed feed checkpoint (by
// a cache, a lagging replica or a server showing different feeds to
// different relays), which it cannot tell from the newest. Once it has
// synced, a smaller or different one is refused as a fork.
//
// An entry is SuspensionEntrySize bytes:
//
//	u8 kind (1 suspended, 0 lifted) ‖ u64be ledger index ‖ u64be Unix seconds
//
// The feed is a hash chain: head(0) is 32 zero bytes and
//
//	head(n+1) = SHA-256("lic/v1/suspensions" ‖ head(n) ‖ entry n)
//
// Its checkpoint is a signed note, by the ledger's own key, whose text is
//
//	<ledger origin>/suspensions\n<size>\n<base64 head>\n
//
// A ledger checkpoint's origin is the key's name, this one's is not: one can
// never be taken for the other. Entries are served in tiles of
// SuspensionTileSize (see package web: /ledger/suspensions/…); a tile's
// bytes never change, so every tile is cacheable for ever; only the
// checkpoint is short-lived.

// SuspensionEntrySize is the size of one encoded feed entry.
const SuspensionEntrySize = 17

// SuspensionTileSize is the number of entries in a full tile of the feed.
const SuspensionTileSize = 256

// suspensionLabel is the hash label of the feed's chain.
const suspensionLabel = "lic/v1/suspensions"

// SuspensionOrigin returns the origin line of the feed of the ledger
// ledgerOrigin.
func SuspensionOrigin(ledgerOrigin string) string { return ledgerOrigin + "/suspensions" }

// SuspensionEntry is one decision: the license at Index suspended, or its
// suspension lifted, at Time (whole seconds).
type SuspensionEntry struct {
	Suspended bool
	Index     uint64
	Time      time.Time
}

// MarshalBinary encodes e; a time before 1970 is written as 1970, one past
// 2^62 seconds as 2^62, so that every entry it writes parses.
func (e SuspensionEntry) MarshalBinary() []byte {
	b := make([]byte, SuspensionEntrySize)
	if e.Suspended {
		b[0] = 1
	}
	binary.BigEndian.PutUint64(b[1:], e.Index)
	binary.BigEndian.PutUint64(b[9:], uint64(min(max(e.Time.Unix(), 0), 1<<62)))
	return b
}

// ErrBadSuspensionFeed is matched by every error about a malformed or
// unverifiable feed entry or checkpoint.
var ErrBadSuspensionFeed = errors.New("ledger: bad suspension feed")

func feedError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadSuspensionFeed}, args...)...)
}

// ParseSuspensionEntry decodes one entry, canonically: kind 0 or 1, an
// index of at most 2^62 and a time within int64 seconds.
func ParseSuspensionEntry(b []byte) (SuspensionEntry, error) {
	if len(b) != SuspensionEntrySize {
		return SuspensionEntry{}, feedError("an entry is %d bytes, not %d", SuspensionEntrySize, len(b))
	}
	if b[0] > 1 {
		return SuspensionEntry{}, feedError("entry kind %d is neither 0 (lifted) nor 1 (suspended)", b[0])
	}
	idx := binary.BigEndian.Uint64(b[1:])
	ts := binary.BigEndian.Uint64(b[9:])
	if idx > 1<<62 || ts > 1<<62 {
		return SuspensionEntry{}, feedError("entry index or time out of range")
	}
	return SuspensionEntry{Suspended: b[0] == 1, Index: idx, Time: time.Unix(int64(ts), 0).UTC()}, nil
}

// NextSuspensionHead returns the head after entry, given the head before.
func NextSuspensionHead(prev [32]byte, entry []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(suspensionLabel))
	h.Write(prev[:])
	h.Write(entry)
	return [32]byte(h.Sum(nil))
}

// SuspensionCheckpoint is the feed's state at one size.
type SuspensionCheckpoint struct {
	Origin string // SuspensionOrigin of the ledger's origin
	Size   int64
	Head   [32]byte
}

// Text returns the checkpoint's note text.
func (c SuspensionCheckpoint) Text() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Head[:]))
}

// SignSuspensionCheckpoint signs c with the ledger's signer, whose name must
// be the ledger origin of c.Origin.
func SignSuspensionCheckpoint(c SuspensionCheckpoint, s note.Signer) ([]byte, error) {
	if c.Origin != SuspensionOrigin(s.Name()) {
		return nil, fmt.Errorf("ledger: signer %q cannot sign the suspension feed %q", s.Name(), c.Origin)
	}
	return note.Sign(&note.Note{Text: string(c.Text())}, s)
}

// OpenSuspensionCheckpoint verifies a signed feed checkpoint against the
// ledger's verifier key and parses it; its origin must be the feed's of the
// key's ledger.
func OpenSuspensionCheckpoint(msg []byte, v note.Verifier) (SuspensionCheckpoint, error) {
	if len(msg) > maxCheckpointSize {
		return SuspensionCheckpoint{}, feedError("checkpoint is too large")
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return SuspensionCheckpoint{}, feedError("checkpoint signature does not verify with key %s: %v", v.Name(), err)
	}
	lines := bytes.Split([]byte(n.Text), []byte("\n"))
	if len(lines) != 4 || len(lines[3]) != 0 {
		return SuspensionCheckpoint{}, feedError("checkpoint must be an origin, a size and a head line")
	}
	c := SuspensionCheckpoint{Origin: string(lines[0])}
	if c.Origin != SuspensionOrigin(v.Name()) {
		return SuspensionCheckpoint{}, feedError("checkpoint origin %q is not %q", c.Origin, SuspensionOrigin(v.Name()))
	}
	size, err := strconv.ParseInt(string(lines[1]), 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != string(lines[1]) {
		return SuspensionCheckpoint{}, feedError("checkpoint size is not a canonical decimal")
	}
	c.Size = size
	head, err := base64.StdEncoding.Strict().DecodeString(string(lines[2]))
	if err != nil || len(head) != 32 || base64.StdEncoding.EncodeToString(head) != string(lines[2]) {
		return SuspensionCheckpoint{}, feedError("checkpoint head is not a base64 SHA-256 hash")
	}
	c.Head = [32]byte(head)
	return c, nil
}

// SuspensionState is what a reader of the feed knows: the verified size and
// head, and the licenses suspended now.
type SuspensionState struct {
	Size      int64
	Head      [32]byte
	Suspended map[uint64]bool
}

// NewSuspensionState returns the state of the empty feed.
func NewSuspensionState() *SuspensionState {
	return &SuspensionState{Suspended: map[uint64]bool{}}
}

// Extend checks that entries (concatenated, from st.Size on) lead from
// st's head to cp's, and then applies them. On any error st is unchanged. A
// checkpoint smaller than st, or of st's size with another head, is a fork:
// an error matching ErrBadSuspensionFeed and ErrSuspensionFork.
func (st *SuspensionState) Extend(cp SuspensionCheckpoint, entries []byte) error {
	switch {
	case cp.Size < st.Size, cp.Size == st.Size && cp.Head != st.Head:
		return fmt.Errorf("%w: %w: the feed went from size %d to %d with another history", ErrBadSuspensionFeed, ErrSuspensionFork, st.Size, cp.Size)
	case int64(len(entries)) != (cp.Size-st.Size)*SuspensionEntrySize:
		return feedError("%d bytes of entries for %d new entries", len(entries), cp.Size-st.Size)
	}
	head := st.Head
	next := make(map[uint64]bool, len(st.Suspended))
	for k, v := range st.Suspended {
		next[k] = v
	}
	for off := 0; off < len(entries); off += SuspensionEntrySize {
		e, err := ParseSuspensionEntry(entries[off : off+SuspensionEntrySize])
		if err != nil {
			return err
		}
		head = NextSuspensionHead(head, entries[off:off+SuspensionEntrySize])
		if e.Suspended {
			next[e.Index] = true
		} else {
			delete(next, e.Index)
		}
	}
	if head != cp.Head {
		return fmt.Errorf("%w: %w: the entries do not lead to the signed head at size %d", ErrBadSuspensionFeed, ErrSuspensionFork, cp.Size)
	}
	st.Size, st.Head, st.Suspended = cp.Size, head, next
	return nil
}

// ErrSuspensionFork is matched by an Extend error that shows the server
// rewrote the feed or shows different feeds to different readers.
var ErrSuspensionFork = errors.New("the suspension feed forked")

// Indices returns the suspended indices, in no order.
func (st *SuspensionState) Indices() []uint64 {
	out := make([]uint64, 0, len(st.Suspended))
	for i := range st.Suspended {
		out = append(out, i)
	}
	return out
}

// CheckSuspensionFeed replays a whole feed: entries (concatenated, from the
// first) and every checkpoint it had (signed notes, by size). It returns
// the state at the last checkpoint and one sentence per problem: a note
// that does not verify, a size the entries do not reach, a head the chain
// does not lead to, entries past the last checkpoint.
func CheckSuspensionFeed(notes [][]byte, entries []byte, v note.Verifier) (*SuspensionState, []string) {
	var problems []string
	st := NewSuspensionState()
	for _, msg := range notes {
		cp, err := OpenSuspensionCheckpoint(msg, v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("a suspension feed checkpoint does not verify: %v", err))
			continue
		}
		from, to := st.Size*SuspensionEntrySize, cp.Size*SuspensionEntrySize
		if cp.Size < st.Size || to > int64(len(entries)) {
			problems = append(problems, fmt.Sprintf("suspension feed checkpoint of size %d: the feed holds %d entries", cp.Size, len(entries)/SuspensionEntrySize))
			continue
		}
		if err := st.Extend(cp, entries[from:to]); err != nil {
			problems = append(problems, fmt.Sprintf("suspension feed checkpoint of size %d does not match the entries: %v", cp.Size, err))
		}
	}
	if int64(len(entries)) != st.Size*SuspensionEntrySize {
		problems = append(problems, fmt.Sprintf("the suspension feed holds %d entries, its last good checkpoint %d", len(entries)/SuspensionEntrySize, st.Size))
	}
	return st, problems
}
