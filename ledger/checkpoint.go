package ledger

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A Checkpoint is the state of the log at one size: its origin (the log's
// name, also the name of its signing key), its size and its root hash.
//
// Its text is the C2SP tlog-checkpoint body
//
//	<origin>\n<size>\n<base64 root>\n
//
// which is signed as a C2SP signed note (x/mod/sumdb/note, Ed25519). This is
// not the format of tlog.FormatTree, which the Go checksum database uses.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// maxCheckpointSize bounds a signed checkpoint note.
const maxCheckpointSize = 16 << 10

// Text returns the checkpoint body.
func (c Checkpoint) Text() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// checkpointError is a malformed or badly signed checkpoint.
type checkpointError struct{ msg string }

func (e *checkpointError) Error() string { return "ledger: " + e.msg }
func (e *checkpointError) Code() string  { return "bad_checkpoint" }

// ErrBadCheckpoint is matched by every error about a malformed checkpoint or
// one whose signature does not verify.
var ErrBadCheckpoint = errors.New("ledger: bad checkpoint")

func (e *checkpointError) Is(target error) bool { return target == ErrBadCheckpoint }

// ParseCheckpoint parses a checkpoint body (the note text, without
// signatures). Extension lines after the root are allowed and ignored, as
// C2SP requires.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	lines := bytes.SplitN(text, []byte("\n"), 4)
	if len(lines) < 4 || !bytes.HasSuffix(text, []byte("\n")) {
		return Checkpoint{}, &checkpointError{"checkpoint must have an origin, a size and a root line"}
	}
	var c Checkpoint
	c.Origin = string(lines[0])
	if c.Origin == "" {
		return Checkpoint{}, &checkpointError{"checkpoint has an empty origin"}
	}
	s := string(lines[1])
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return Checkpoint{}, &checkpointError{"checkpoint size is not a canonical decimal"}
	}
	c.Size = n
	// Go's base64 decoders skip '\r' and '\n' even in Strict mode: only the
	// exact encoding of the decoded bytes is canonical.
	root, err := base64.StdEncoding.Strict().DecodeString(string(lines[2]))
	if err != nil || len(root) != tlog.HashSize || base64.StdEncoding.EncodeToString(root) != string(lines[2]) {
		return Checkpoint{}, &checkpointError{"checkpoint root is not a base64 SHA-256 hash"}
	}
	copy(c.Root[:], root)
	// Extension lines must be non-empty (a blank line would end the body).
	if rest := lines[3]; len(rest) > 0 {
		for _, l := range bytes.Split(rest[:len(rest)-1], []byte("\n")) {
			if len(l) == 0 {
				return Checkpoint{}, &checkpointError{"checkpoint has an empty extension line"}
			}
		}
	}
	return c, nil
}

// SignCheckpoint returns c as a signed note. The signer's name must be the
// origin.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("ledger: signer %q cannot sign a checkpoint of origin %q", s.Name(), c.Origin)
	}
	msg, err := note.Sign(&note.Note{Text: string(c.Text())}, s)
	if err != nil {
		return nil, fmt.Errorf("ledger: couldn't sign the checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint verifies a signed checkpoint against the log's verifier key
// and parses it. The origin must be the verifier's name.
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	if len(msg) > maxCheckpointSize {
		return Checkpoint{}, &checkpointError{"checkpoint is too large"}
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, &checkpointError{fmt.Sprintf("checkpoint signature does not verify with key %s: %v", v.Name(), err)}
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, &checkpointError{fmt.Sprintf("checkpoint origin %q is not the key's name %q", c.Origin, v.Name())}
	}
	return c, nil
}
