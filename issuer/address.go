package issuer

import (
	"crypto/ecdh"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/gtank/ristretto255"
)

const (
	// AddressHRP is the human-readable part of every license address.
	AddressHRP = "lic"
	// AddressVersion is the version byte of the addresses this package makes.
	AddressVersion = 1
	// AddressSize is the length of the binary address: version ‖ A ‖ B.
	AddressSize = 1 + 32 + 32
	// AddressStringLen is the length of the text form of an address:
	// "lic" "1", 104 data characters and 6 checksum characters.
	AddressStringLen = len(AddressHRP) + 1 + (AddressSize*8+4)/5 + 6

	// maxAddressInput bounds the work ParseAddress does on hostile input.
	maxAddressInput = 1024
)

// Address is a license address: the two public keys a customer hands to the
// issuer. View is the X25519 view key A, Spend the ristretto255 spend key B.
// Use ParseAddress to make one from its text form and Account.Address to make
// one from an account; both return only valid addresses.
type Address struct {
	View  *ecdh.PublicKey
	Spend *ristretto255.Element
}

// AddressError is the error ParseAddress returns. Each kind is one of the
// exported Err… values below, and the error ParseAddress returns wraps
// exactly one of them, so errors.Is and AddressErrorCode tell them apart.
type AddressError struct {
	// code is stable and machine readable (it is sent to HTTP clients),
	// for example "address_checksum": see Code.
	code string
	// Message is a sentence that tells the user what to do.
	Message string
}

// Code returns the stable, machine-readable kind, e.g. "address_checksum".
func (e *AddressError) Code() string { return e.code }

func (e *AddressError) Error() string { return "issuer: " + e.Message }

// Is reports whether target is an *AddressError with the same Code, so that a
// copy of an error value still matches.
func (e *AddressError) Is(target error) bool {
	t, ok := target.(*AddressError)
	return ok && t.code == e.code
}

// The kinds of invalid license address. The codes are stable: they are part of
// the HTTP API.
var (
	ErrAddressMalformed = &AddressError{"address_malformed",
		"this is not a license address: a license address starts with \"lic1\" followed by letters and digits only; copy it again"}
	ErrAddressCase = &AddressError{"address_case",
		"the license address mixes upper and lower case letters: use it all in lower case, as the license tool printed it"}
	ErrAddressChecksum = &AddressError{"address_checksum",
		"the license address has a typo: its checksum does not match; copy it again"}
	ErrAddressHRP = &AddressError{"address_hrp",
		"this is another kind of address, not a license address: a license address starts with \"lic1\"; use the address printed by the license tool"}
	ErrAddressVersion = &AddressError{"address_version",
		"the license address was made by a newer or unknown version of the license tool: use an address of version 1 or upgrade"}
	ErrAddressLength = &AddressError{"address_length",
		"the license address has the wrong length: it must be exactly 114 characters; copy all of it"}
	ErrAddressKey = &AddressError{"address_key",
		"the license address holds an invalid key: make a new address with the license tool"}
)

// AddressErrorCode returns the stable code of an address error ("address_…"),
// or "" if err is not an address error.
func AddressErrorCode(err error) string {
	var ae *AddressError
	if errors.As(err, &ae) {
		return ae.code
	}
	return ""
}

// wrapAddr keeps the kind (for errors.Is and AddressErrorCode) and adds
// detail for logs.
func wrapAddr(kind *AddressError, format string, args ...any) error {
	return fmt.Errorf("%w (%s)", kind, fmt.Sprintf(format, args...))
}

// Bytes returns the 65-byte binary address: version ‖ A ‖ B.
func (addr Address) Bytes() []byte {
	out := make([]byte, 0, AddressSize)
	out = append(out, AddressVersion)
	out = append(out, addr.View.Bytes()...)
	return append(out, addr.Spend.Bytes()...)
}

// String returns the address in its text form: bech32m with HRP "lic" over
// Bytes(). It is 114 characters long and all lower case.
func (addr Address) String() string {
	if addr.View == nil || addr.Spend == nil {
		return "<invalid license address>"
	}
	data, err := bech32.ConvertBits(addr.Bytes(), 8, 5, true)
	if err != nil {
		panic("issuer: ConvertBits failed on whole bytes: " + err.Error())
	}
	s, err := bech32.EncodeM(AddressHRP, data)
	if err != nil {
		panic("issuer: bech32m encoding failed: " + err.Error())
	}
	return s
}

// Equal reports whether addr and other hold the same keys.
func (addr Address) Equal(other Address) bool {
	if addr.View == nil || addr.Spend == nil || other.View == nil || other.Spend == nil {
		return addr.View == other.View && addr.Spend == other.Spend
	}
	return addr.View.Equal(other.View) && addr.Spend.Equal(other.Spend) == 1
}

// MarshalText implements encoding.TextMarshaler with String.
func (addr Address) MarshalText() ([]byte, error) {
	if err := addr.validate(); err != nil {
		return nil, err
	}
	return []byte(addr.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseAddress.
func (addr *Address) UnmarshalText(text []byte) error {
	a, err := ParseAddress(string(text))
	if err != nil {
		return err
	}
	*addr = a
	return nil
}

// validate checks an Address built by hand.
func (addr Address) validate() error {
	if addr.View == nil || addr.Spend == nil {
		return wrapAddr(ErrAddressKey, "missing key")
	}
	if addr.View.Curve() != ecdh.X25519() {
		return wrapAddr(ErrAddressKey, "view key is not an X25519 key")
	}
	_, err := addressFromBytes(addr.Bytes())
	return err
}

// ParseAddress decodes the text form of a license address. It rejects,
// checking in this order: input that is not bech32 (ErrAddressMalformed),
// mixed case (ErrAddressCase), a wrong bech32m checksum, including a valid
// checksum of the older bech32 variant (ErrAddressChecksum), an HRP other than
// "lic" (ErrAddressHRP), a version byte other than 1 (ErrAddressVersion), a
// payload other than 65 bytes (ErrAddressLength), and keys that are not
// canonical, a spend key that is the identity, or a view key of low order
// (ErrAddressKey). An all upper case address is accepted, as bech32 requires.
//
// ParseAddress is variable time; addresses are public.
func ParseAddress(s string) (Address, error) {
	if len(s) > maxAddressInput {
		return Address{}, wrapAddr(ErrAddressLength, "%d characters", len(s))
	}
	// bech32.DecodeNoLimit because an address is longer than BIP 173's 90
	// characters; the checksum still catches every single substitution and
	// transposition (TestAddressSingleErrors).
	hrp, data, err := bech32.DecodeNoLimit(s)
	if err != nil {
		var (
			mixed    bech32.ErrMixedCase
			checksum bech32.ErrInvalidChecksum
		)
		switch {
		case errors.As(err, &mixed):
			return Address{}, wrapAddr(ErrAddressCase, "%v", err)
		case errors.As(err, &checksum):
			return Address{}, wrapAddr(ErrAddressChecksum, "%v", err)
		default:
			return Address{}, wrapAddr(ErrAddressMalformed, "%v", err)
		}
	}
	// DecodeNoLimit accepts both bech32 and bech32m checksums and does not
	// say which; re-encoding with bech32m and comparing tells.
	if again, err := bech32.EncodeM(hrp, data); err != nil || again != strings.ToLower(s) {
		return Address{}, wrapAddr(ErrAddressChecksum, "bech32 checksum, not bech32m")
	}
	if hrp != AddressHRP {
		return Address{}, wrapAddr(ErrAddressHRP, "prefix %q", hrp)
	}
	// The version is the first 8 bits, checked before the length so that a
	// future version of another length is reported as a version error.
	if len(data) < 2 {
		return Address{}, wrapAddr(ErrAddressLength, "%d data characters", len(data))
	}
	if v := data[0]<<3 | data[1]>>2; v != AddressVersion {
		return Address{}, wrapAddr(ErrAddressVersion, "version %d", v)
	}
	if len(data) != (AddressSize*8+4)/5 {
		return Address{}, wrapAddr(ErrAddressLength, "%d data characters", len(data))
	}
	raw, err := bech32.ConvertBits(data, 5, 8, false)
	if err != nil || len(raw) != AddressSize {
		// 104 characters are 520 bits, exactly 65 bytes: unreachable.
		return Address{}, wrapAddr(ErrAddressLength, "%v", err)
	}
	return addressFromBytes(raw)
}

// addressFromBytes decodes the 65-byte binary address.
func addressFromBytes(raw []byte) (Address, error) {
	if len(raw) != AddressSize {
		return Address{}, wrapAddr(ErrAddressLength, "%d bytes", len(raw))
	}
	if raw[0] != AddressVersion {
		return Address{}, wrapAddr(ErrAddressVersion, "version %d", raw[0])
	}
	var a [32]byte
	copy(a[:], raw[1:33])
	if !validX25519PublicKey(&a) {
		return Address{}, wrapAddr(ErrAddressKey, "view key is not canonical or of low order")
	}
	view, err := ecdh.X25519().NewPublicKey(a[:])
	if err != nil {
		return Address{}, wrapAddr(ErrAddressKey, "%v", err)
	}
	spend, err := ristretto255.NewIdentityElement().SetCanonicalBytes(raw[33:65])
	if err != nil {
		return Address{}, wrapAddr(ErrAddressKey, "spend key is not a canonical ristretto255 encoding")
	}
	if spend.Equal(ristretto255.NewIdentityElement()) == 1 {
		return Address{}, wrapAddr(ErrAddressKey, "spend key is the identity")
	}
	return Address{View: view, Spend: spend}, nil
}
