// Package walletsig derives a license account from a signature made by a
// wallet the customer already has, and a password, as Ylide derives
// messaging keys: the same wallet and password give the same account on any
// machine, with nothing to back up but the password. It verifies Bitcoin
// "Sign message" signatures (BIP-137, as Bitcoin Core, Electrum, Sparrow and
// hardware wallets make them) and Ethereum personal_sign signatures
// (EIP-191). It is pure: no I/O.
//
// Use ParseAddress on the wallet address the customer gives (a typo is an
// *Error whose message is one sentence), show Challenge for them to sign,
// check the signature they paste with Verify, then derive the account seed
// with DeriveSeed (Argon2id: about a second and 64 MiB).
//
// # The challenge
//
// Challenge is fixed, one line of ASCII (wallets and command lines handle
// it alike), and names the purpose, so it is signed for nothing else and a
// signature over anything else derives nothing. Anyone who sees the
// signature and knows the password has the account: show the signature to
// nobody.
//
// # Bitcoin (BIP-137)
//
// The signed hash is SHA-256(SHA-256(varstr("Bitcoin Signed Message:\n") ‖
// varstr(challenge))), varstr being a CompactSize length then the bytes. The
// signature is base64 (standard, with padding) of 65 bytes: a header byte h,
// then r and s, 32 bytes each, big-endian. h is 27 + recid for a P2PKH
// address of an uncompressed key, 31 + recid compressed, 35 + recid for
// P2SH-P2WPKH and 39 + recid for P2WPKH (recid 0 to 3). The public key is
// recovered from (h, r, s) and the hash, and must hash (HASH160) to the
// address given: P2PKH (1…, m…, n…) with the key compressed as h says;
// P2SH-P2WPKH (3…, 2…) over the script 0x00 0x14 HASH160(key); P2WPKH
// (bc1q…, tb1q…, bcrt1q…). Electrum signs segwit addresses with the P2PKH
// compressed headers 31 to 34, so those are accepted for every address type;
// headers 35 to 42 only for their own type. Taproot and other script
// addresses cannot sign this way (they need BIP-322) and are refused.
// Addresses of mainnet, testnet and regtest are accepted.
//
// # Ethereum (EIP-191 personal_sign)
//
// The signed hash is Keccak-256("\x19Ethereum Signed Message:\n" ‖
// decimal(len(challenge)) ‖ challenge). The signature is 0x and 130 hex
// digits: r ‖ s ‖ v, v being 27 or 28 (or 0 or 1, as some hardware wallets
// write it). The address is the last 20 bytes of the Keccak-256 of the
// recovered key's 64-byte X ‖ Y. An address in mixed case must match its
// EIP-55 checksum; one in a single case is not checked.
//
// # The seed
//
// ECDSA signatures are malleable: (r, s) and (r, n − s) are both valid.
// Wallets write the low s (s ≤ n/2); a high s is replaced by n − s before
// anything is derived, so both forms give the same account. Then
//
//	salt = SHA-256("lic/v1/wallet-seed" ‖ u8(kind) ‖ u8(len(address)) ‖ address ‖ r ‖ s)
//	seed = Argon2id(password, salt, time 3, memory 64 MiB, 4 lanes, 32 bytes)
//
// with kind 1 for Bitcoin and 2 for Ethereum, and the address as
// Address.String writes it (Bitcoin: its usual encoding, bech32 in lower
// case; Ethereum: 0x and 40 lower-case hex digits). The seed is an account
// seed of package issuer (issuer.NewAccountFromSeed). The Argon2id
// parameters are fixed: changing them changes every account.
//
// # Deterministic signatures
//
// The account is a function of the signature, so the wallet must sign the
// same challenge the same way every time. Wallets that compute their ECDSA
// nonce by RFC 6979 do: Bitcoin Core, Electrum, Sparrow, Trezor, Ledger and
// Coldcard for Bitcoin; MetaMask, Rabby, Trust Wallet, Ledger and Trezor for
// Ethereum (ethereumjs and ethers sign by RFC 6979). Wallets that draw a
// random nonce, or sign by multi-party computation, give a new signature,
// hence a new account, each time; smart-contract wallets (ERC-1271) make no
// ECDSA signature at all. The license tool therefore asks for the
// signature twice and refuses to derive when the two differ.
//
// The vectors in testdata/vectors.json are made with btcec's RFC 6979
// signer (TestVectors; regenerate with -update), and
// testdata/external.json holds signatures published by Bitcoin Core's and
// bitcoinjs-message's test suites and MetaMask's eth-sig-util, each with
// its source.
package walletsig
