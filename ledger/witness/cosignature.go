package witness

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// AlgCosignatureV1 is the signature type byte of Ed25519 cosignature keys.
const AlgCosignatureV1 = 0x04

// SignatureSize is the size of a cosignature after its key ID: an 8-byte
// timestamp and a 64-byte Ed25519 signature.
const SignatureSize = 8 + ed25519.SignatureSize

// validName reports whether name is a signed-note key name: non-empty
// UTF-8 without spaces or '+'.
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// KeyID is the key ID of an Ed25519 cosignature key: the first four bytes
// of SHA-256(name ‖ "\n" ‖ 0x04 ‖ pub), big endian.
func KeyID(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', AlgCosignatureV1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// SignedMessage returns the message a cosignature/v1 signs: the header
// line, the time line and the checkpoint's note text (which must end in a
// newline).
func SignedMessage(timestamp uint64, text []byte) []byte {
	m := make([]byte, 0, 48+len(text))
	m = append(m, "cosignature/v1\ntime "...)
	m = strconv.AppendUint(m, timestamp, 10)
	m = append(m, '\n')
	return append(m, text...)
}

// A Verifier checks cosignatures of one Ed25519 cosignature key. It is a
// note.Verifier: note.Open with it verifies a witness's line of a cosigned
// checkpoint.
type Verifier struct {
	name string
	id   uint32
	key  ed25519.PublicKey
}

var _ note.Verifier = (*Verifier)(nil)

// errBadKey is a vkey that is not an Ed25519 cosignature key.
type keyError struct{ msg string }

func (e *keyError) Error() string { return "witness: " + e.msg }

// NewVerifier parses a cosignature vkey (name+id+base64(0x04 ‖ key)).
func NewVerifier(vkey string) (*Verifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	id16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || !validName(name) || len(id16) != 8 {
		return nil, &keyError{fmt.Sprintf("%q is not a verifier key (name+id+key)", vkey)}
	}
	id, err := strconv.ParseUint(id16, 16, 32)
	if err != nil || strings.ToLower(id16) != id16 {
		return nil, &keyError{fmt.Sprintf("verifier key %q has a malformed key ID", name)}
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(key64)
	if err != nil || base64.StdEncoding.EncodeToString(raw) != key64 {
		return nil, &keyError{fmt.Sprintf("verifier key %q is not base64", name)}
	}
	if len(raw) == 0 || raw[0] != AlgCosignatureV1 {
		alg := -1
		if len(raw) > 0 {
			alg = int(raw[0])
		}
		return nil, &keyError{fmt.Sprintf("verifier key %q is of type %d, not an Ed25519 cosignature key (type 4)", name, alg)}
	}
	if len(raw) != 1+ed25519.PublicKeySize {
		return nil, &keyError{fmt.Sprintf("verifier key %q has a key of %d bytes, want 32", name, len(raw)-1)}
	}
	v := &Verifier{name: name, id: uint32(id), key: ed25519.PublicKey(raw[1:])}
	if KeyID(name, v.key) != v.id {
		return nil, &keyError{fmt.Sprintf("verifier key %q has key ID %s, but its key's ID is %08x", name, id16, KeyID(name, v.key))}
	}
	return v, nil
}

// NewVerifierFromKey returns the verifier of the Ed25519 cosignature key pub
// named name.
func NewVerifierFromKey(name string, pub ed25519.PublicKey) (*Verifier, error) {
	if !validName(name) {
		return nil, &keyError{fmt.Sprintf("%q is not a key name", name)}
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, &keyError{"an Ed25519 public key has 32 bytes"}
	}
	return &Verifier{name: name, id: KeyID(name, pub), key: bytes.Clone(pub)}, nil
}

// Name returns the key's name.
func (v *Verifier) Name() string { return v.name }

// KeyHash returns the key ID.
func (v *Verifier) KeyHash() uint32 { return v.id }

// PublicKey returns a copy of the Ed25519 public key.
func (v *Verifier) PublicKey() ed25519.PublicKey { return bytes.Clone(v.key) }

// String returns the vkey.
func (v *Verifier) String() string {
	return fmt.Sprintf("%s+%08x+%s", v.name, v.id, base64.StdEncoding.EncodeToString(append([]byte{AlgCosignatureV1}, v.key...)))
}

// Verify reports whether sig (timestamp ‖ Ed25519 signature, the key ID
// already removed) is a cosignature of msg, a checkpoint's note text.
func (v *Verifier) Verify(msg, sig []byte) bool {
	if len(sig) != SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > math.MaxInt64 {
		return false
	}
	return ed25519.Verify(v.key, SignedMessage(t, msg), sig[8:])
}

// A Signer makes cosignatures with an Ed25519 key, timestamped by its
// clock. It is a note.Signer. The license server never cosigns; tests and
// tools that play a witness do.
type Signer struct {
	v    *Verifier
	priv ed25519.PrivateKey
	// Now is the clock (default time.Now).
	Now func() time.Time
}

var _ note.Signer = (*Signer)(nil)

// NewSigner returns the cosigner named name with the private key priv
// (secret).
func NewSigner(name string, priv ed25519.PrivateKey) (*Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, &keyError{"an Ed25519 private key has 64 bytes"}
	}
	v, err := NewVerifierFromKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	return &Signer{v: v, priv: priv}, nil
}

// Name returns the key's name.
func (s *Signer) Name() string { return s.v.name }

// KeyHash returns the key ID.
func (s *Signer) KeyHash() uint32 { return s.v.id }

// Verifier returns the signer's verifier.
func (s *Signer) Verifier() *Verifier { return s.v }

// Sign returns timestamp ‖ signature over the cosignature/v1 message of
// msg, a checkpoint's note text.
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	t := now().Unix()
	if t <= 0 {
		return nil, errors.New("witness: the clock is before 1970")
	}
	sig := binary.BigEndian.AppendUint64(make([]byte, 0, SignatureSize), uint64(t))
	return append(sig, ed25519.Sign(s.priv, SignedMessage(uint64(t), msg))...), nil
}

// Timestamp returns the timestamp of a cosignature line's signature, as
// note.Signature holds it (base64 of key ID ‖ timestamp ‖ signature).
func Timestamp(sig note.Signature) (time.Time, error) {
	b, err := base64.StdEncoding.DecodeString(sig.Base64)
	if err != nil || len(b) != 4+SignatureSize {
		return time.Time{}, errors.New("witness: malformed cosignature")
	}
	t := binary.BigEndian.Uint64(b[4:])
	if t > math.MaxInt64 {
		return time.Time{}, errors.New("witness: cosignature timestamp out of range")
	}
	return time.Unix(int64(t), 0), nil
}
