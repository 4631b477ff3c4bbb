package issuer

import (
	"crypto/ecdh"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/gtank/ristretto255"
	"github.com/licensed/licensed/ringverify"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	// OutputVersion is the version byte bound into the sealing's associated
	// data.
	OutputVersion = 1
	// SealOverhead is how much longer Output.Sealed is than the payload
	// encoding: the Poly1305 tag. The nonce is not sent (see Mint).
	SealOverhead = chacha20poly1305.Overhead
)

// Output is a license output, the public part of a license entry on the
// ledger: the ephemeral X25519 public key R, the one-time ristretto255 key P
// (its canonical encoding), the view tag and the sealed payload. Anyone can
// read it; only the owner of the address it was minted for can recognise it
// and open it.
type Output struct {
	R       [32]byte
	P       [32]byte
	ViewTag byte
	Sealed  []byte
}

// License is an opened license output.
type License struct {
	// Index is the ledger index of the output. Open leaves it zero; the
	// caller, who knows where the output came from, sets it.
	Index uint64
	// Payload is the plan, validity, daily quota and receipt code.
	Payload Payload
	// Secret is the license's secret key x = k + b, with x·G = P. It signs
	// ring proofs; keep it as secret as the account.
	Secret *ristretto255.Scalar
	// P is the one-time public key of the output.
	P *ristretto255.Element
}

var (
	// ErrNotMine is returned by Open for an output that was not minted for
	// the account: its view tag or its one-time key P does not match.
	ErrNotMine = errors.New("issuer: the license output is not addressed to this account")
	// ErrDamagedPayload is returned by Open for an output whose view tag and
	// one-time key are the account's but whose sealed payload does not open
	// or does not decode. An output minted by Mint never causes it; on the
	// ledger it means the issuer is broken.
	ErrDamagedPayload = errors.New("issuer: the license output is addressed to this account but its sealed payload is damaged")
)

// hashInputSize is the length of shared ‖ R, the input of every derivation.
const hashInputSize = 32 + 32

// viewTag returns SHA-512("lic/v1/viewtag" ‖ shared ‖ R)[0] without
// allocating.
func viewTag(shared, r *[32]byte) byte {
	var buf [len(ringverify.LabelViewTag) + hashInputSize]byte
	n := copy(buf[:], ringverify.LabelViewTag)
	n += copy(buf[n:], shared[:])
	copy(buf[n:], r[:])
	sum := sha512.Sum512(buf[:])
	return sum[0]
}

// oneTimeKey returns P = k·G + B with k = HashToScalar("lic/v1/onetime",
// shared ‖ R), and k.
func oneTimeKey(shared, r *[32]byte, spend *ristretto255.Element) (*ristretto255.Element, *ristretto255.Scalar) {
	k := ringverify.HashToScalar(ringverify.LabelOneTime, shared[:], r[:])
	p := ristretto255.NewIdentityElement().ScalarBaseMult(k)
	return p.Add(p, spend), k
}

// sealKey returns SHA-512("lic/v1/seal" ‖ shared ‖ R)[:32].
func sealKey(shared, r *[32]byte) [32]byte {
	h := sha512.New()
	h.Write([]byte(ringverify.LabelSeal))
	h.Write(shared[:])
	h.Write(r[:])
	var sum [64]byte
	h.Sum(sum[:0])
	var key [32]byte
	copy(key[:], sum[:32])
	clear(sum[:])
	return key
}

// sealAD returns the associated data: version ‖ R ‖ P ‖ view tag.
func sealAD(out *Output) []byte {
	ad := make([]byte, 0, 1+32+32+1)
	ad = append(ad, OutputVersion)
	ad = append(ad, out.R[:]...)
	ad = append(ad, out.P[:]...)
	return append(ad, out.ViewTag)
}

// zeroNonce is the XChaCha20-Poly1305 nonce of every seal: each seal key is
// used exactly once (see Mint).
var zeroNonce [chacha20poly1305.NonceSizeX]byte

// Mint makes a license output carrying payload for addr, with a fresh
// ephemeral key read from rand (use crypto/rand.Reader; 32 bytes are read).
//
// The derivation is specified in the package documentation. There is no
// output index in it: each output has its own ephemeral key r, so R already
// makes every output's secrets distinct, and the ledger index is assigned by
// the sequencer after minting. The seal nonce is all zero because the seal
// key is hashed from the fresh shared secret and R and is used for this one
// message only; a repeated r would also repeat P, which the ledger refuses.
//
// Mint is constant time with respect to r and the payload contents (not its
// length).
func Mint(rand io.Reader, addr Address, payload Payload) (Output, error) {
	if addr.View == nil || addr.Spend == nil || addr.View.Curve() != ecdh.X25519() {
		return Output{}, wrapAddr(ErrAddressKey, "incomplete address")
	}
	var a [32]byte
	copy(a[:], addr.View.Bytes())
	if !canonicalX25519(&a) || addr.Spend.Equal(ristretto255.NewIdentityElement()) == 1 {
		return Output{}, wrapAddr(ErrAddressKey, "non-canonical view key or identity spend key")
	}
	plain, err := EncodePayload(&payload)
	if err != nil {
		return Output{}, err
	}

	var rb [32]byte
	if _, err := io.ReadFull(rand, rb[:]); err != nil {
		return Output{}, fmt.Errorf("issuer: couldn't read a random ephemeral key: %w", err)
	}
	r, err := ecdh.X25519().NewPrivateKey(rb[:])
	clear(rb[:])
	if err != nil {
		return Output{}, fmt.Errorf("issuer: %w", err)
	}
	sharedB, err := r.ECDH(addr.View)
	if err != nil {
		// Only a low-order view key, which ParseAddress rejects.
		return Output{}, wrapAddr(ErrAddressKey, "view key of low order")
	}
	var out Output
	var shared [32]byte
	copy(shared[:], sharedB)
	clear(sharedB)
	defer clear(shared[:])
	copy(out.R[:], r.PublicKey().Bytes())

	out.ViewTag = viewTag(&shared, &out.R)
	p, _ := oneTimeKey(&shared, &out.R, addr.Spend)
	if p.Equal(ristretto255.NewIdentityElement()) == 1 {
		// k = -b: probability 2^-252.
		return Output{}, errors.New("issuer: one-time key is the identity; mint again")
	}
	copy(out.P[:], p.Bytes())

	key := sealKey(&shared, &out.R)
	defer clear(key[:])
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("issuer: " + err.Error())
	}
	out.Sealed = aead.Seal(nil, zeroNonce[:], plain, sealAD(&out))
	return out, nil
}

// Open recognises and opens a license output. It returns ErrNotMine if out
// was not minted for acct's address, and ErrDamagedPayload if it was but its
// sealed payload does not open.
//
// It computes the X25519 shared secret and the view tag first and compares
// the view tag, so that 255 of 256 outputs of others cost one X25519 and one
// SHA-512 block; then it recomputes P (one fixed-base scalar multiplication)
// and only then opens the seal. Computations on secrets (the view key, the
// spend key, the shared secret) are constant time, and so are the view tag
// and P comparisons; which step rejected an output shows in the timing, which
// reveals only whether the output is the account's.
//
// Open does not check that the output came from the issuer: anyone who knows
// an address can mint outputs to it. Only outputs read from the ledger are
// licenses.
func Open(acct *Account, out Output) (*License, error) {
	var shared [32]byte
	defer clear(shared[:])
	if !acct.matchViewTag(&out, &shared) {
		return nil, ErrNotMine
	}
	return acct.openMatched(&out, &shared)
}

// matchViewTag computes shared = X25519(a, R) and compares the view tag,
// without allocating. A non-canonical or low-order R never matches.
func (acct *Account) matchViewTag(out *Output, shared *[32]byte) bool {
	if !canonicalX25519(&out.R) {
		return false
	}
	if x25519(shared, &acct.viewS, &out.R) == 0 {
		return false
	}
	return subtle.ConstantTimeByteEq(viewTag(shared, &out.R), out.ViewTag) == 1
}

// openMatched finishes Open for an output whose view tag matched.
func (acct *Account) openMatched(out *Output, shared *[32]byte) (*License, error) {
	p, k := oneTimeKey(shared, &out.R, acct.pub)
	got, err := ristretto255.NewIdentityElement().SetCanonicalBytes(out.P[:])
	if err != nil || p.Equal(got) != 1 {
		return nil, ErrNotMine
	}
	key := sealKey(shared, &out.R)
	defer clear(key[:])
	aead, err := chacha20poly1305.NewX(key[:])
	if err != nil {
		panic("issuer: " + err.Error())
	}
	plain, err := aead.Open(nil, zeroNonce[:], out.Sealed, sealAD(out))
	if err != nil {
		return nil, ErrDamagedPayload
	}
	payload, err := DecodePayload(plain)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDamagedPayload, err)
	}
	return &License{
		Payload: *payload,
		Secret:  k.Add(k, acct.spend),
		P:       got,
	}, nil
}
