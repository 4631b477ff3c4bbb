package issuer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/bech32"
)

func TestAddressRoundTrip(t *testing.T) {
	for _, seed := range []string{"alice", "bob", "carol", "dave"} {
		t.Run(seed, func(t *testing.T) {
			acct := mustAccount(t, seed)
			addr := acct.Address()
			s := addr.String()
			if AddressStringLen != 114 {
				t.Fatalf("AddressStringLen = %d", AddressStringLen)
			}
			if len(s) != AddressStringLen {
				t.Fatalf("len(%q) = %d, want %d", s, len(s), AddressStringLen)
			}
			if !strings.HasPrefix(s, "lic1") || strings.ToLower(s) != s {
				t.Fatalf("address %q does not start with lic1 or is not lower case", s)
			}
			for _, in := range []string{s, strings.ToUpper(s)} {
				got, err := ParseAddress(in)
				if err != nil {
					t.Fatalf("ParseAddress(%q): %v", in, err)
				}
				if !got.Equal(addr) || got.String() != s {
					t.Fatalf("round trip of %q gave %q", in, got.String())
				}
			}
			text, err := addr.MarshalText()
			if err != nil {
				t.Fatal(err)
			}
			var back Address
			if err := back.UnmarshalText(text); err != nil || !back.Equal(addr) {
				t.Fatalf("UnmarshalText: %v", err)
			}
			raw := addr.Bytes()
			if len(raw) != AddressSize || raw[0] != 1 ||
				hex.EncodeToString(raw[1:33]) != hex.EncodeToString(acct.ViewKey().PublicKey().Bytes()) ||
				hex.EncodeToString(raw[33:]) != hex.EncodeToString(addr.Spend.Bytes()) {
				t.Fatalf("Bytes() = %x is not version ‖ A ‖ B", raw)
			}
		})
	}
}

// encodeAddr builds the bech32m text of arbitrary binary content.
func encodeAddr(t *testing.T, hrp string, raw []byte, m bool) string {
	t.Helper()
	data, err := bech32.ConvertBits(raw, 8, 5, true)
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if m {
		s, err = bech32.EncodeM(hrp, data)
	} else {
		s, err = bech32.Encode(hrp, data)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func withView(raw []byte, view string) []byte {
	b, _ := hex.DecodeString(view)
	out := append([]byte(nil), raw...)
	copy(out[1:33], b)
	return out
}

func withSpend(raw []byte, spend []byte) []byte {
	out := append([]byte(nil), raw...)
	copy(out[33:], spend)
	return out
}

func TestParseAddressErrors(t *testing.T) {
	valid := mustAccount(t, "alice").Address()
	s := valid.String()
	raw := valid.Bytes()
	// swap two adjacent characters of the data part that differ.
	swapped := []byte(s)
	for i := 10; ; i++ {
		if swapped[i] != swapped[i+1] {
			swapped[i], swapped[i+1] = swapped[i+1], swapped[i]
			break
		}
	}
	typo := []byte(s)
	if typo[20] == 'q' {
		typo[20] = 'p'
	} else {
		typo[20] = 'q'
	}
	mixed := s[:50] + strings.ToUpper(s[50:])
	nonCanonicalSpend := make([]byte, 32)
	for i := range nonCanonicalSpend {
		nonCanonicalSpend[i] = 0xff
	}
	nonCanonicalSpend[31] = 0x7f
	negativeSpend := make([]byte, 32) // ristretto255 encodings must be even (non-negative)
	negativeSpend[0] = 1

	tests := []struct {
		name string
		in   string
		kind *AddressError
		code string
	}{
		{"empty", "", ErrAddressMalformed, "address_malformed"},
		{"no separator", "licqqqqqqqqqqqq", ErrAddressMalformed, "address_malformed"},
		{"letter outside the alphabet", s[:30] + "b" + s[31:], ErrAddressMalformed, "address_malformed"},
		{"space inside", s[:30] + " " + s[31:], ErrAddressMalformed, "address_malformed"},
		{"mixed case", mixed, ErrAddressCase, "address_case"},
		{"one character changed", string(typo), ErrAddressChecksum, "address_checksum"},
		{"two characters swapped", string(swapped), ErrAddressChecksum, "address_checksum"},
		{"last character missing", s[:len(s)-1], ErrAddressChecksum, "address_checksum"},
		{"a character missing in the middle", s[:40] + s[41:], ErrAddressChecksum, "address_checksum"},
		{"bech32 instead of bech32m", encodeAddr(t, "lic", raw, false), ErrAddressChecksum, "address_checksum"},
		{"hrp typo", "lid" + s[3:], ErrAddressChecksum, "address_checksum"},
		{"other hrp", encodeAddr(t, "lix", raw, true), ErrAddressHRP, "address_hrp"},
		{"taproot address", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", ErrAddressHRP, "address_hrp"},
		{"version 0", encodeAddr(t, "lic", append([]byte{0}, raw[1:]...), true), ErrAddressVersion, "address_version"},
		{"version 2", encodeAddr(t, "lic", append([]byte{2}, raw[1:]...), true), ErrAddressVersion, "address_version"},
		{"version 255 and longer", encodeAddr(t, "lic", append(append([]byte{255}, raw[1:]...), 0), true), ErrAddressVersion, "address_version"},
		{"one byte short", encodeAddr(t, "lic", raw[:64], true), ErrAddressLength, "address_length"},
		{"one byte long", encodeAddr(t, "lic", append(append([]byte(nil), raw...), 0), true), ErrAddressLength, "address_length"},
		{"version only", encodeAddr(t, "lic", raw[:1], true), ErrAddressLength, "address_length"},
		{"no data", encodeAddr(t, "lic", nil, true), ErrAddressLength, "address_length"},
		{"huge input", "lic1" + strings.Repeat("q", 2000), ErrAddressLength, "address_length"},
		{"identity spend key", encodeAddr(t, "lic", withSpend(raw, make([]byte, 32)), true), ErrAddressKey, "address_key"},
		{"non-canonical spend key", encodeAddr(t, "lic", withSpend(raw, nonCanonicalSpend), true), ErrAddressKey, "address_key"},
		{"negative spend key", encodeAddr(t, "lic", withSpend(raw, negativeSpend), true), ErrAddressKey, "address_key"},
		{"all-zero view key", encodeAddr(t, "lic", withView(raw, lowOrderPoints[0]), true), ErrAddressKey, "address_key"},
		{"view key of order 8", encodeAddr(t, "lic", withView(raw, lowOrderPoints[2]), true), ErrAddressKey, "address_key"},
		{"view key p-1", encodeAddr(t, "lic", withView(raw, lowOrderPoints[4]), true), ErrAddressKey, "address_key"},
		{"non-canonical view key", encodeAddr(t, "lic", withView(raw, "0900000000000000000000000000000000000000000000000000000000000080"), true), ErrAddressKey, "address_key"},
	}
	all := []*AddressError{ErrAddressMalformed, ErrAddressCase, ErrAddressChecksum, ErrAddressHRP, ErrAddressVersion, ErrAddressLength, ErrAddressKey}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAddress(tt.in)
			if err == nil {
				t.Fatalf("ParseAddress(%q) succeeded", tt.in)
			}
			for _, kind := range all {
				if errors.Is(err, kind) != (kind == tt.kind) {
					t.Errorf("errors.Is(%v, %s) = %v", err, kind.Code(), errors.Is(err, kind))
				}
			}
			if got := AddressErrorCode(err); got != tt.code {
				t.Errorf("AddressErrorCode = %q, want %q", got, tt.code)
			}
			if !strings.HasPrefix(err.Error(), "issuer: "+tt.kind.Message) {
				t.Errorf("message %q does not start with the kind's sentence", err)
			}
		})
	}
}

func TestAddressErrorMessages(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range []*AddressError{ErrAddressMalformed, ErrAddressCase, ErrAddressChecksum, ErrAddressHRP, ErrAddressVersion, ErrAddressLength, ErrAddressKey} {
		if seen[e.Code()] || !strings.HasPrefix(e.Code(), "address_") || !strings.Contains(e.Message, ": ") {
			t.Errorf("code %q / message %q: codes must be distinct and messages say what to do after a colon", e.Code(), e.Message)
		}
		seen[e.Code()] = true
	}
	if AddressErrorCode(errors.New("other")) != "" {
		t.Error("AddressErrorCode of a foreign error is not empty")
	}
}

func TestAddressValidate(t *testing.T) {
	good := mustAccount(t, "alice").Address()
	if (Address{}).Equal(good) || good.Equal(Address{}) || !(Address{}).Equal(Address{}) {
		t.Error("Equal with a zero Address")
	}
	if _, err := (Address{}).MarshalText(); !errors.Is(err, ErrAddressKey) {
		t.Errorf("MarshalText of the zero Address: %v", err)
	}
	if _, err := Mint(testRand("r"), Address{View: good.View}, testPayload("basic")); !errors.Is(err, ErrAddressKey) {
		t.Errorf("Mint to an address without spend key: %v", err)
	}
}

// TestWordList pins the embedded BIP 39 list to the published english.txt.
func TestWordList(t *testing.T) {
	sum := sha256.Sum256([]byte(bip39English))
	if hex.EncodeToString(sum[:]) != "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda" {
		t.Fatalf("word list SHA-256 %x", sum)
	}
	if len(wordList) != 2048 || len(wordIndex) != 2048 {
		t.Fatalf("%d words, %d distinct", len(wordList), len(wordIndex))
	}
}

// TestAddressSingleErrors checks that the checksum catches every single
// substituted character and every swap of two different neighbours, although
// an address is longer than the 90 characters BIP 173 designed it for.
func TestAddressSingleErrors(t *testing.T) {
	const alphabet = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
	for _, seed := range []string{"alice", "bob"} {
		s := mustAccount(t, seed).Address().String()
		for i := 4; i < len(s); i++ {
			for _, c := range []byte(alphabet) {
				if c == s[i] {
					continue
				}
				bad := s[:i] + string(c) + s[i+1:]
				if _, err := ParseAddress(bad); !errors.Is(err, ErrAddressChecksum) {
					t.Fatalf("substitution at %d: %v", i, err)
				}
			}
			if i+1 < len(s) && s[i] != s[i+1] {
				bad := s[:i] + string(s[i+1]) + string(s[i]) + s[i+2:]
				if _, err := ParseAddress(bad); !errors.Is(err, ErrAddressChecksum) {
					t.Fatalf("swap at %d: %v", i, err)
				}
			}
		}
	}
}
