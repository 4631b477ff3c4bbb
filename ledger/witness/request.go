package witness

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// MaxProof is the most consistency proof lines an add-checkpoint request
// may carry.
const MaxProof = 63

// MaxBody bounds the request and answer bodies of add-checkpoint: a
// checkpoint note with its signatures and 63 proof lines fit many times
// over.
const MaxBody = 64 << 10

// ContentTypeSize is the Content-Type of a 409 answer's body.
const ContentTypeSize = "text/x.tlog.size"

// sigPrefix starts every signature line: U+2014 and a space.
const sigPrefix = "— "

// ErrMalformed is matched by every error about a body that is not in the
// format of the protocol.
var ErrMalformed = errors.New("witness: malformed message")

type formatError struct{ msg string }

func (e *formatError) Error() string        { return "witness: " + e.msg }
func (e *formatError) Is(target error) bool { return target == ErrMalformed }

// AddCheckpoint is the body of POST <witness>/add-checkpoint.
type AddCheckpoint struct {
	// OldSize is the size of the checkpoint the witness last cosigned for
	// this log (0 if none).
	OldSize int64
	// Proof is the RFC 6962 consistency proof from OldSize to the
	// checkpoint's size (empty when OldSize is 0 or equal to it).
	Proof tlog.TreeProof
	// Checkpoint is the signed checkpoint note.
	Checkpoint []byte
}

// MarshalText returns the request body.
func (r *AddCheckpoint) MarshalText() ([]byte, error) {
	if r.OldSize < 0 || len(r.Proof) > MaxProof {
		return nil, &formatError{"an add-checkpoint request has a non-negative old size and at most 63 proof hashes"}
	}
	b := fmt.Appendf(nil, "old %d\n", r.OldSize)
	for _, h := range r.Proof {
		b = base64.StdEncoding.AppendEncode(b, h[:])
		b = append(b, '\n')
	}
	b = append(b, '\n')
	return append(b, r.Checkpoint...), nil
}

// parseDecimal parses a non-negative decimal without leading zeros.
func parseDecimal(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0 && strconv.FormatInt(n, 10) == s
}

// ParseAddCheckpoint parses an add-checkpoint request body. It checks the
// framing only: the checkpoint note is returned as it is, for the caller to
// verify.
func ParseAddCheckpoint(body []byte) (*AddCheckpoint, error) {
	if len(body) > MaxBody {
		return nil, &formatError{"add-checkpoint body too large"}
	}
	head, cp, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return nil, &formatError{"add-checkpoint body has no empty line before the checkpoint"}
	}
	lines := bytes.Split(head, []byte("\n"))
	old, ok := bytes.CutPrefix(lines[0], []byte("old "))
	if !ok {
		return nil, &formatError{"add-checkpoint body does not start with an old size line"}
	}
	r := &AddCheckpoint{Checkpoint: cp}
	if r.OldSize, ok = parseDecimal(string(old)); !ok {
		return nil, &formatError{"the old size is not a canonical decimal"}
	}
	if len(lines)-1 > MaxProof {
		return nil, &formatError{"more than 63 consistency proof lines"}
	}
	for _, l := range lines[1:] {
		h, err := base64.StdEncoding.Strict().DecodeString(string(l))
		if err != nil || len(h) != tlog.HashSize || base64.StdEncoding.EncodeToString(h) != string(l) {
			return nil, &formatError{"a consistency proof line is not a base64 SHA-256 hash"}
		}
		r.Proof = append(r.Proof, tlog.Hash(h))
	}
	return r, nil
}

// ParseConflict parses the body of a 409 answer: the size the witness last
// cosigned, in decimal, and a newline.
func ParseConflict(body []byte) (int64, error) {
	s, ok := bytes.CutSuffix(body, []byte("\n"))
	if !ok {
		return 0, &formatError{"a 409 body is a decimal size and a newline"}
	}
	n, ok := parseDecimal(string(s))
	if !ok {
		return 0, &formatError{"a 409 body is a decimal size and a newline"}
	}
	return n, nil
}

// A Cosignature is one signature line of an add-checkpoint answer.
type Cosignature struct {
	Name    string
	KeyID   uint32
	Time    uint64
	Sig     []byte // the Ed25519 signature (64 bytes)
	Line    string // the line as received, with its final newline
	Encoded note.Signature
}

// ParseCosignatures parses a 200 answer: one or more note signature lines
// "— <name> <base64>\n" whose signatures are key ID ‖ timestamp ‖ Ed25519
// signature. Lines of another size (another cosignature type) are an
// error: this package knows only Ed25519 cosignatures.
func ParseCosignatures(body []byte) ([]Cosignature, error) {
	if len(body) == 0 || len(body) > MaxBody || body[len(body)-1] != '\n' {
		return nil, &formatError{"an add-checkpoint answer is one or more signature lines, each ending in a newline"}
	}
	var out []Cosignature
	for _, l := range bytes.SplitAfter(body[:len(body)-1], []byte("\n")) {
		line := string(l)
		if !bytes.HasSuffix(l, []byte("\n")) {
			line += "\n"
		}
		c, err := ParseCosignatureLine(line)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// ParseCosignatureLine parses one signature line, with its newline.
func ParseCosignatureLine(line string) (Cosignature, error) {
	rest, ok := bytes.CutPrefix([]byte(line), []byte(sigPrefix))
	if !ok || !bytes.HasSuffix(rest, []byte("\n")) {
		return Cosignature{}, &formatError{"a signature line starts with \"— \" and ends in a newline"}
	}
	name, b64, ok := bytes.Cut(rest[:len(rest)-1], []byte(" "))
	if !ok || !validName(string(name)) {
		return Cosignature{}, &formatError{"a signature line has a key name, a space and a signature"}
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(string(b64))
	if err != nil || base64.StdEncoding.EncodeToString(raw) != string(b64) {
		return Cosignature{}, &formatError{fmt.Sprintf("the signature of %q is not base64", name)}
	}
	if len(raw) != 4+SignatureSize {
		return Cosignature{}, &formatError{fmt.Sprintf("the signature of %q has %d bytes, not those of an Ed25519 cosignature (76)", name, len(raw))}
	}
	c := Cosignature{
		Name:  string(name),
		KeyID: binary.BigEndian.Uint32(raw),
		Time:  binary.BigEndian.Uint64(raw[4:]),
		Sig:   raw[12:],
		Line:  line,
	}
	if c.Time > 1<<63-1 {
		return Cosignature{}, &formatError{fmt.Sprintf("the cosignature of %q has a timestamp out of range", name)}
	}
	c.Encoded = note.Signature{Name: c.Name, Hash: c.KeyID, Base64: string(b64)}
	return c, nil
}

// Verify reports whether c is a valid cosignature by v of text, a
// checkpoint's note text.
func (c *Cosignature) Verify(v *Verifier, text []byte) bool {
	if c.Name != v.name || c.KeyID != v.id {
		return false
	}
	sig := binary.BigEndian.AppendUint64(nil, c.Time)
	return v.Verify(text, append(sig, c.Sig...))
}

// SplitNote splits a signed note into its text (ending in a newline) and
// its signature lines (each ending in a newline).
func SplitNote(msg []byte) (text []byte, sigs []string, err error) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 || len(msg) == i+2 || msg[len(msg)-1] != '\n' {
		return nil, nil, &formatError{"a signed note is its text, an empty line, and signature lines"}
	}
	text = msg[:i+1]
	for _, l := range bytes.SplitAfter(msg[i+2:len(msg)-1], []byte("\n")) {
		s := string(l)
		if len(s) == 0 || s[len(s)-1] != '\n' {
			s += "\n"
		}
		if !bytes.HasPrefix(l, []byte(sigPrefix)) {
			return nil, nil, &formatError{"a signature line starts with \"— \""}
		}
		sigs = append(sigs, s)
	}
	return text, sigs, nil
}
