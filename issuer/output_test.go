package issuer

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gtank/ristretto255"
	"golang.org/x/crypto/chacha20poly1305"
)

func mustMint(t testing.TB, seed string, addr Address, p Payload) Output {
	t.Helper()
	out, err := Mint(testRand(seed), addr, p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMintOpen(t *testing.T) {
	alice := mustAccount(t, "alice")
	bob := mustAccount(t, "bob")
	for _, plan := range []string{"a", "basic", "pro-yearly-2026", string(bytes.Repeat([]byte{'z'}, MaxPlanLen))} {
		t.Run(plan[:1]+"…", func(t *testing.T) {
			p := testPayload(plan)
			out := mustMint(t, "mint "+plan, alice.Address(), p)
			if len(out.Sealed) != payloadFixedSize+len(plan)+SealOverhead {
				t.Errorf("sealed payload is %d bytes", len(out.Sealed))
			}
			if !validX25519PublicKey(&out.R) {
				t.Error("R is not a valid X25519 public key")
			}
			lic, err := Open(alice, out)
			if err != nil {
				t.Fatal(err)
			}
			if lic.Payload != p || lic.Index != 0 {
				t.Errorf("payload %+v", lic.Payload)
			}
			xG := ristretto255.NewIdentityElement().ScalarBaseMult(lic.Secret)
			if xG.Equal(lic.P) != 1 || !bytes.Equal(xG.Bytes(), out.P[:]) {
				t.Error("x·G != P")
			}
			if lic.Secret.Equal(alice.SpendKey()) == 1 {
				t.Error("license secret is the spend key")
			}
			if _, err := Open(bob, out); err != ErrNotMine {
				t.Errorf("Open by another account: %v", err)
			}
		})
	}
}

// TestMintUnlinkable checks that two outputs for one address share no
// public field: each has its own R, P and (in general) sealed bytes.
func TestMintUnlinkable(t *testing.T) {
	alice := mustAccount(t, "alice")
	p := testPayload("basic")
	a := mustMint(t, "one", alice.Address(), p)
	b := mustMint(t, "two", alice.Address(), p)
	if a.R == b.R || a.P == b.P || bytes.Equal(a.Sealed, b.Sealed) {
		t.Fatal("two mints for one address share a field")
	}
	la, _ := Open(alice, a)
	lb, _ := Open(alice, b)
	if la.Secret.Equal(lb.Secret) == 1 {
		t.Fatal("two licenses share a secret")
	}
}

func TestOpenTampered(t *testing.T) {
	alice := mustAccount(t, "alice")
	out := mustMint(t, "tamper", alice.Address(), testPayload("basic"))
	other := mustMint(t, "other", alice.Address(), testPayload("basic"))
	tests := []struct {
		name   string
		modify func(o *Output)
		want   error
	}{
		{"view tag changed", func(o *Output) { o.ViewTag ^= 0x80 }, ErrNotMine},
		{"R bit flipped", func(o *Output) { o.R[5] ^= 1 }, ErrNotMine},
		{"R from another output", func(o *Output) { o.R = other.R }, ErrNotMine},
		{"R with the top bit", func(o *Output) { o.R[31] |= 0x80 }, ErrNotMine},
		{"R of low order", func(o *Output) { o.R = [32]byte{} }, ErrNotMine},
		{"P bit flipped", func(o *Output) { o.P[7] ^= 2 }, ErrNotMine},
		{"P from another output", func(o *Output) { o.P = other.P }, ErrNotMine},
		{"P non-canonical", func(o *Output) { o.P[0] |= 1 }, ErrNotMine},
		{"sealed from another output", func(o *Output) { o.Sealed = other.Sealed }, ErrDamagedPayload},
		{"sealed bit flipped", func(o *Output) { o.Sealed[3] ^= 1 }, ErrDamagedPayload},
		{"sealed tag bit flipped", func(o *Output) { o.Sealed[len(o.Sealed)-1] ^= 1 }, ErrDamagedPayload},
		{"sealed truncated", func(o *Output) { o.Sealed = o.Sealed[:len(o.Sealed)-1] }, ErrDamagedPayload},
		{"sealed extended", func(o *Output) { o.Sealed = append(o.Sealed, 0) }, ErrDamagedPayload},
		{"sealed empty", func(o *Output) { o.Sealed = nil }, ErrDamagedPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := out
			o.Sealed = append([]byte(nil), out.Sealed...)
			tt.modify(&o)
			lic, err := Open(alice, o)
			if !errors.Is(err, tt.want) || lic != nil {
				t.Errorf("Open: %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Open(alice, out); err != nil {
		t.Fatalf("the untampered output does not open: %v", err)
	}
}

// TestOpenUndecodablePayload seals bytes that are not a canonical payload
// with the right key: the AEAD opens, the decoder refuses.
func TestOpenUndecodablePayload(t *testing.T) {
	alice := mustAccount(t, "alice")
	out := mustMint(t, "undecodable", alice.Address(), testPayload("basic"))
	var shared [32]byte
	if !alice.matchViewTag(&out, &shared) {
		t.Fatal("view tag does not match")
	}
	key := sealKey(&shared, &out.R)
	aead, _ := chacha20poly1305.NewX(key[:])
	plain, err := aead.Open(nil, zeroNonce[:], out.Sealed, sealAD(&out))
	if err != nil {
		t.Fatal(err)
	}
	out.Sealed = aead.Seal(nil, zeroNonce[:], append(plain, 0), sealAD(&out))
	_, err = Open(alice, out)
	if !errors.Is(err, ErrDamagedPayload) || !errors.Is(err, ErrInvalidPayload) {
		t.Fatalf("Open: %v", err)
	}
}

// viewTagCollision mints outputs for another account until one has acct's
// view tag (1 in 256): the output that makes Open recompute P and fail.
func viewTagCollision(t testing.TB, acct *Account, seed string) Output {
	t.Helper()
	other := mustAccount(t, "collision "+seed)
	r := testRand(seed)
	for range 10000 {
		out, err := Mint(r, other.Address(), testPayload("basic"))
		if err != nil {
			t.Fatal(err)
		}
		var shared [32]byte
		if acct.matchViewTag(&out, &shared) {
			return out
		}
	}
	t.Fatal("no view tag collision in 10000 outputs")
	return Output{}
}

func TestOpenViewTagCollision(t *testing.T) {
	alice := mustAccount(t, "alice")
	out := viewTagCollision(t, alice, "collide")
	if _, err := Open(alice, out); err != ErrNotMine {
		t.Fatalf("Open of another's output with a matching view tag: %v", err)
	}
	if found := alice.ScanOutputs([]Output{out}, 1); len(found) != 0 {
		t.Fatalf("ScanOutputs found %+v", found)
	}
}

func TestMintErrors(t *testing.T) {
	alice := mustAccount(t, "alice")
	if _, err := Mint(testRand("x"), alice.Address(), Payload{}); !errors.Is(err, ErrInvalidPayload) {
		t.Errorf("empty payload: %v", err)
	}
	if _, err := Mint(bytes.NewReader(make([]byte, 31)), alice.Address(), testPayload("a")); err == nil {
		t.Error("short random source accepted")
	}
	addr := alice.Address()
	addr.Spend = ristretto255.NewIdentityElement()
	if _, err := Mint(testRand("x"), addr, testPayload("a")); !errors.Is(err, ErrAddressKey) {
		t.Errorf("identity spend key: %v", err)
	}
}

// TestOpenAllocs checks that rejecting an output that is not the account's
// does not allocate.
func TestOpenAllocs(t *testing.T) {
	alice := mustAccount(t, "alice")
	bob := mustAccount(t, "bob")
	r := testRand("allocs")
	outs := make([]Output, 16)
	for i := range outs {
		out, err := Mint(r, bob.Address(), testPayload("a"))
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = out
	}
	var shared [32]byte
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		alice.matchViewTag(&outs[i%len(outs)], &shared)
		i++
	})
	if allocs != 0 {
		t.Errorf("matchViewTag allocates %v times", allocs)
	}
}
