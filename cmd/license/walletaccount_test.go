package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"golang.org/x/crypto/sha3"

	"github.com/licensed/licensed/issuer/walletsig"
)

// btcWallet is a Bitcoin wallet key that signs messages as Electrum and
// Bitcoin Core do (BIP-137, RFC 6979), for its P2WPKH address.
type btcWallet struct{ key *btcec.PrivateKey }

func newBTCWallet(name string) btcWallet {
	d := sha256.Sum256([]byte(name))
	k, _ := btcec.PrivKeyFromBytes(d[:])
	return btcWallet{k}
}

func (w btcWallet) address() string {
	a, _ := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(w.key.PubKey().SerializeCompressed()), &chaincfg.MainNetParams)
	return a.EncodeAddress()
}

func (w btcWallet) sign(msg string) string {
	sig, _ := ecdsa.SignCompact(w.key, walletsig.BitcoinMessageHash([]byte(msg)), true)
	sig[0] += 8 // P2WPKH header (BIP-137)
	return base64.StdEncoding.EncodeToString(sig)
}

// ethSign is personal_sign by key (EIP-191), returning the EIP-55 address
// and the signature.
func ethSign(key *btcec.PrivateKey, msg string) (string, string) {
	sig, _ := ecdsa.SignCompact(key, walletsig.EthereumMessageHash([]byte(msg)), false)
	h := sha3.NewLegacyKeccak256()
	h.Write(key.PubKey().SerializeUncompressed()[1:])
	addr, _ := walletsig.ParseAddress("0x" + hex.EncodeToString(h.Sum(nil)[12:]))
	return addr.ChecksumAddress(), "0x" + hex.EncodeToString(append(sig[1:], sig[0]))
}

func TestAccountFromWallet(t *testing.T) {
	btc := newBTCWallet("customer's wallet")
	good := btc.sign(walletsig.Challenge)
	ethKey, _ := btcec.PrivKeyFromBytes(sha256.New().Sum(nil))
	ethAddr, ethSig := ethSign(ethKey, walletsig.Challenge)
	other := newBTCWallet("someone else's wallet")

	// The same wallet and passphrase make the same account on another
	// machine; another passphrase another account.
	addresses := map[string]string{}
	for _, c := range []struct{ name, pass, stdin string }{
		{"bitcoin", "pw one", btc.address() + "\n" + good + "\n" + good + "\n"},
		{"bitcoin again", "pw one", btc.address() + "\n" + good + "\n" + good + "\n"},
		{"bitcoin, another passphrase", "pw two", btc.address() + "\n" + good + "\n" + good + "\n"},
		{"ethereum", "pw one", ethAddr + "\n" + ethSig + "\n" + ethSig + "\n"},
	} {
		useAccount(t)
		t.Setenv(envPassphrase, c.pass)
		code, out, errs := runLicense(t, c.stdin, "account", "new", "--from-wallet")
		if code != 0 || !strings.Contains(out, walletsig.Challenge) || !strings.Contains(out, "Derived the account") {
			t.Fatalf("%s: %d %q %s", c.name, code, out, errs)
		}
		_, addr, _ := runLicense(t, "", "account", "address")
		addresses[c.name] = addr
	}
	if addresses["bitcoin"] != addresses["bitcoin again"] {
		t.Fatal("the same wallet and passphrase made two accounts")
	}
	if addresses["bitcoin"] == addresses["bitcoin, another passphrase"] || addresses["bitcoin"] == addresses["ethereum"] {
		t.Fatal("another passphrase or wallet made the same account")
	}

	// Refusals: one sentence each, and no file written.
	hexSig := strings.TrimPrefix(ethSig, "0x")
	for _, c := range []struct{ name, stdin, want string }{
		{"wrong signature", btc.address() + "\n" + other.sign(walletsig.Challenge) + "\n", "was not made by"},
		{"signature of another message", btc.address() + "\n" + btc.sign("hello") + "\n", "was not made by"},
		{"address typo", btc.address()[:10] + "x" + btc.address()[11:] + "\n", "mistyped"},
		{"ethereum checksum typo", flipCase(ethAddr) + "\n" + ethSig + "\n", "EIP-55"},
		{"not deterministic", btc.address() + "\n" + good + "\n" + otherNonce(t, btc) + "\n", "does not sign deterministically"},
		{"truncated signature", btc.address() + "\n" + good[:40] + "\n", "paste the whole signature"},
		{"ethereum signature without 0x", ethAddr + "\n" + hexSig + "\n" + hexSig + "\n", ""},
		{"no signature", btc.address() + "\n", "no signature"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := useAccount(t)
			code, _, errs := runLicense(t, c.stdin, "account", "new", "--from-wallet")
			if c.want == "" {
				if code != 0 {
					t.Fatalf("%d %s", code, errs)
				}
				return
			}
			if code != 1 || !strings.Contains(errs, c.want) {
				t.Fatalf("%d %s", code, errs)
			}
			oneSentence(t, strings.TrimPrefix(errs, "license account: "))
			if _, err := os.Stat(path); err == nil {
				t.Fatal("an account file was written")
			}
		})
	}
}

// flipCase flips the case of the first letter of an EIP-55 address.
func flipCase(addr string) string {
	b := []byte(addr)
	for i := 2; i < len(b); i++ {
		switch {
		case b[i] >= 'a' && b[i] <= 'f':
			b[i] -= 'a' - 'A'
			return string(b)
		case b[i] >= 'A' && b[i] <= 'F':
			b[i] += 'a' - 'A'
			return string(b)
		}
	}
	return addr
}

// otherNonce is a valid signature of the challenge by w made with a nonce
// other than RFC 6979's, as a wallet drawing random nonces would make:
// r = (k·G).x, s = k⁻¹(z + r·d), made low.
func otherNonce(t *testing.T, w btcWallet) string {
	t.Helper()
	hash := walletsig.BitcoinMessageHash([]byte(walletsig.Challenge))
	var k, r, z, s btcec.ModNScalar
	kb := sha256.Sum256([]byte("a nonce not from RFC 6979"))
	k.SetBytes(&kb)
	var R btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&k, &R)
	R.ToAffine()
	r.SetBytes(R.X.Bytes())
	z.SetByteSlice(hash)
	d := w.key.Key
	s.Mul2(&r, &d).Add(&z).Mul(new(btcec.ModNScalar).InverseValNonConst(&k))
	if s.IsOverHalfOrder() {
		s.Negate()
	}
	rB, sB := r.Bytes(), s.Bytes()
	addr, _ := walletsig.ParseAddress(w.address())
	for recid := byte(0); recid < 4; recid++ {
		sig := append([]byte{39 + recid}, append(rB[:], sB[:]...)...)
		b64 := base64.StdEncoding.EncodeToString(sig)
		if _, err := walletsig.Verify(addr, b64); err == nil {
			return b64
		}
	}
	t.Fatal("no recovery id fits")
	return ""
}
