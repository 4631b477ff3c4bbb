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
)

const (
	// SeedSize is the length of an account seed.
	SeedSize = 32
	// AccountVersion is the version byte of MarshalBinary.
	AccountVersion = 1
	// AccountEncodingSize is the length of MarshalBinary: version ‖ seed.
	AccountEncodingSize = 1 + SeedSize
)

// Account is a customer's pair of secret keys: the spend key b, a
// ristretto255 scalar with B = b·G, which makes the secret key of every
// license, and the X25519 view key a, which recognises and opens the
// customer's license outputs. Both are derived from a 32-byte seed (see the
// package documentation), so the seed, or the seed phrase that encodes it, is
// the whole backup.
//
// An Account is safe for concurrent use: its methods do not modify it.
type Account struct {
	seed  [SeedSize]byte
	spend *ristretto255.Scalar  // b
	view  *ecdh.PrivateKey      // a
	viewS [32]byte              // a, for the allocation-free ladder
	pub   *ristretto255.Element // B
	addr  Address
}

// ErrInvalidAccount is wrapped by the errors of UnmarshalAccount and
// NewAccountFromSeed.
var ErrInvalidAccount = errors.New("issuer: invalid account")

// NewAccount makes an account from a fresh seed read from rand (use
// crypto/rand.Reader).
func NewAccount(rand io.Reader) (*Account, error) {
	var seed [SeedSize]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("issuer: couldn't read a random seed: %w", err)
	}
	return NewAccountFromSeed(seed[:])
}

// NewAccountFromSeed derives the account of a 32-byte seed:
//
//	b = HashToScalar("lic/v1/spendkey", seed)
//	a = SHA-512("lic/v1/viewkey" ‖ seed)[:32], as an X25519 private key
func NewAccountFromSeed(seed []byte) (*Account, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("%w: seed is %d bytes, want %d", ErrInvalidAccount, len(seed), SeedSize)
	}
	acct := &Account{}
	copy(acct.seed[:], seed)
	acct.spend = ringverify.HashToScalar(ringverify.LabelSpendKey, seed)
	if acct.spend.Equal(ristretto255.NewScalar()) == 1 {
		// Probability 2^-252: not a seed anyone will meet by chance.
		return nil, fmt.Errorf("%w: seed gives a zero spend key", ErrInvalidAccount)
	}
	acct.pub = ristretto255.NewIdentityElement().ScalarBaseMult(acct.spend)

	h := sha512.New()
	h.Write([]byte(ringverify.LabelViewKey))
	h.Write(seed)
	var sum [64]byte
	copy(acct.viewS[:], h.Sum(sum[:0])[:32])
	clear(sum[:])
	view, err := ecdh.X25519().NewPrivateKey(acct.viewS[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidAccount, err)
	}
	acct.view = view
	acct.addr = Address{View: view.PublicKey(), Spend: acct.pub}
	return acct, nil
}

// NewAccountFromSeedPhrase restores the account of a seed phrase (see
// SeedPhrase). Errors wrap ErrSeedPhrase.
func NewAccountFromSeedPhrase(phrase string) (*Account, error) {
	seed, err := DecodeSeedPhrase(phrase)
	if err != nil {
		return nil, err
	}
	return NewAccountFromSeed(seed[:])
}

// Address returns the account's license address.
func (acct *Account) Address() Address {
	return Address{View: acct.addr.View, Spend: ristretto255.NewIdentityElement().Set(acct.addr.Spend)}
}

// SpendKey returns a copy of the spend key b.
func (acct *Account) SpendKey() *ristretto255.Scalar {
	return ristretto255.NewScalar().Set(acct.spend)
}

// ViewKey returns the X25519 view key a.
func (acct *Account) ViewKey() *ecdh.PrivateKey { return acct.view }

// Seed returns the account's seed.
func (acct *Account) Seed() [SeedSize]byte { return acct.seed }

// SeedPhrase returns the seed as 24 English words (see EncodeSeedPhrase).
func (acct *Account) SeedPhrase() string { return EncodeSeedPhrase(acct.seed) }

// Equal reports, in constant time, whether acct and other have the same seed.
func (acct *Account) Equal(other *Account) bool {
	return subtle.ConstantTimeCompare(acct.seed[:], other.seed[:]) == 1
}

// MarshalBinary returns the account's secret material, 33 bytes: the version
// byte 0x01 followed by the seed. Everything else is derived from the seed.
// The result is secret: encrypt it before storing it.
func (acct *Account) MarshalBinary() ([]byte, error) {
	out := make([]byte, 0, AccountEncodingSize)
	out = append(out, AccountVersion)
	return append(out, acct.seed[:]...), nil
}

// UnmarshalAccount decodes the output of MarshalBinary. Errors wrap
// ErrInvalidAccount.
func UnmarshalAccount(b []byte) (*Account, error) {
	if len(b) != AccountEncodingSize {
		return nil, fmt.Errorf("%w: encoding is %d bytes, want %d", ErrInvalidAccount, len(b), AccountEncodingSize)
	}
	if b[0] != AccountVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrInvalidAccount, b[0])
	}
	return NewAccountFromSeed(b[1:])
}
