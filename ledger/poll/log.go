package poll

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Origin returns the origin line of the checkpoints of poll id's log when
// signed by a key named keyName: "<keyName>/poll/<id>". Being distinct from
// keyName, it can never be taken for a checkpoint of the ledger signed with
// the same key.
func Origin(keyName, id string) string { return keyName + "/poll/" + id }

// A Checkpoint is the state of a poll's log: its size (leaf 0, the
// definition, and the ballots) and its root.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text returns the C2SP tlog-checkpoint body "<origin>\n<size>\n<b64 root>\n".
func (c Checkpoint) Text() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// maxCheckpointSize bounds a signed checkpoint note.
const maxCheckpointSize = 16 << 10

// SignCheckpoint signs c as a C2SP signed note with s. The origin must be
// Origin(s.Name(), id) for some poll id.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: string(c.Text())}, s)
}

// OpenCheckpoint verifies a signed checkpoint of poll id's log with v and
// parses it. Errors wrap ErrMalformed.
func OpenCheckpoint(msg []byte, v note.Verifier, id string) (Checkpoint, error) {
	if len(msg) > maxCheckpointSize {
		return Checkpoint{}, errorf(ErrMalformed, "the poll checkpoint is too large")
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, errorf(ErrMalformed, fmt.Sprintf("the poll checkpoint is not signed by %s", v.Name()))
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if want := Origin(v.Name(), id); c.Origin != want {
		return Checkpoint{}, errorf(ErrMalformed, fmt.Sprintf("the poll checkpoint's origin is %q, not %q", c.Origin, want))
	}
	return c, nil
}

// ParseCheckpoint parses a checkpoint body. Extension lines are allowed and
// ignored, as C2SP requires.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	lines := bytes.SplitN(text, []byte("\n"), 4)
	bad := func(msg string) (Checkpoint, error) { return Checkpoint{}, errorf(ErrMalformed, msg) }
	if len(lines) < 4 || !bytes.HasSuffix(text, []byte("\n")) || len(lines[0]) == 0 {
		return bad("a checkpoint has an origin, a size and a root line")
	}
	var c Checkpoint
	c.Origin = string(lines[0])
	n, err := strconv.ParseInt(string(lines[1]), 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != string(lines[1]) {
		return bad("the checkpoint's size is not a canonical decimal")
	}
	c.Size = n
	root, err := base64.StdEncoding.Strict().DecodeString(string(lines[2]))
	if err != nil || len(root) != tlog.HashSize || base64.StdEncoding.EncodeToString(root) != string(lines[2]) {
		return bad("the checkpoint's root is not a base64 SHA-256 hash")
	}
	copy(c.Root[:], root)
	if rest := lines[3]; len(rest) > 0 {
		for _, l := range bytes.Split(rest[:len(rest)-1], []byte("\n")) {
			if len(l) == 0 {
				return bad("the checkpoint has an empty extension line")
			}
		}
	}
	return c, nil
}

// Tree is a poll's log in memory: the RFC 6962 stored hashes of its leaves
// (tlog.StoredHashes), enough to compute any root and any inclusion proof.
// A log is as large as its electorate, so a verifier keeps it whole.
type Tree struct {
	hashes []tlog.Hash
	size   int64
}

// Size is the number of leaves.
func (t *Tree) Size() int64 { return t.size }

// ReadHashes implements tlog.HashReader.
func (t *Tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("poll: stored hash %d is beyond the tree", x)
		}
		out[i] = t.hashes[x]
	}
	return out, nil
}

// Add appends a leaf and returns the stored hashes it added (what a store
// writes).
func (t *Tree) Add(leaf []byte) ([]tlog.Hash, error) {
	hs, err := tlog.StoredHashes(t.size, leaf, t)
	if err != nil {
		return nil, err
	}
	t.hashes = append(t.hashes, hs...)
	t.size++
	return hs, nil
}

// Root returns the tree hash at size n ≤ Size.
func (t *Tree) Root(n int64) (tlog.Hash, error) { return tlog.TreeHash(n, t) }

// Prove returns the inclusion proof of leaf i in the tree of size n.
func (t *Tree) Prove(i, n int64) (tlog.RecordProof, error) { return tlog.ProveRecord(n, i, t) }

// TreeFromHashes is a Tree of size leaves over stored hashes read from a
// store (the first tlog.StoredHashCount(size) of them).
func TreeFromHashes(size int64, hashes []tlog.Hash) (*Tree, error) {
	if int64(len(hashes)) != tlog.StoredHashCount(size) {
		return nil, fmt.Errorf("poll: %d stored hashes for a tree of %d leaves", len(hashes), size)
	}
	return &Tree{hashes: hashes, size: size}, nil
}

// CheckInclusion checks that leaf is leaf i of the log whose checkpoint
// is c, with the proof p. It returns an error wrapping ErrMalformed if not.
func CheckInclusion(c Checkpoint, i int64, leaf []byte, p tlog.RecordProof) error {
	if err := tlog.CheckRecord(p, c.Size, c.Root, i, tlog.RecordHash(leaf)); err != nil {
		return errorf(ErrMalformed, fmt.Sprintf("leaf %d is not in the log of size %d under its checkpoint", i, c.Size))
	}
	return nil
}

// AddHash appends a leaf given by its RFC 6962 hash (tlog.RecordHash),
// for a verifier that was given hashes only (a hidden tally).
func (t *Tree) AddHash(leafHash tlog.Hash) error {
	hs, err := tlog.StoredHashesForRecordHash(t.size, leafHash, t)
	if err != nil {
		return err
	}
	t.hashes = append(t.hashes, hs...)
	t.size++
	return nil
}
