package issuer

import (
	"bytes"
	"crypto/ecdh"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
	"golang.org/x/crypto/chacha20poly1305"
)

var update = flag.Bool("update", false, "rewrite the vectors in testdata/")

// vector is one entry of testdata/vectors.json: every intermediate value of
// an account and of one output minted for it, for other implementations.
type vector struct {
	Name            string `json:"name"`
	Seed            string `json:"seed"`
	SeedPhrase      string `json:"seed_phrase"`
	SpendKey        string `json:"spend_key_b"`
	SpendPublic     string `json:"spend_public_B"`
	ViewKey         string `json:"view_key_a"`
	ViewPublic      string `json:"view_public_A"`
	Address         string `json:"address"`
	Ephemeral       string `json:"ephemeral_r"`
	Plan            string `json:"plan"`
	NotBefore       int64  `json:"not_before"`
	NotAfter        int64  `json:"not_after"`
	DailyQuota      uint32 `json:"daily_quota"`
	Receipt         string `json:"receipt"`
	PayloadEncoding string `json:"payload_encoding"`
	R               string `json:"R"`
	Shared          string `json:"shared"`
	ViewTag         byte   `json:"view_tag"`
	OneTimeScalar   string `json:"one_time_k"`
	P               string `json:"P"`
	SealKey         string `json:"seal_key"`
	AssociatedData  string `json:"associated_data"`
	Sealed          string `json:"sealed"`
	Secret          string `json:"license_secret_x"`
}

type vectorFile struct {
	Comment      string            `json:"comment"`
	Vectors      []vector          `json:"vectors"`
	BadAddresses map[string]string `json:"bad_addresses"` // address → error code
}

var plans = []string{"basic", "pro-monthly", "team.yearly", "x", strings.Repeat("L", 64)}

// makeVector derives vector i with the reference computation below, written
// from the package documentation without the package's helpers, and checks
// that Mint and Open agree with it.
func makeVector(t *testing.T, i int) vector {
	rnd := testRand(fmt.Sprintf("vector %d", i))
	var seed, r [32]byte
	rnd.Read(seed[:])
	rnd.Read(r[:])
	var receipt [16]byte
	rnd.Read(receipt[:])
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(rnd.Uint64()%1000))
	p := Payload{
		Plan:       plans[i%len(plans)],
		NotBefore:  nb,
		NotAfter:   nb.AddDate(0, 0, 1+int(rnd.Uint64()%400)),
		DailyQuota: uint32(1 + rnd.Uint64()%1000),
		Receipt:    receipt,
	}

	// Reference computation.
	b, _ := ristretto255.NewScalar().SetUniformBytes(cat512("lic/v1/spendkey", seed[:]))
	bigB := ristretto255.NewIdentityElement().ScalarBaseMult(b)
	a := cat512("lic/v1/viewkey", seed[:])[:32]
	aPriv, _ := ecdh.X25519().NewPrivateKey(a)
	rPriv, _ := ecdh.X25519().NewPrivateKey(r[:])
	bigR := rPriv.PublicKey().Bytes()
	shared, err := rPriv.ECDH(aPriv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	tag := cat512("lic/v1/viewtag", shared, bigR)[0]
	k, _ := ristretto255.NewScalar().SetUniformBytes(cat512("lic/v1/onetime", shared, bigR))
	bigP := ristretto255.NewIdentityElement().ScalarBaseMult(k)
	bigP.Add(bigP, bigB)
	key := cat512("lic/v1/seal", shared, bigR)[:32]
	var enc []byte
	enc = append(enc, 1, byte(len(p.Plan)))
	enc = append(enc, p.Plan...)
	enc = binary.BigEndian.AppendUint64(enc, uint64(p.NotBefore.Unix()))
	enc = binary.BigEndian.AppendUint64(enc, uint64(p.NotAfter.Unix()))
	enc = binary.BigEndian.AppendUint32(enc, p.DailyQuota)
	enc = append(enc, receipt[:]...)
	ad := append(append(append([]byte{1}, bigR...), bigP.Bytes()...), tag)
	aead, _ := chacha20poly1305.NewX(key)
	sealed := aead.Seal(nil, make([]byte, 24), enc, ad)
	x := ristretto255.NewScalar().Add(k, b)

	// The package must agree.
	acct, err := NewAccountFromSeed(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	out, err := Mint(bytes.NewReader(r[:]), acct.Address(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.R[:], bigR) || !bytes.Equal(out.P[:], bigP.Bytes()) || out.ViewTag != tag || !bytes.Equal(out.Sealed, sealed) {
		t.Fatalf("vector %d: Mint disagrees with the reference computation", i)
	}
	lic, err := Open(acct, out)
	if err != nil || lic.Secret.Equal(x) != 1 || lic.Payload != p {
		t.Fatalf("vector %d: Open: %v", i, err)
	}

	return vector{
		Name:            fmt.Sprintf("vector %d", i),
		Seed:            hex.EncodeToString(seed[:]),
		SeedPhrase:      acct.SeedPhrase(),
		SpendKey:        hex.EncodeToString(b.Bytes()),
		SpendPublic:     hex.EncodeToString(bigB.Bytes()),
		ViewKey:         hex.EncodeToString(a),
		ViewPublic:      hex.EncodeToString(aPriv.PublicKey().Bytes()),
		Address:         acct.Address().String(),
		Ephemeral:       hex.EncodeToString(r[:]),
		Plan:            p.Plan,
		NotBefore:       p.NotBefore.Unix(),
		NotAfter:        p.NotAfter.Unix(),
		DailyQuota:      p.DailyQuota,
		Receipt:         hex.EncodeToString(receipt[:]),
		PayloadEncoding: hex.EncodeToString(enc),
		R:               hex.EncodeToString(bigR),
		Shared:          hex.EncodeToString(shared),
		ViewTag:         tag,
		OneTimeScalar:   hex.EncodeToString(k.Bytes()),
		P:               hex.EncodeToString(bigP.Bytes()),
		SealKey:         hex.EncodeToString(key),
		AssociatedData:  hex.EncodeToString(ad),
		Sealed:          hex.EncodeToString(sealed),
		Secret:          hex.EncodeToString(x.Bytes()),
	}
}

func cat512(label string, parts ...[]byte) []byte {
	h := sha512.New()
	h.Write([]byte(label))
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func TestVectors(t *testing.T) {
	const path = "testdata/vectors.json"
	f := vectorFile{
		Comment: "Generated by TestVectors (go test ./issuer -run TestVectors -update) from math/rand/v2 ChaCha8 " +
			"seeded with the vector name; each value is computed from the package documentation and checked against Mint and Open.",
		BadAddresses: map[string]string{},
	}
	for i := range 10 {
		f.Vectors = append(f.Vectors, makeVector(t, i))
	}
	addr := f.Vectors[0].Address
	raw := mustParse(t, addr).Bytes()
	for in := range map[string]bool{
		addr[:50] + strings.ToUpper(addr[50:]):                       true,
		addr[:60] + flipChar(addr[60]) + addr[61:]:                   true,
		encodeAddr(t, "lic", raw, false):                             true,
		encodeAddr(t, "lix", raw, true):                              true,
		encodeAddr(t, "lic", append([]byte{2}, raw[1:]...), true):    true,
		encodeAddr(t, "lic", raw[:64], true):                         true,
		encodeAddr(t, "lic", withSpend(raw, make([]byte, 32)), true): true,
		encodeAddr(t, "lic", withView(raw, lowOrderPoints[2]), true): true,
	} {
		_, err := ParseAddress(in)
		f.BadAddresses[in] = AddressErrorCode(err)
	}
	got, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date or the derivation changed; run with -update only if the change is intended", path)
	}
	// The file is also read back, as another implementation would.
	var back vectorFile
	if err := json.Unmarshal(want, &back); err != nil {
		t.Fatal(err)
	}
	for _, v := range back.Vectors {
		seed, _ := hex.DecodeString(v.Seed)
		acct, err := NewAccountFromSeedPhrase(v.SeedPhrase)
		if err != nil || !bytes.Equal(acct.seed[:], seed) {
			t.Fatalf("%s: seed phrase: %v", v.Name, err)
		}
		var out Output
		hex.Decode(out.R[:], []byte(v.R))
		hex.Decode(out.P[:], []byte(v.P))
		out.ViewTag = v.ViewTag
		out.Sealed, _ = hex.DecodeString(v.Sealed)
		lic, err := Open(acct, out)
		if err != nil || hex.EncodeToString(lic.Secret.Bytes()) != v.Secret {
			t.Fatalf("%s: Open: %v", v.Name, err)
		}
	}
	for in, code := range back.BadAddresses {
		if _, err := ParseAddress(in); AddressErrorCode(err) != code || code == "" {
			t.Errorf("bad address %q: code %q, file says %q", in, AddressErrorCode(err), code)
		}
	}
}

func mustParse(t *testing.T, s string) Address {
	t.Helper()
	a, err := ParseAddress(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func flipChar(c byte) string {
	if c == 'q' {
		return "p"
	}
	return "q"
}

// TestAccumulated hashes the results of many seeded runs of every operation,
// valid and invalid inputs alike, into one digest, so that any change of
// behaviour shows.
func TestAccumulated(t *testing.T) {
	const want = "76a2d768ca5d0ac87de6c4e7d020af6325bb62dc8a1b3d82853a3a21807c83cb"
	r := testRand("accumulated")
	h := sha256.New()
	for i := range 1000 {
		acct, err := NewAccount(r)
		if err != nil {
			t.Fatal(err)
		}
		addr := acct.Address().String()
		fmt.Fprintf(h, "%s %s\n", addr, acct.SeedPhrase())

		// A random mutation of the address: one character, or a byte of the
		// binary form re-encoded with a valid checksum.
		var bad string
		if i%2 == 0 {
			j := 4 + int(r.Uint64()%uint64(len(addr)-4))
			bad = addr[:j] + string("qpzry9x8gf2tvdw0s3jn54khce6mua7l"[r.Uint64()%32]) + addr[j+1:]
		} else {
			raw := acct.Address().Bytes()
			raw[r.Uint64()%uint64(len(raw))] ^= byte(1 + r.Uint64()%255)
			bad = encodeAddr(t, "lic", raw, true)
		}
		_, err = ParseAddress(bad)
		fmt.Fprintf(h, "%s %q\n", bad, AddressErrorCode(err))

		var receipt [16]byte
		r.Read(receipt[:])
		nb := time.Unix(int64(r.Uint64()%100000)*86400, 0)
		p := Payload{
			Plan:       plans[r.Uint64()%uint64(len(plans))],
			NotBefore:  nb,
			NotAfter:   nb.AddDate(0, 0, 1+int(r.Uint64()%1000)),
			DailyQuota: uint32(r.Uint64()),
			Receipt:    receipt,
		}
		out, err := Mint(r, acct.Address(), p)
		fmt.Fprintf(h, "%x %x %x %x %v\n", out.R, out.P, out.ViewTag, out.Sealed, err)
		lic, err := Open(acct, out)
		if err == nil {
			fmt.Fprintf(h, "%x\n", lic.Secret.Bytes())
		} else {
			fmt.Fprintf(h, "%v\n", err)
		}
		// A random bit flip anywhere in the output.
		bit := r.Uint64() % uint64(8*(32+32+1+len(out.Sealed)))
		tampered := out
		tampered.Sealed = bytes.Clone(out.Sealed)
		switch by := bit / 8; {
		case by < 32:
			tampered.R[by] ^= 1 << (bit % 8)
		case by < 64:
			tampered.P[by-32] ^= 1 << (bit % 8)
		case by == 64:
			tampered.ViewTag ^= 1 << (bit % 8)
		default:
			tampered.Sealed[by-65] ^= 1 << (bit % 8)
		}
		_, err = Open(acct, tampered)
		if err == nil {
			t.Fatalf("run %d: tampered output opened", i)
		}
		fmt.Fprintf(h, "%v\n", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("accumulated digest %s, want %s", got, want)
	}
}
