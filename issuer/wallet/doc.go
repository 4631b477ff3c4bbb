// Package wallet keeps a customer's account on disk: the account seed, the
// licenses found by scanning the ledger, the progress of the scan and the
// ring-proof counters used per scope, all in one file encrypted with a
// passphrase.
//
// Use Create to make a new file, Load to open one (it returns the Contents
// and a Key that re-seals them without running the slow key derivation
// again), and Key.Save to write changes back. Lock serialises the
// read-modify-write cycles of concurrent processes on one file, so two
// proofs made at once never take the same counter.
//
// # File format
//
// The file is an envelope around an encrypted JSON document. Integers are
// big-endian.
//
//	offset  size  field
//	0       7     magic "licacct"
//	7       1     format version, 0x01
//	8       1     key derivation function: 0x01 = Argon2id (RFC 9106)
//	9       4     Argon2id time (passes), 1 to 64
//	13      4     Argon2id memory in KiB, 8·threads to 1048576 (1 GiB)
//	17      1     Argon2id threads (lanes), 1 to 64
//	18      16    salt, random
//	34      16    passphrase check: bytes 32..47 of the derived key material
//	50      24    XChaCha20-Poly1305 nonce, random, fresh at every save
//	74      n+16  XChaCha20-Poly1305 ciphertext of the contents (n bytes) and its tag
//
// The derived key material is Argon2id(passphrase, salt, time, memory,
// threads) with 48 bytes of output: bytes 0..31 are the AEAD key, bytes
// 32..47 the passphrase check. The check only tells a wrong passphrase
// (check differs) from a damaged file (check matches, tag does not); it
// helps an attacker who has the file no more than the tag itself does,
// since both cost one Argon2id per guess. The additional data of the AEAD is
// bytes 0..73, so every header byte is authenticated. Save writes a new
// nonce each time; the key is the same until the passphrase or salt changes,
// which XChaCha20's 192-bit random nonces make safe.
//
// Defaults are RFC 9106's second recommendation: time 3, 64 MiB, 4 threads.
//
// The plaintext is a JSON object (Contents) with "version": 1. Binary
// fields are standard base64 with padding. It holds only what the tool
// needs: the seed (everything else about the account is derived from it),
// the pinned ledger key and last audited checkpoint, how far the ledger was
// scanned, the licenses found (index, plan, validity, quota, receipt,
// one-time key, secret), per license and scope the next unused counter
// (counters of past scopes are dropped, PruneUses), and a census of the
// license entries seen per plan and validity (public, and small: licenses
// are minted by whole days), used to check the server's list of valid
// licenses before drawing decoys from it.
package wallet
