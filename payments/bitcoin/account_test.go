package bitcoin

import (
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"

	"github.com/licensed/licensed/internal/btcdtest"
)

// BIP84's test vector (mnemonic "abandon … about", account 0).
const (
	bip84Zpub  = "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf31mGDtKsAYz2oz2AGutZYs"
	bip84Addr0 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
	bip84Addr1 = "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
)

// reversion re-encodes an extended key with other version bytes.
func reversion(t *testing.T, key string, v []byte) string {
	t.Helper()
	dec := base58.Decode(key)
	p := append(append([]byte{}, v...), dec[4:78]...)
	return base58.Encode(append(p, chainhash.DoubleHashB(p)[:4]...))
}

func TestAccountBIP84Vector(t *testing.T) {
	main := &chaincfg.MainNetParams
	for _, tc := range []struct {
		name, key string
	}{
		{"zpub", bip84Zpub},
		{"xpub", reversion(t, bip84Zpub, versionXpub)},
		{"descriptor", "wpkh([73c5da0a/84h/0h/0h]" + reversion(t, bip84Zpub, versionXpub) + "/0/*)#abcdefgh"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAccount(tc.key, main)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range []string{bip84Addr0, bip84Addr1} {
				got, err := a.Address(uint32(i))
				if err != nil || got.EncodeAddress() != want {
					t.Fatalf("address %d = %v (%v), want %s", i, got, err, want)
				}
			}
		})
	}
}

// TestAccountMatchesPrivateDerivation derives the test account's addresses
// from the public key (as the server does) and from the private key in
// testdata (as the operator's wallet does), on the test networks.
func TestAccountMatchesPrivateDerivation(t *testing.T) {
	keys := btcdtest.TestKeys()
	for _, p := range []*chaincfg.Params{&chaincfg.RegressionNetParams, &chaincfg.SimNetParams, &chaincfg.TestNet3Params} {
		for _, form := range []string{keys.AccountTpub, reversion(t, keys.AccountTpub, versionVpub)} {
			a, err := ParseAccount(form, p)
			if err != nil {
				t.Fatalf("%s: %v", p.Name, err)
			}
			priv, err := hdkeychain.NewKeyFromString(keys.AccountTprv)
			if err != nil {
				t.Fatal(err)
			}
			ext, _ := priv.Derive(0)
			for _, i := range []uint32{0, 1, 19, 1000} {
				child, _ := ext.Derive(i)
				pub, _ := child.ECPubKey()
				want, _ := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), p)
				got, err := a.Address(i)
				if err != nil || got.EncodeAddress() != want.EncodeAddress() {
					t.Fatalf("%s index %d: got %v (%v), want %s", p.Name, i, got, err, want)
				}
			}
		}
	}
}

func TestParseAccountRefuses(t *testing.T) {
	keys := btcdtest.TestKeys()
	main, reg := &chaincfg.MainNetParams, &chaincfg.RegressionNetParams
	bad := []byte(bip84Zpub)
	bad[20] ^= 1
	for _, tc := range []struct {
		name, key string
		p         *chaincfg.Params
		want      string
	}{
		{"private key", keys.AccountTprv, reg, "PUBLIC"},
		{"mainnet key on regtest", bip84Zpub, reg, "another network"},
		{"test key on mainnet", keys.AccountTpub, main, "another network"},
		{"typo", string(bad), main, ""},
		{"garbage", "hello", main, "not an extended public key"},
		{"ypub (BIP49)", reversion(t, bip84Zpub, []byte{0x04, 0x9d, 0x7c, 0xb2}), main, "unsupported"},
		{"change descriptor", "wpkh(" + keys.AccountTpub + "/1/*)", reg, "receive descriptor"},
		{"pkh descriptor", "pkh(" + keys.AccountTpub + "/0/*)", reg, "wpkh"},
		{"empty", "", main, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAccount(tc.key, tc.p)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func FuzzParseAccount(f *testing.F) {
	keys := btcdtest.TestKeys()
	f.Add(bip84Zpub)
	f.Add(keys.AccountTpub)
	f.Add("wpkh([73c5da0a/84h/0h/0h]" + keys.AccountTpub + "/0/*)#x")
	f.Add(keys.AccountTprv)
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.RegressionNetParams} {
			a, err := ParseAccount(s, p)
			if err != nil {
				continue
			}
			addr, err := a.Address(7)
			if err != nil {
				t.Fatalf("parsed account can't derive: %v", err)
			}
			if !addr.IsForNet(p) {
				t.Fatalf("address %s not for %s", addr, p.Name)
			}
		}
	})
}
