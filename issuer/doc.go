// Package issuer owns accounts and license addresses, stealth license
// outputs (minting them, recognising them, opening their sealed payloads),
// scanning the ledger for one's own licenses, and the Minter that makes the
// ledger entry of a paid order. Use it in the customer
// tool to make accounts and find licenses, and in the server to check
// addresses and mint.
//
// # Using it
//
// A customer makes an account once and keeps its seed phrase:
//
//	acct, err := issuer.NewAccount(rand.Reader)
//	phrase := acct.SeedPhrase()          // 24 words: the whole backup
//	addr := acct.Address().String()      // "lic1…", given to the issuer
//
// The issuer parses the address it receives and mints a license output for
// it; the output's public fields go on the public ledger:
//
//	addr, err := issuer.ParseAddress(s)  // errors carry a stable code
//	out, err := issuer.Mint(rand.Reader, addr, issuer.Payload{…})
//
// The server does both through a Minter (NewMinter): License makes the
// entry of a paid order, and payments.LedgerMinter enqueues it in the
// transaction that settles the order (pgledger.Enqueue), so the order and
// its entry commit together. This package does no I/O and links no database
// driver.
//
// The customer scans the ledger with the account and finds their licenses,
// each with the secret key that signs ring proofs:
//
//	for _, f := range acct.ScanOutputs(outputs, 0) { … f.License.Secret … }
//
// Everything below is the specification: with it, and the vectors in
// testdata/vectors.json, another implementation can make and read the same
// addresses and outputs.
//
// # Notation and primitives
//
// ‖ is concatenation. Labels are ASCII strings without terminator or length
// prefix; they are the constants of package ringverify, whose documentation
// lists every label of the protocol in one table. This package uses
// "lic/v1/spendkey", "lic/v1/viewkey", "lic/v1/viewtag", "lic/v1/onetime"
// and "lic/v1/seal", and no other.
//
//   - SHA-512 is FIPS 180-4; H(label, data) = SHA-512(label ‖ data), 64 bytes.
//   - Hs(label, data) is the ristretto255 scalar Scalar.SetUniformBytes(H(label,
//     data)): the 64 bytes read as a little-endian integer reduced mod l.
//   - G is the ristretto255 generator; points are ristretto255 elements
//     (RFC 9496) in their 32-byte canonical encoding, scalars 32 bytes
//     little-endian, canonical (below l).
//   - X25519(k, u) is RFC 7748's function (k is clamped by X25519 itself);
//     base is the u-coordinate 9. An X25519 public key is valid if its 32
//     bytes are the canonical little-endian encoding of u < 2^255-19 (so the
//     top bit is clear) and X25519(k, u) is not all zero for clamped k, that
//     is u is not of order dividing 8.
//   - XChaCha20-Poly1305 is draft-irtf-cfrg-xchacha-03 (24-byte nonce,
//     16-byte tag appended to the ciphertext).
//
// # Accounts
//
// An account is a 32-byte seed, from crypto/rand. From it:
//
//	b = Hs("lic/v1/spendkey", seed)             spend key (secret)
//	B = b·G                                     spend public key
//	a = H("lic/v1/viewkey", seed)[0:32]         X25519 view key (secret)
//	A = X25519(a, base)                         view public key
//
// The secret material is stored as MarshalBinary: 0x01 ‖ seed (33 bytes).
// UnmarshalAccount accepts exactly that. It is secret; the license tool
// encrypts it.
//
// The seed phrase is the BIP 39 encoding of the seed as 256 bits of entropy,
// with the BIP 39 English word list: the seed followed by the first byte of
// SHA-256(seed), 264 bits, split into 24 big-endian 11-bit numbers, each an
// index into the list; words are joined by single spaces. Only the encoding is
// BIP 39's: the seed is not stretched by BIP 39's PBKDF2, so the phrase does
// not belong in a Bitcoin wallet, nor does a wallet's phrase give the same
// account. DecodeSeedPhrase accepts any case and any white space between the
// words, and rejects an unknown word, a count other than 24 and a checksum
// mismatch (ErrSeedPhrase).
//
// # License addresses
//
// The binary address is 65 bytes:
//
//	version (0x01) ‖ A (32 bytes) ‖ B (32 bytes)
//
// Its text form is bech32m (BIP 350) with the human-readable part "lic": the
// 65 bytes are regrouped into 104 5-bit values (520 bits, so no padding),
// most significant bit first, and encoded with the bech32m checksum. The text
// is 114 characters, "lic1" then 110 characters of the bech32 alphabet, and is
// written in lower case. It is longer than BIP 173's 90-character limit, which
// bounds the checksum's strongest guarantee (any 4 errors detected);
// TestAddressSingleErrors shows that every single substituted character and
// every swap of two neighbours is still caught, and a random error goes
// unnoticed with probability about 2^-30.
//
// ParseAddress checks, in this order, and each failure has its own error
// value, errors.Is-able, with a stable code from AddressErrorCode:
//
//	address_length     input longer than 1024 bytes
//	address_malformed  not bech32: no "1" separator, under 8 characters,
//	                   a character outside the alphabet or outside ASCII 33-126
//	address_case       both upper and lower case letters (an address all
//	                   in upper case is accepted, as bech32 requires)
//	address_checksum   the bech32m checksum does not match; a string with a
//	                   valid bech32 (BIP 173) checksum is also refused here
//	address_hrp        a valid checksum but a prefix other than "lic"
//	address_version    the first 8 bits of the data are not 0x01
//	address_length     the data is not 104 5-bit values
//	address_key        A is not a valid X25519 public key (above), or B is
//	                   not a canonical ristretto255 encoding or is the identity
//
// Every error message is a sentence the user can act on.
//
// # Payloads
//
// A payload is the plan, validity, daily quota and receipt code of a license.
// Its canonical encoding, 38 bytes plus the plan:
//
//	0x01                  version
//	n                     1 byte, the plan length, 1 ≤ n ≤ 64
//	plan                  n bytes, each 0x21..0x7e (printable ASCII, no space)
//	not_before            8 bytes, big-endian unix seconds
//	not_after             8 bytes, big-endian unix seconds
//	daily_quota           4 bytes, big-endian, ≥ 1
//	receipt               16 bytes, random
//
// not_before and not_after are multiples of 86400 (midnight UTC), below
// 253402300800 (year 10000), and not_before < not_after; the license is valid
// from not_before up to, not including, not_after. DecodePayload accepts only
// canonical encodings: it refuses any other version, a length that does not
// match n, trailing bytes and any value out of range (ErrInvalidPayload).
//
// # License outputs
//
// An output is four public fields: R (32 bytes, X25519 public key), P
// (32 bytes, ristretto255 encoding), the view tag (1 byte) and the sealed
// payload (payload length + 16 bytes). To mint payload for address (A, B),
// Mint does:
//
//	r      = 32 fresh random bytes (an X25519 private key)
//	R      = X25519(r, base)
//	shared = X25519(r, A)                       refused if all zero
//	tag    = H("lic/v1/viewtag", shared ‖ R)[0]
//	k      = Hs("lic/v1/onetime", shared ‖ R)
//	P      = k·G + B                            refused if the identity
//	key    = H("lic/v1/seal", shared ‖ R)[0:32]
//	ad     = 0x01 ‖ R ‖ P ‖ tag                 66 bytes; 0x01 is the version
//	sealed = XChaCha20-Poly1305(key, nonce = 24 zero bytes, payload, ad)
//
// The owner's license secret is x = k + b mod l, and x·G = P.
//
// There is no output index in k. The design sketch has k = Hs(shared ‖
// output_index), after Monero, where one ephemeral key serves every output of
// a transaction and the index tells them apart. Here every output has its own
// r, so R plays that role and is bound into every derived value; the ledger
// index cannot be used, as the sequencer assigns it after minting (shuffled
// within a round).
//
// The nonce is zero because every seal key is used for exactly one message:
// it is derived from a fresh shared secret and R. A repeated r, the one way to
// repeat a key, would also repeat P, and P is unique on the ledger. Not
// sending a nonce saves 24 bytes per ledger entry.
//
// # Opening and scanning
//
// Open(acct, out), for the account (a, b, B), does:
//
//  1. refuse R that is not canonical (top bit set or u ≥ 2^255-19);
//  2. shared = X25519(a, R); refuse if all zero;
//  3. compare H("lic/v1/viewtag", shared ‖ R)[0] with the view tag;
//  4. k = Hs("lic/v1/onetime", shared ‖ R); compare k·G + B with P, which must
//     be a canonical encoding;
//  5. open sealed with key and ad as above, and decode the payload.
//
// A failure in steps 1 to 4 is ErrNotMine; in step 5 it is ErrDamagedPayload:
// the output is the account's but its payload does not open, which an output
// made by Mint never causes. The view tag makes 255 in 256 outputs of others
// cost one X25519 and one SHA-512 block (the floor), without allocating; the
// other 1 in 256 also cost step 4. ScanOutputs runs Open over a slice of
// outputs on all cores.
//
// Open does not prove that the issuer minted the output: anyone who knows an
// address can mint to it. What makes an output a license is being on the
// ledger, which only the issuer appends to.
//
// # Constant time
//
// Operations on secrets are constant time: account derivation, X25519 (an
// allocation-free copy of crypto/ecdh's ladder, checked against it), the
// scalar multiplication k·G, the scalar addition x = k + b, the view tag
// comparison (crypto/subtle), the comparison of P (Element.Equal) and the
// AEAD. Open's timing shows which step rejected an output, and so whether the
// output is the account's, which only someone watching the scanning machine
// could see. Parsing and validating addresses and payloads, which are public,
// is variable time.
//
// # Test vectors
//
// testdata/vectors.json holds accounts, addresses, payloads and outputs with
// every intermediate value (seed, b, B, a, A, r, R, shared, tag, k, P, key,
// ad, sealed, x) and bad addresses with their error codes;
// testdata/bip39_vectors.json the BIP 39 reference vectors for 256-bit
// entropy. TestAccumulated hashes a thousand seeded runs of every operation
// into one digest.
package issuer
