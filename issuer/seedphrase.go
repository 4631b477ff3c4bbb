package issuer

import (
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"strings"
)

// SeedPhraseWords is the number of words of a seed phrase.
const SeedPhraseWords = 24

// bip39English is the BIP 39 English word list,
// https://github.com/bitcoin/bips/blob/master/bip-0039/english.txt
// (SHA-256 2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda,
// checked by TestWordList).
//
//go:embed bip39_english.txt
var bip39English string

var (
	wordList  = strings.Split(strings.TrimSuffix(bip39English, "\n"), "\n")
	wordIndex = func() map[string]uint16 {
		m := make(map[string]uint16, len(wordList))
		for i, w := range wordList {
			m[w] = uint16(i)
		}
		return m
	}()
)

// ErrSeedPhrase is wrapped by every error of DecodeSeedPhrase.
var ErrSeedPhrase = errors.New("issuer: invalid seed phrase")

// EncodeSeedPhrase encodes a seed as 24 words of the BIP 39 English list,
// separated by single spaces, exactly as BIP 39 encodes 256 bits of entropy:
// the 256 seed bits followed by the first 8 bits of SHA-256(seed) make 264
// bits, read as 24 big-endian 11-bit word indexes.
//
// Only the encoding is BIP 39's: the seed is used as it is (see
// NewAccountFromSeed), not stretched with BIP 39's PBKDF2, so the phrase is
// not a wallet seed phrase and restores nothing in a Bitcoin wallet.
func EncodeSeedPhrase(seed [SeedSize]byte) string {
	sum := sha256.Sum256(seed[:])
	var bits [33]byte
	copy(bits[:], seed[:])
	bits[32] = sum[0]
	words := make([]string, SeedPhraseWords)
	for i := range words {
		words[i] = wordList[readBits11(&bits, i)]
	}
	return strings.Join(words, " ")
}

// readBits11 returns the i-th big-endian 11-bit group of b.
func readBits11(b *[33]byte, i int) uint16 {
	var v uint16
	for j := 0; j < 11; j++ {
		bit := i*11 + j
		v = v<<1 | uint16(b[bit/8]>>(7-bit%8)&1)
	}
	return v
}

// DecodeSeedPhrase decodes a seed phrase made by EncodeSeedPhrase. Words may
// be separated by any white space and in any case. It reports which word is
// unknown, and a checksum mismatch, which a wrong or swapped word causes with
// probability 255/256.
func DecodeSeedPhrase(phrase string) ([SeedSize]byte, error) {
	var seed [SeedSize]byte
	words := strings.Fields(strings.ToLower(phrase))
	if len(words) != SeedPhraseWords {
		return seed, fmt.Errorf("%w: it has %d words, a seed phrase has %d", ErrSeedPhrase, len(words), SeedPhraseWords)
	}
	var bits [33]byte
	for i, w := range words {
		idx, ok := wordIndex[w]
		if !ok {
			return seed, fmt.Errorf("%w: word %d, %q, is not in the word list; check its spelling", ErrSeedPhrase, i+1, w)
		}
		for j := 0; j < 11; j++ {
			if idx>>(10-j)&1 == 1 {
				bit := i*11 + j
				bits[bit/8] |= 1 << (7 - bit%8)
			}
		}
	}
	copy(seed[:], bits[:32])
	if sum := sha256.Sum256(seed[:]); sum[0] != bits[32] {
		return [SeedSize]byte{}, fmt.Errorf("%w: its checksum does not match; a word is wrong or out of place", ErrSeedPhrase)
	}
	return seed, nil
}
