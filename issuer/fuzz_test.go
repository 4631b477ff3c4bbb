package issuer

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
	"golang.org/x/crypto/chacha20poly1305"
)

func FuzzParseAddress(f *testing.F) {
	for _, seed := range []string{"alice", "bob"} {
		s := mustAccount(f, seed).Address().String()
		f.Add(s)
		f.Add(strings.ToUpper(s))
		f.Add(s[:60] + "q" + s[61:])
		f.Add(s[:len(s)-1])
	}
	for _, s := range []string{"", "lic1", "lic1qqqqqqqqq", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "LIC1Q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, err := ParseAddress(s)
		if err != nil {
			if AddressErrorCode(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		if addr.String() != strings.ToLower(s) {
			t.Fatalf("ParseAddress(%q).String() = %q", s, addr.String())
		}
		if err := addr.validate(); err != nil {
			t.Fatalf("parsed address does not validate: %v", err)
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	for _, plan := range plans {
		p := testPayload(plan)
		enc, _ := EncodePayload(&p)
		f.Add(enc)
		f.Add(enc[:len(enc)-1])
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePayload(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("error %v does not wrap ErrInvalidPayload", err)
			}
			return
		}
		enc, err := EncodePayload(p)
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("DecodePayload(%x) re-encodes to %x, %v", b, enc, err)
		}
	})
}

// FuzzOpen feeds arbitrary outputs to Open. Seeds include a real output of
// the account and tampered copies, so the fuzzer can reach every step.
func FuzzOpen(f *testing.F) {
	acct := mustAccount(f, "alice")
	out := mustMint(f, "fuzz", acct.Address(), testPayload("basic"))
	f.Add(out.R[:], out.P[:], out.ViewTag, out.Sealed)
	f.Add(out.R[:], out.P[:], out.ViewTag, out.Sealed[1:])
	f.Add(out.R[:], out.P[:], out.ViewTag^1, out.Sealed)
	f.Add(make([]byte, 32), make([]byte, 32), byte(0), []byte{})
	f.Fuzz(func(t *testing.T, r, p []byte, tag byte, sealed []byte) {
		if len(r) != 32 || len(p) != 32 {
			return
		}
		o := Output{ViewTag: tag, Sealed: sealed}
		copy(o.R[:], r)
		copy(o.P[:], p)
		lic, err := Open(acct, o)
		if err != nil {
			if !errors.Is(err, ErrNotMine) && !errors.Is(err, ErrDamagedPayload) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		checkLicense(t, lic, o)
	})
}

// FuzzOpenSealedPayload seals arbitrary plaintexts correctly for the account,
// so that Open's payload decoding sees fuzzed input behind a valid seal.
func FuzzOpenSealedPayload(f *testing.F) {
	acct := mustAccount(f, "alice")
	out := mustMint(f, "fuzz", acct.Address(), testPayload("basic"))
	var shared [32]byte
	if !acct.matchViewTag(&out, &shared) {
		f.Fatal("view tag does not match")
	}
	key := sealKey(&shared, &out.R)
	aead, _ := chacha20poly1305.NewX(key[:])
	for _, plan := range plans {
		p := testPayload(plan)
		enc, _ := EncodePayload(&p)
		f.Add(enc)
		f.Add(append(enc, 0))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, plain []byte) {
		o := out
		o.Sealed = aead.Seal(nil, zeroNonce[:], plain, sealAD(&o))
		lic, err := Open(acct, o)
		if err != nil {
			if !errors.Is(err, ErrDamagedPayload) || !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		checkLicense(t, lic, o)
		enc, _ := EncodePayload(&lic.Payload)
		if !bytes.Equal(enc, plain) {
			t.Fatalf("opened a non-canonical payload %x", plain)
		}
	})
}

func checkLicense(t *testing.T, lic *License, o Output) {
	t.Helper()
	xG := ristretto255.NewIdentityElement().ScalarBaseMult(lic.Secret)
	if xG.Equal(lic.P) != 1 || !bytes.Equal(lic.P.Bytes(), o.P[:]) {
		t.Fatal("opened license with x·G != P")
	}
}

func FuzzUnmarshalAccount(f *testing.F) {
	enc, _ := mustAccount(f, "alice").MarshalBinary()
	f.Add(enc)
	f.Add(enc[1:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		acct, err := UnmarshalAccount(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidAccount) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		again, _ := acct.MarshalBinary()
		if !bytes.Equal(again, b) {
			t.Fatalf("UnmarshalAccount(%x) re-marshals to %x", b, again)
		}
	})
}

func FuzzDecodeSeedPhrase(f *testing.F) {
	phrase := mustAccount(f, "alice").SeedPhrase()
	f.Add(phrase)
	f.Add(strings.ToUpper(phrase))
	f.Add(phrase[:len(phrase)-4])
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		seed, err := DecodeSeedPhrase(s)
		if err != nil {
			if !errors.Is(err, ErrSeedPhrase) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if got := EncodeSeedPhrase(seed); got != strings.Join(strings.Fields(strings.ToLower(s)), " ") {
			t.Fatalf("DecodeSeedPhrase(%q) re-encodes to %q", s, got)
		}
	})
}
