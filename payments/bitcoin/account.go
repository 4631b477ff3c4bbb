package bitcoin

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
)

// Version bytes of extended public keys (BIP32, SLIP-132).
var (
	versionXpub = []byte{0x04, 0x88, 0xb2, 0x1e} // mainnet, BIP32
	versionZpub = []byte{0x04, 0xb2, 0x47, 0x46} // mainnet, BIP84
	versionTpub = []byte{0x04, 0x35, 0x87, 0xcf} // test networks, BIP32
	versionVpub = []byte{0x04, 0x5f, 0x1c, 0xf6} // test networks, BIP84
)

// Account is the operator's BIP84 account: an extended public key at
// m/84'/coin'/account' from which every invoice gets its own receive address
// m/…/0/index. The server never holds the private side.
type Account struct {
	key    *hdkeychain.ExtendedKey // the external chain, …/0
	params *chaincfg.Params
	fp     string
}

// ParseAccount decodes the operator's account extended public key for the
// network p. It accepts the forms wallets export:
//
//   - zpub… / vpub… (SLIP-132 BIP84: Sparrow, Electrum),
//   - xpub… / tpub… (plain BIP32, read as the BIP84 account key),
//   - a descriptor wpkh([fingerprint/84h/0h/0h]xpub…/0/*)#checksum as
//     Bitcoin Core's listdescriptors prints (the receive one, …/0/*).
//
// Mainnet takes xpub or zpub; the test networks take tpub or vpub. A private
// extended key is refused: the server must never hold one.
func ParseAccount(s string, p *chaincfg.Params) (*Account, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "wpkh(") {
		var err error
		if s, err = keyOfDescriptor(s); err != nil {
			return nil, err
		}
	} else if strings.Contains(s, "(") {
		return nil, errors.New("bitcoin: only wpkh(…) descriptors describe a BIP84 native segwit account")
	}
	dec := base58.Decode(s)
	if len(dec) != 82 {
		return nil, errors.New("bitcoin: the account key is not an extended public key (xpub, zpub, tpub or vpub)")
	}
	if !bytes.Equal(chainhash.DoubleHashB(dec[:78])[:4], dec[78:]) {
		return nil, errors.New("bitcoin: the account key has a bad checksum (a typo?)")
	}
	if dec[45] == 0x00 {
		return nil, errors.New("bitcoin: that is a private extended key; give the server the account's extended PUBLIC key (xpub/zpub) only")
	}
	v := dec[:4]
	mainnet := p.Net == chaincfg.MainNetParams.Net
	switch {
	case mainnet && (bytes.Equal(v, versionXpub) || bytes.Equal(v, versionZpub)):
	case !mainnet && (bytes.Equal(v, versionTpub) || bytes.Equal(v, versionVpub)):
	case bytes.Equal(v, versionXpub), bytes.Equal(v, versionZpub), bytes.Equal(v, versionTpub), bytes.Equal(v, versionVpub):
		return nil, fmt.Errorf("bitcoin: the account key is for another network than %s (mainnet takes xpub/zpub, test networks tpub/vpub)", p.Name)
	default:
		return nil, errors.New("bitcoin: unsupported extended key version: give a BIP84 account key (zpub/vpub, or xpub/tpub)")
	}
	// hdkeychain derives the same whatever the version bytes; normalise to
	// the network's BIP32 ones so its checks pass.
	norm := append(append([]byte{}, p.HDPublicKeyID[:]...), dec[4:78]...)
	norm = append(norm, chainhash.DoubleHashB(norm)[:4]...)
	k, err := hdkeychain.NewKeyFromString(base58.Encode(norm))
	if err != nil {
		return nil, fmt.Errorf("bitcoin: bad account key: %w", err)
	}
	ext, err := k.Derive(0)
	if err != nil {
		return nil, fmt.Errorf("bitcoin: couldn't derive the receive chain: %w", err)
	}
	id := btcutil.Hash160(dec[45:78])
	return &Account{key: ext, params: p, fp: fmt.Sprintf("%x", id[:4])}, nil
}

// keyOfDescriptor extracts the key of wpkh([origin]KEY/0/*)#checksum. The
// descriptor must be the receive (external, /0/*) one.
func keyOfDescriptor(s string) (string, error) {
	body := strings.TrimPrefix(s, "wpkh(")
	if i := strings.IndexByte(body, '#'); i >= 0 {
		body = body[:i]
	}
	if !strings.HasSuffix(body, ")") {
		return "", errors.New("bitcoin: bad wpkh descriptor: no closing parenthesis")
	}
	body = strings.TrimSuffix(body, ")")
	if i := strings.IndexByte(body, ']'); i >= 0 {
		body = body[i+1:]
	}
	key, path, ok := strings.Cut(body, "/")
	if !ok || (path != "0/*" && path != "<0;1>/*") {
		return "", errors.New("bitcoin: give the receive descriptor, wpkh(…/0/*) (not the change one, …/1/*)")
	}
	return key, nil
}

// Fingerprint is a short identifier of the account key (the first 4 bytes of
// its HASH160), to tell in logs which account is in use without printing it.
func (a *Account) Fingerprint() string { return a.fp }

// Address returns the receive address at index: m/…/0/index, P2WPKH.
func (a *Account) Address(index uint32) (*btcutil.AddressWitnessPubKeyHash, error) {
	if index >= hdkeychain.HardenedKeyStart {
		return nil, errors.New("bitcoin: address index out of range")
	}
	child, err := a.key.Derive(index)
	if err != nil {
		return nil, fmt.Errorf("bitcoin: couldn't derive address %d: %w", index, err)
	}
	pub, err := child.ECPubKey()
	if err != nil {
		return nil, err
	}
	return btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub.SerializeCompressed()), a.params)
}
