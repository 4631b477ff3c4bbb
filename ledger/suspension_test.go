package ledger_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/ledger"
)

func feedKeys(t testing.TB, origin string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, v
}

// feed builds a signed feed of entries and returns its checkpoint note and
// the concatenated entries.
func feed(t testing.TB, s note.Signer, es []ledger.SuspensionEntry) ([]byte, []byte) {
	t.Helper()
	var head [32]byte
	var all []byte
	for _, e := range es {
		b := e.MarshalBinary()
		head = ledger.NextSuspensionHead(head, b)
		all = append(all, b...)
	}
	msg, err := ledger.SignSuspensionCheckpoint(ledger.SuspensionCheckpoint{Origin: ledger.SuspensionOrigin(s.Name()), Size: int64(len(es)), Head: head}, s)
	if err != nil {
		t.Fatal(err)
	}
	return msg, all
}

// TestSuspensionFeed: a reader follows the feed through suspensions and
// lifts, refuses tampered entries, a rollback, a rewrite, and a checkpoint
// of the ledger or of another key; neither kind of note passes for the
// other.
func TestSuspensionFeed(t *testing.T) {
	s, v := feedKeys(t, "feed.test/ledger")
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	es := []ledger.SuspensionEntry{{true, 5, at}, {true, 9, at}, {false, 5, at.Add(time.Hour)}, {true, 1 << 40, at}}
	st := ledger.NewSuspensionState()
	msg2, all := feed(t, s, es[:2])
	cp2, err := ledger.OpenSuspensionCheckpoint(msg2, v)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Extend(cp2, all); err != nil {
		t.Fatal(err)
	}
	if !st.Suspended[5] || !st.Suspended[9] || len(st.Suspended) != 2 {
		t.Fatalf("after 2 entries: %v", st.Suspended)
	}
	msg4, all4 := feed(t, s, es)
	cp4, err := ledger.OpenSuspensionCheckpoint(msg4, v)
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(all4[2*ledger.SuspensionEntrySize:])
	bad[3] ^= 1
	if err := st.Extend(cp4, bad); !errors.Is(err, ledger.ErrSuspensionFork) {
		t.Fatalf("tampered entry: %v", err)
	}
	if st.Size != 2 {
		t.Fatal("a failed Extend changed the state")
	}
	if err := st.Extend(cp4, all4[2*ledger.SuspensionEntrySize:]); err != nil {
		t.Fatal(err)
	}
	if st.Suspended[5] || !st.Suspended[9] || !st.Suspended[1<<40] || st.Size != 4 {
		t.Fatalf("after 4 entries: %v (size %d)", st.Suspended, st.Size)
	}
	// A rollback, and a rewrite at the same size.
	if err := st.Extend(cp2, nil); !errors.Is(err, ledger.ErrSuspensionFork) {
		t.Fatalf("rollback: %v", err)
	}
	other := append(append([]ledger.SuspensionEntry(nil), es[:3]...), ledger.SuspensionEntry{true, 7, at})
	msgX, _ := feed(t, s, other)
	cpX, _ := ledger.OpenSuspensionCheckpoint(msgX, v)
	if err := st.Extend(cpX, nil); !errors.Is(err, ledger.ErrSuspensionFork) {
		t.Fatalf("rewrite: %v", err)
	}
	// Another key, and the ledger's own checkpoint: refused both ways.
	s2, _ := feedKeys(t, "feed.test/ledger")
	msgOther, _ := feed(t, s2, es)
	if _, err := ledger.OpenSuspensionCheckpoint(msgOther, v); !errors.Is(err, ledger.ErrBadSuspensionFeed) {
		t.Fatalf("another key's feed: %v", err)
	}
	lcp, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: s.Name(), Size: 4, Root: ledger.EmptyRoot}, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.OpenSuspensionCheckpoint(lcp, v); err == nil {
		t.Fatal("a ledger checkpoint passed for a suspension feed checkpoint")
	}
	if _, err := ledger.OpenCheckpoint(msg4, v); err == nil {
		t.Fatal("a suspension feed checkpoint passed for a ledger checkpoint")
	}
	// Entries decode canonically.
	for _, b := range [][]byte{make([]byte, 16), append([]byte{2}, make([]byte, 16)...), append([]byte{1, 0xff}, make([]byte, 15)...)} {
		if _, err := ledger.ParseSuspensionEntry(b); err == nil {
			t.Fatalf("entry %x decoded", b)
		}
	}
}

// FuzzSuspensionEntry: decoding never panics, and what decodes encodes back
// to the same bytes.
func FuzzSuspensionEntry(f *testing.F) {
	f.Add(ledger.SuspensionEntry{true, 7, time.Unix(1764800000, 0)}.MarshalBinary())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ledger.ParseSuspensionEntry(b)
		if err != nil {
			return
		}
		if !bytes.Equal(e.MarshalBinary(), b) {
			t.Fatalf("%x decodes to %+v, which encodes to %x", b, e, e.MarshalBinary())
		}
	})
}

// FuzzSuspensionCheckpoint: a note that opens under the feed's key parses
// to a checkpoint whose text is the note's text.
func FuzzSuspensionCheckpoint(f *testing.F) {
	s, v := feedKeys(f, "fuzz.test/ledger")
	msg, _ := feed(f, s, []ledger.SuspensionEntry{{true, 1, time.Unix(0, 0)}})
	f.Add(msg)
	f.Add([]byte("fuzz.test/ledger/suspensions\n1\nAAAA\n\n— x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cp, err := ledger.OpenSuspensionCheckpoint(b, v)
		if err != nil {
			return
		}
		n, err := note.Open(b, note.VerifierList(v))
		if err != nil || n.Text != string(cp.Text()) {
			t.Fatalf("opened %q as %+v", b, cp)
		}
	})
}
