package walletsig

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/sha3"
)

// Challenge is the message the wallet signs.
const Challenge = "lic/v1/wallet-account: I derive my license account from this signature. Anyone who has it and my password can use my licenses."

// Label is the hash label of the seed derivation's salt.
const Label = "lic/v1/wallet-seed"

// SeedSize is the size of a derived account seed.
const SeedSize = 32

// The fixed Argon2id parameters of DeriveSeed.
const (
	ArgonTime      = 3
	ArgonMemoryKiB = 64 << 10
	ArgonThreads   = 4
)

// Kind is the kind of wallet an address belongs to.
type Kind uint8

const (
	Bitcoin  Kind = 1
	Ethereum Kind = 2
)

func (k Kind) String() string {
	switch k {
	case Bitcoin:
		return "Bitcoin"
	case Ethereum:
		return "Ethereum"
	}
	return "unknown"
}

// Error is a refusal explained in one sentence for the customer.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

func errorf(format string, args ...any) error { return &Error{fmt.Sprintf(format, args...)} }

// Address is a parsed wallet address.
type Address struct {
	kind Kind
	text string // canonical
	btc  btcutil.Address
	eth  [20]byte
}

// Kind returns the kind of wallet.
func (a *Address) Kind() Kind { return a.kind }

// String returns the canonical form of the address: what DeriveSeed hashes.
func (a *Address) String() string { return a.text }

// networks are the Bitcoin networks whose addresses are accepted.
var networks = []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.RegressionNetParams}

// ParseAddress parses a Bitcoin address (P2PKH, P2SH-P2WPKH or P2WPKH) or an
// Ethereum address (0x and 40 hex digits, EIP-55 checked when in mixed
// case). Leading and trailing spaces are ignored.
func ParseAddress(s string) (*Address, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return parseEthereum(s[2:])
	}
	if s == "" {
		return nil, errorf("the wallet address is empty.")
	}
	var decoded btcutil.Address
	for _, p := range networks {
		a, err := btcutil.DecodeAddress(s, p)
		if err == nil && a.IsForNet(p) {
			decoded = a
			break
		}
	}
	if decoded == nil {
		return nil, errorf("%q is not a Bitcoin or Ethereum address (its checksum or format is wrong): check it for a mistyped character.", s)
	}
	switch decoded.(type) {
	case *btcutil.AddressPubKeyHash, *btcutil.AddressScriptHash, *btcutil.AddressWitnessPubKeyHash:
	case *btcutil.AddressTaproot:
		return nil, errorf("%s is a Taproot address, which cannot sign a message this way (it needs BIP-322): use a legacy (1…), nested segwit (3…) or native segwit (bc1q…) address of your wallet.", s)
	default:
		return nil, errorf("%s is a script address that cannot sign a message: use a legacy (1…), nested segwit (3…) or native segwit (bc1q…) address of your wallet.", s)
	}
	return &Address{kind: Bitcoin, text: decoded.EncodeAddress(), btc: decoded}, nil
}

func parseEthereum(h string) (*Address, error) {
	a := &Address{kind: Ethereum}
	if len(h) != 40 {
		return nil, errorf("an Ethereum address is 0x and 40 hex digits; this one has %d digits: check it for a missing or extra character.", len(h))
	}
	if _, err := hex.Decode(a.eth[:], []byte(h)); err != nil {
		return nil, errorf("the Ethereum address 0x%s holds a character that is not a hex digit: check it for a mistyped character.", h)
	}
	if h != strings.ToLower(h) && h != strings.ToUpper(h) && checksumHex(a.eth) != h {
		return nil, errorf("the capital letters of the Ethereum address 0x%s do not match its EIP-55 checksum: a character is mistyped (copy the address from the wallet).", h)
	}
	a.text = "0x" + hex.EncodeToString(a.eth[:])
	return a, nil
}

func keccak256(data ...[]byte) []byte {
	h := sha3.NewLegacyKeccak256()
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

// checksumHex is the EIP-55 form of an address, without 0x.
func checksumHex(addr [20]byte) string {
	lower := []byte(hex.EncodeToString(addr[:]))
	h := keccak256(lower)
	for i, c := range lower {
		nibble := h[i/2] >> 4
		if i%2 == 1 {
			nibble = h[i/2] & 0x0f
		}
		if c >= 'a' && nibble >= 8 {
			lower[i] = c - 'a' + 'A'
		}
	}
	return string(lower)
}

// ChecksumAddress returns an Ethereum address in its EIP-55 form.
func (a *Address) ChecksumAddress() string {
	if a.kind != Ethereum {
		return a.text
	}
	return "0x" + checksumHex(a.eth)
}

// Signature is a verified signature, with s made low: the input of
// DeriveSeed.
type Signature struct {
	R, S [32]byte
}

// Equal reports whether two signatures are the same (after s is made low).
func (s Signature) Equal(t Signature) bool { return s == t }

// BitcoinMessageHash is the hash a Bitcoin wallet signs for message.
func BitcoinMessageHash(message []byte) []byte {
	var b bytes.Buffer
	writeVarStr(&b, []byte("Bitcoin Signed Message:\n"))
	writeVarStr(&b, message)
	first := sha256.Sum256(b.Bytes())
	second := sha256.Sum256(first[:])
	return second[:]
}

func writeVarStr(b *bytes.Buffer, s []byte) {
	n := uint64(len(s))
	switch {
	case n < 0xfd:
		b.WriteByte(byte(n))
	case n <= 0xffff:
		b.WriteByte(0xfd)
		b.Write([]byte{byte(n), byte(n >> 8)})
	case n <= 0xffffffff:
		b.WriteByte(0xfe)
		b.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)})
	default:
		b.WriteByte(0xff)
		for i := range 8 {
			b.WriteByte(byte(n >> (8 * i)))
		}
	}
	b.Write(s)
}

// EthereumMessageHash is the hash an Ethereum wallet signs for message
// (EIP-191 version 0x45, personal_sign).
func EthereumMessageHash(message []byte) []byte {
	return keccak256([]byte("\x19Ethereum Signed Message:\n"+strconv.Itoa(len(message))), message)
}

// Verify checks that sig is a signature of Challenge by addr's key.
func Verify(addr *Address, sig string) (Signature, error) {
	return VerifyMessage(addr, []byte(Challenge), sig)
}

// errWrong is the refusal of a well-formed signature by another key or
// over another message.
func errWrong(addr *Address) error {
	return errorf("the signature was not made by %s over the challenge: sign the challenge exactly as shown, with the key of that address, and paste the whole signature.", addr.text)
}

// VerifyMessage checks that sig is a signature of message by addr's key,
// in the format of addr's kind.
func VerifyMessage(addr *Address, message []byte, sig string) (Signature, error) {
	sig = strings.TrimSpace(sig)
	switch addr.kind {
	case Bitcoin:
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil || len(raw) != 65 {
			return Signature{}, errorf("a Bitcoin message signature is 88 characters of base64 (65 bytes); this one is not: paste the whole signature.")
		}
		return verifyBitcoin(addr, message, raw)
	case Ethereum:
		h := strings.TrimPrefix(strings.TrimPrefix(sig, "0x"), "0X")
		raw, err := hex.DecodeString(h)
		if err != nil || len(raw) != 65 {
			return Signature{}, errorf("an Ethereum signature is 0x and 130 hex digits (65 bytes); this one is not: paste the whole signature.")
		}
		return verifyEthereum(addr, message, raw)
	}
	return Signature{}, errorf("unknown kind of wallet address.")
}

func verifyBitcoin(addr *Address, message, raw []byte) (Signature, error) {
	h := raw[0]
	if h < 27 || h > 42 {
		return Signature{}, errorf("the signature's first byte (%d) is not a Bitcoin message signature's header (27 to 42): paste the signature as the wallet wrote it.", h)
	}
	recid := (h - 27) & 3
	typ := (h - 27) / 4 // 0 P2PKH uncompressed, 1 P2PKH compressed, 2 P2SH-P2WPKH, 3 P2WPKH
	compact := append([]byte{27 + recid}, raw[1:]...)
	if typ > 0 {
		compact[0] += 4
	}
	pub, _, err := ecdsa.RecoverCompact(compact, BitcoinMessageHash(message))
	if err != nil {
		return Signature{}, errWrong(addr)
	}
	var ok bool
	switch a := addr.btc.(type) {
	case *btcutil.AddressPubKeyHash:
		key := pub.SerializeCompressed()
		if typ == 0 {
			key = pub.SerializeUncompressed()
		}
		ok = typ <= 1 && bytes.Equal(btcutil.Hash160(key), a.ScriptAddress())
	case *btcutil.AddressScriptHash:
		script := append([]byte{0x00, 0x14}, btcutil.Hash160(pub.SerializeCompressed())...)
		ok = (typ == 1 || typ == 2) && bytes.Equal(btcutil.Hash160(script), a.ScriptAddress())
	case *btcutil.AddressWitnessPubKeyHash:
		ok = (typ == 1 || typ == 3) && bytes.Equal(btcutil.Hash160(pub.SerializeCompressed()), a.ScriptAddress())
	}
	if !ok {
		return Signature{}, errWrong(addr)
	}
	return lowS(raw[1:33], raw[33:65]), nil
}

func verifyEthereum(addr *Address, message, raw []byte) (Signature, error) {
	v := raw[64]
	if v >= 27 {
		v -= 27
	}
	if v > 1 {
		return Signature{}, errorf("the signature's last byte is not 27, 28, 0 or 1: paste the signature as the wallet wrote it.")
	}
	compact := append([]byte{27 + v}, raw[:64]...)
	pub, _, err := ecdsa.RecoverCompact(compact, EthereumMessageHash(message))
	if err != nil {
		return Signature{}, errWrong(addr)
	}
	if !bytes.Equal(keccak256(pub.SerializeUncompressed()[1:])[12:], addr.eth[:]) {
		return Signature{}, errWrong(addr)
	}
	return lowS(raw[:32], raw[32:64]), nil
}

// lowS returns (r, s) with s replaced by n − s when above n/2.
func lowS(r, s []byte) Signature {
	var out Signature
	copy(out.R[:], r)
	var sc btcec.ModNScalar
	sc.SetByteSlice(s)
	if sc.IsOverHalfOrder() {
		sc.Negate()
	}
	out.S = sc.Bytes()
	return out
}

// DeriveSeed derives the account seed from a verified signature of
// Challenge by addr and the password. It costs one Argon2id run with the
// fixed parameters (64 MiB).
func DeriveSeed(addr *Address, sig Signature, password []byte) ([SeedSize]byte, error) {
	var seed [SeedSize]byte
	if len(password) == 0 {
		return seed, errorf("the password is empty: a wallet-derived account needs a password, or anyone who once saw the signature would hold it.")
	}
	h := sha256.New()
	h.Write([]byte(Label))
	h.Write([]byte{byte(addr.kind), byte(len(addr.text))})
	h.Write([]byte(addr.text))
	h.Write(sig.R[:])
	h.Write(sig.S[:])
	copy(seed[:], argon2.IDKey(password, h.Sum(nil), ArgonTime, ArgonMemoryKiB, ArgonThreads, SeedSize))
	return seed, nil
}
