package walletsig

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

// testKey is the private key of the vectors: SHA-256("walletsig test key").
func testKey() *btcec.PrivateKey {
	d := sha256.Sum256([]byte("walletsig test key"))
	k, _ := btcec.PrivKeyFromBytes(d[:])
	return k
}

// SignBitcoin signs message for an address of the given BIP-137 type
// (0 P2PKH uncompressed, 1 P2PKH compressed, 2 P2SH-P2WPKH, 3 P2WPKH) as
// Bitcoin wallets do, with btcec's RFC 6979 signer.
func signBitcoin(t testing.TB, k *btcec.PrivateKey, typ int, message []byte) (address, sig string) {
	compact, err := ecdsa.SignCompact(k, BitcoinMessageHash(message), typ > 0)
	if err != nil {
		t.Fatal(err)
	}
	compact[0] = 27 + (compact[0]-27)&3 + byte(4*typ)
	pub := k.PubKey()
	var a btcutil.Address
	switch typ {
	case 0:
		a, _ = btcutil.NewAddressPubKeyHash(btcutil.Hash160(pub.SerializeUncompressed()), &chaincfg.MainNetParams)
	case 1:
		a, _ = btcutil.NewAddressPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), &chaincfg.MainNetParams)
	case 2:
		a, _ = btcutil.NewAddressScriptHash(append([]byte{0, 0x14}, btcutil.Hash160(pub.SerializeCompressed())...), &chaincfg.MainNetParams)
	case 3:
		a, _ = btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), &chaincfg.MainNetParams)
	}
	return a.EncodeAddress(), base64.StdEncoding.EncodeToString(compact)
}

// signEthereum signs message by EIP-191 with btcec's RFC 6979 signer and
// returns the EIP-55 address and the 0x r‖s‖v signature.
func signEthereum(t testing.TB, k *btcec.PrivateKey, message []byte) (address, sig string) {
	compact, err := ecdsa.SignCompact(k, EthereumMessageHash(message), false)
	if err != nil {
		t.Fatal(err)
	}
	raw := append(compact[1:], compact[0]) // v = 27 + recid
	var a [20]byte
	copy(a[:], keccak256(k.PubKey().SerializeUncompressed()[1:])[12:])
	return "0x" + checksumHex(a), "0x" + hex.EncodeToString(raw)
}

type vector struct {
	Name      string `json:"name"`
	Address   string `json:"address"`
	Signature string `json:"signature"`
	Password  string `json:"password"`
	Seed      string `json:"seed"`
}

// TestVectors checks Verify and DeriveSeed on signatures of Challenge made
// with btcec, one per address type.
func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		k := testKey()
		var vs []vector
		for typ, name := range []string{"bitcoin p2pkh uncompressed", "bitcoin p2pkh", "bitcoin p2sh-p2wpkh", "bitcoin p2wpkh"} {
			a, s := signBitcoin(t, k, typ, []byte(Challenge))
			vs = append(vs, vector{Name: name, Address: a, Signature: s, Password: "correct horse battery staple"})
		}
		a, s := signEthereum(t, k, []byte(Challenge))
		vs = append(vs, vector{Name: "ethereum", Address: a, Signature: s, Password: "correct horse battery staple"})
		for i := range vs {
			addr, err := ParseAddress(vs[i].Address)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := Verify(addr, vs[i].Signature)
			if err != nil {
				t.Fatal(err)
			}
			seed, _ := DeriveSeed(addr, sig, []byte(vs[i].Password))
			vs[i].Seed = hex.EncodeToString(seed[:])
		}
		b, _ := json.MarshalIndent(vs, "", "  ")
		os.WriteFile(path, append(b, '\n'), 0o644)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil || len(vs) == 0 {
		t.Fatalf("vectors: %v", err)
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			addr, err := ParseAddress(v.Address)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := Verify(addr, v.Signature)
			if err != nil {
				t.Fatal(err)
			}
			seed, err := DeriveSeed(addr, sig, []byte(v.Password))
			if err != nil || hex.EncodeToString(seed[:]) != v.Seed {
				t.Fatalf("seed %x, want %s (%v)", seed, v.Seed, err)
			}
		})
	}
}

// TestExternal checks signatures published by wallets' own test suites.
func TestExternal(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "external.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		Source, Address, Message, Signature string
		Valid                               bool
	}
	if err := json.Unmarshal(b, &vs); err != nil || len(vs) == 0 {
		t.Fatalf("external vectors: %v", err)
	}
	for _, v := range vs {
		t.Run(v.Source, func(t *testing.T) {
			addr, err := ParseAddress(v.Address)
			if err != nil {
				t.Fatal(err)
			}
			_, err = VerifyMessage(addr, []byte(v.Message), v.Signature)
			if (err == nil) != v.Valid {
				t.Fatalf("valid = %v, err = %v", v.Valid, err)
			}
		})
	}
}

func TestMagicHash(t *testing.T) {
	// bitcoinjs-message test/fixtures.json, valid.magicHash.
	for msg, want := range map[string]string{
		"":                 "80e795d4a4caadd7047af389d9f7f220562feb6196032e2131e10563352c4bcc",
		"Vires is Numeris": "f8a5affbef4a3241b19067aa694562f64f513310817297089a8929a930f4f933",
	} {
		if got := hex.EncodeToString(BitcoinMessageHash([]byte(msg))); got != want {
			t.Errorf("%q: %s, want %s", msg, got, want)
		}
	}
}

func TestParseAddressRefuses(t *testing.T) {
	k := testKey()
	btc, _ := signBitcoin(t, k, 3, nil)
	eth, _ := signEthereum(t, k, nil)
	flip := func(s string, i int) string {
		b := []byte(s)
		switch {
		case b[i] >= 'a' && b[i] <= 'f':
			b[i] -= 'a' - 'A'
		case b[i] >= 'A' && b[i] <= 'F':
			b[i] += 'a' - 'A'
		case b[i] == 'q':
			b[i] = 'p'
		default:
			b[i] = 'q'
		}
		return string(b)
	}
	firstLetter := strings.IndexAny(eth[2:], "abcdefABCDEF") + 2
	for _, c := range []struct{ name, addr, want string }{
		{"empty", "", "empty"},
		{"bitcoin typo", flip(btc, 10), "mistyped"},
		{"ethereum checksum", flip(eth, firstLetter), "EIP-55"},
		{"ethereum short", eth[:41], "40 hex digits"},
		{"ethereum not hex", eth[:41] + "g", "not a hex digit"},
		{"taproot", "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr", "Taproot"},
		{"p2wsh", "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", "script address"},
		{"nonsense", "hello", "not a Bitcoin or Ethereum address"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseAddress(c.addr)
			var e *Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), c.want) || !strings.HasSuffix(err.Error(), ".") {
				t.Fatalf("err = %v, want a sentence with %q", err, c.want)
			}
		})
	}
	for _, ok := range []string{btc, eth, strings.ToLower(eth), "0x" + strings.ToUpper(eth[2:]), "  " + btc + "\n"} {
		if _, err := ParseAddress(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	k := testKey()
	other, _ := btcec.NewPrivateKey()
	p2wpkh, sigW := signBitcoin(t, k, 3, []byte(Challenge))
	p2pkh, sigP := signBitcoin(t, k, 1, []byte(Challenge))
	_, sigOther := signBitcoin(t, other, 3, []byte(Challenge))
	_, sigMsg := signBitcoin(t, k, 3, []byte("another message"))
	eth, sigE := signEthereum(t, k, []byte(Challenge))
	_, sigEOther := signEthereum(t, other, []byte(Challenge))
	raw, _ := base64.StdEncoding.DecodeString(sigW)
	raw[0] = 35 + (raw[0]-39)&3 // P2SH-P2WPKH header on a P2WPKH address
	sigWrongHeader := base64.StdEncoding.EncodeToString(raw)
	for _, c := range []struct{ name, addr, sig, want string }{
		{"another key", p2wpkh, sigOther, "was not made by"},
		{"another message", p2wpkh, sigMsg, "was not made by"},
		{"another address of the key's type", p2wpkh, sigP, ""}, // Electrum's headers: accepted
		{"segwit header on p2pkh", p2pkh, sigW, "was not made by"},
		{"header of another type", p2wpkh, sigWrongHeader, "was not made by"},
		{"truncated", p2wpkh, sigW[:80], "88 characters"},
		{"ethereum sig on bitcoin", p2wpkh, sigE, "88 characters"},
		{"ethereum another key", eth, sigEOther, "was not made by"},
		{"ethereum truncated", eth, sigE[:100], "130 hex digits"},
		{"ethereum bad v", eth, sigE[:130] + "05", "last byte"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr, err := ParseAddress(c.addr)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Verify(addr, c.sig)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Count(err.Error(), ". ") > 0 {
				t.Fatalf("err = %v, want one sentence with %q", err, c.want)
			}
		})
	}
}

// TestHighS: a signature with s replaced by n − s verifies and derives the
// same account.
func TestHighS(t *testing.T) {
	k := testKey()
	addrS, sig := signEthereum(t, k, []byte(Challenge))
	addr, _ := ParseAddress(addrS)
	raw, _ := hex.DecodeString(sig[2:])
	var s btcec.ModNScalar
	s.SetByteSlice(raw[32:64])
	s.Negate()
	sb := s.Bytes()
	copy(raw[32:64], sb[:])
	raw[64] = 27 + 28 - raw[64] // the other recovery id
	a, err := Verify(addr, sig)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Verify(addr, "0x"+hex.EncodeToString(raw))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equal(b) {
		t.Fatal("the two forms of one signature differ after s is made low")
	}
}

func TestDeriveSeed(t *testing.T) {
	k := testKey()
	addrS, sigS := signBitcoin(t, k, 3, []byte(Challenge))
	addr, _ := ParseAddress(addrS)
	sig, err := Verify(addr, sigS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DeriveSeed(addr, sig, nil); err == nil {
		t.Fatal("empty password accepted")
	}
	a, _ := DeriveSeed(addr, sig, []byte("one"))
	b, _ := DeriveSeed(addr, sig, []byte("two"))
	if a == b {
		t.Fatal("two passwords, one seed")
	}
	// The seed is exactly the specification's construction.
	h := sha256.New()
	h.Write([]byte("lic/v1/wallet-seed"))
	h.Write([]byte{1, byte(len(addrS))})
	h.Write([]byte(addrS))
	h.Write(sig.R[:])
	h.Write(sig.S[:])
	want := argon2IDKey([]byte("one"), h.Sum(nil))
	if hex.EncodeToString(a[:]) != hex.EncodeToString(want) {
		t.Fatal("seed differs from the specification")
	}
}

// FuzzVerify feeds arbitrary addresses and signatures: nothing panics,
// and an accepted signature has a low s.
func FuzzVerify(f *testing.F) {
	k := testKey()
	a, s := signBitcoin(f, k, 3, []byte(Challenge))
	f.Add(a, s)
	a, s = signEthereum(f, k, []byte(Challenge))
	f.Add(a, s)
	f.Add("0x", "0x")
	f.Fuzz(func(t *testing.T, address, sig string) {
		addr, err := ParseAddress(address)
		if err != nil {
			return
		}
		if again, err := ParseAddress(addr.String()); err != nil || again.String() != addr.String() {
			t.Fatalf("canonical address %q does not parse to itself: %v", addr.String(), err)
		}
		got, err := Verify(addr, sig)
		if err != nil {
			return
		}
		var sc btcec.ModNScalar
		sc.SetBytes(&got.S)
		if sc.IsOverHalfOrder() {
			t.Fatal("high s returned")
		}
	})
}
