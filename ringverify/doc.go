// Package ringverify owns the ring signature scheme of the license network:
// scoped, counted, linkable ring signatures (bLSAG over ristretto255), their
// canonical encodings, and the Verifier that checks a proof against the set of
// valid licenses. It is pure: no I/O, no SQL, no logging.
//
// Use [Sign] on the client to prove "one of these licenses made this block",
// [ParseProof] to decode a proof received on the wire, and a [Verifier]
// (shared by the whole process) to check it against the ledger. [Verify]
// checks a proof against explicit keys, without a ledger.
//
// This documentation is the specification of the scheme: everything below is
// needed, and enough, to interoperate.
//
// # Notation
//
// G is the ristretto255 generator and l = 2^252 +
// 27742317777372353535851937790883648493 the group order (RFC 9496).
// enc(E) is the 32-byte canonical encoding of an element (RFC 9496 §4.3.2);
// a scalar is encoded as 32 bytes little-endian, and must be below l.
// u16(v), u32(v), u64(v) are big-endian unsigned integers of 2, 4 and 8
// bytes. ‖ is concatenation. All other lengths are fixed.
//
//	Hs(label, data) = Scalar.SetUniformBytes(SHA-512(label ‖ data))   (RFC 9496 §4.4: the 64 bytes little-endian, mod l)
//	Hp(label, data) = Element.SetUniformBytes(SHA-512(label ‖ data))  (RFC 9496 §4.3.4, element derivation)
//
// [HashToScalar] and [HashToElement] compute them.
//
// # Hash labels
//
// Every hash in the protocol has its own label, ASCII, without a terminator.
// No label is a prefix of another (TestLabelsPrefixFree checks every Label…
// constant), and the data after each label is an injective encoding, so no
// two purposes can share a hash input.
//
//	| label | constant | data | output | used by |
//	|---|---|---|---|---|
//	| `lic/v1/tag` | LabelTag | u16(len(s)) ‖ s ‖ u32(j) ‖ enc(P_i) | Hp: tag base H_i | ringverify |
//	| `lic/v1/challenge` | LabelChallenge | see "Challenge" below | Hs: ring challenge c_{i+1} | ringverify |
//	| `lic/v1/nonce` | LabelNonce | x ‖ Z ‖ D ‖ u32(i) | Hs: nonce and decoy responses | ringverify (signer only) |
//	| `lic/v1/viewtag` | LabelViewTag | shared ‖ R | SHA-512(…)[0]: 1-byte view tag | package issuer |
//	| `lic/v1/onetime` | LabelOneTime | shared ‖ R | Hs: one-time scalar k, P = k·G + B | package issuer |
//	| `lic/v1/seal` | LabelSeal | shared ‖ R | SHA-512(…)[:32]: payload AEAD key | package issuer |
//	| `lic/v1/spendkey` | LabelSpendKey | seed | Hs: spend key b | package issuer |
//	| `lic/v1/viewkey` | LabelViewKey | seed | SHA-512(…)[:32]: X25519 view key a | package issuer |
//	| `lic/v1/pow` | (admission) | u8(len s) ‖ s ‖ message, tag, timestamp, nonce | SHA-256: admission proof of work | package ledger/admission |
//	| `lic/v1/tagfilter` | (tagfilter) | u8(len s) ‖ s ‖ u32(j) ‖ T | SHA-512: Bloom filter positions | package ledger/tagfilter |
//	| `lic/v1/ring-seed` | (license tool) | x ‖ u16(len s) ‖ s ‖ u32(j) | SHA-512(…)[:32]: the ring's secret seed | cmd/license (ring.go) |
//	| `lic/v1/ring-rank` | (license tool) | seed ‖ u64(i) | SHA-512: decoy rank of ledger index i | cmd/license (ring.go) |
//	| `lic/v1/ring-position` | (license tool) | seed | SHA-512(…)[:8]: the signer's position | cmd/license (ring.go) |
//	| `lic/v1/poll` | (poll) | definition | SHA-256: the poll hash | package ledger/poll |
//	| `lic/v1/ballot` | (poll) | poll hash ‖ u8(option) | SHA-256: the message a ballot signs | package ledger/poll |
//	| `lic/v1/suspensions` | (ledger) | head(n) ‖ entry n (17 bytes) | SHA-256: head(n+1) of the suspension feed | package ledger (suspension.go) |
//	| `lic/v1/wallet-seed` | (walletsig) | u8(kind) ‖ u8(len addr) ‖ addr ‖ r ‖ s | Argon2id input: wallet-derived account seed | package issuer/walletsig |
//
// The rows from viewtag to viewkey are used by package issuer (license
// outputs and accounts); the rows after it by the packages named. Their
// documentation is authoritative for their data, summarised here so the
// table is complete. ("lic/v1/wallet-account: …" begins the text a wallet
// signs, a message, not a hash label.)
//
// # Keys, scope, counter
//
// A license's secret is a scalar x ≠ 0 and its key (the one-time key P on the
// ledger) is P = x·G. A ring is an ordered list of n distinct keys
// P_0 … P_{n-1}, 1 ≤ n ≤ 1024 ([MaxRingSize]), none the identity; the
// signer's position π is secret. The scope s is 1 to 255 bytes
// ([MaxScopeSize]), for example "<network>/2026-11-22"; the counter j is a
// uint32, 0 ≤ j < the plan's daily quota by convention of the caller. The
// message m is any byte string (the data block hash).
//
// # Tag bases and tags
//
//	H_i = Hp("lic/v1/tag", u16(len(s)) ‖ s ‖ u32(j) ‖ enc(P_i))     (TagBase)
//	T   = x·H_π
//
// T depends only on (x, s, j): every proof one license makes under one scope
// and counter has the same tag (linkable), and tags under different scopes
// or counters are unrelated (Hp is a random oracle, so x·H and x·H' for
// independent H, H' are as unlinkable as two fresh keys).
//
// # Challenge
//
// The challenge prefix binds the label, the scope, the counter, the ring
// size, every ring key in order, the tag and the message:
//
//	prefix = "lic/v1/challenge" ‖ u16(len(s)) ‖ s ‖ u32(j) ‖ u32(n) ‖
//	         enc(P_0) ‖ … ‖ enc(P_{n-1}) ‖ enc(T) ‖ u64(len(m)) ‖ m
//	c_{i+1 mod n} = Scalar.SetUniformBytes(SHA-512(prefix ‖ enc(L_i) ‖ enc(R_i)))
//
// (This is Hs("lic/v1/challenge", …).) Implementations hash the prefix once
// and restore the SHA-512 state for every step.
//
// # Signing
//
// Inputs: x, the ring, π with P_π = x·G, s, j, m, and 32 random bytes Z.
//
//  1. Compute H_i for every i and T = x·H_π.
//  2. D = SHA-512(prefix) (the prefix above, alone). For every i,
//     r_i = Hs("lic/v1/nonce", x ‖ Z ‖ D ‖ u32(i)), x as its 32-byte encoding.
//     The nonce is α = r_π; the decoy responses are s_i = r_i for i ≠ π.
//     The nonce is hedged: it stays secret if Z is predictable or repeated,
//     as long as x is secret, and differs between two proofs over the same
//     inputs if Z does.
//  3. L_π = α·G, R_π = α·H_π, and c_{π+1} from them.
//  4. For i = π+1, π+2, …, π−1 (mod n): L_i = s_i·G + c_i·P_i,
//     R_i = s_i·H_i + c_i·T, and c_{i+1} from them.
//  5. s_π = α − c_π·x mod l.
//
// The proof is (T, c_0, s_0, …, s_{n-1}). Given the same Z, signing is
// deterministic; testdata/vectors.json holds vectors.
//
// # Verifying
//
// Refuse unless: 1 ≤ n ≤ 1024, the proof has n responses, every ring key is
// canonical, not the identity and distinct from the others, T is not the
// identity, and 1 ≤ len(s) ≤ 255. Then, with c = c_0, for i = 0 … n−1:
//
//	L_i = s_i·G + c·P_i
//	R_i = s_i·H_i + c·T
//	c   = Scalar.SetUniformBytes(SHA-512(prefix ‖ enc(L_i) ‖ enc(R_i)))
//
// and accept if and only if c = c_0 at the end.
//
// # Proof encoding
//
// A proof over a ring of n members is exactly 64 + 32·n bytes ([ProofSize]):
//
//	offset        size  field
//	0             32    enc(T): canonical ristretto255 encoding, not the identity (not 32 zero bytes)
//	32            32    c_0: scalar, little-endian, < l
//	64 + 32·i     32    s_i for i = 0 … n−1: scalar, little-endian, < l
//
// The ring size is not encoded: it comes with the ring (the list of ledger
// indices the proof is sent with). [ParseProof] accepts only this canonical
// form and refuses every other input, with a distinct error per defect:
// wrong length (ErrProofLength), a scalar ≥ l (ErrProofScalar), a tag that
// is not a canonical encoding (ErrProofTag), the identity tag
// (ErrIdentityTag). Re-encoding a parsed proof gives back the input bytes.
// A relay that enforces "one use per (scope, counter)" records enc(T)
// ([Proof.TagBytes]) per scope.
//
// # Verifier policy
//
// [Verifier.Verify] takes the ring as ledger indices, resolves them through
// [Members], one lookup per member, and stops at the first failure among
// these checks: first the ring as a whole (size, proof size, scope,
// distinct indices), then each member in ring order (known, valid at now,
// active, same plan as member 0), then each member's key decodes, then
// distinct keys, the tag and the signature. It is [Verifier.Resolve] (the
// ring and its members) then [Verifier.VerifyRing] (keys and signature),
// which a caller can also call in turn, to check what depends on the ring's
// plan in between (an admission service checks the counter against the
// plan's quota) without resolving the ring twice. A failure due to one
// member is a *[MemberError], which gives its ring position and ledger
// index.
//
//	code                   error                  refused because
//	ring_size_bounds       ErrRingBounds          n outside [MinRingSize, MaxRingSize] (default 16..16; bounds within 11..1024)
//	ring_size              ErrRingSize            proof does not have n responses
//	scope                  ErrScope               scope empty or longer than 255 bytes
//	ring_duplicate_member  ErrDuplicateMember     a ledger index appears twice
//	member_unknown         ErrUnknownMember       no license at an index (from Members)
//	member_not_yet_valid   ErrMemberNotYetValid   now < NotBefore
//	member_expired         ErrMemberExpired       now ≥ NotAfter
//	member_suspended       ErrMemberSuspended     license suspended
//	member_revoked         ErrMemberRevoked       license revoked
//	ring_mixed_plans       ErrMixedPlans          a member's plan differs from member 0's
//	member_key             ErrMemberKey           key not canonical, or the identity
//	ring_duplicate_key     ErrDuplicateKey        two indices hold the same key
//	proof_identity_tag     ErrIdentityTag         T is the identity
//	signature              ErrBadSignature        the equations above fail
//
// Other codes: proof_length, proof_scalar, proof_tag (ParseProof),
// ring_key (Sign, Verify: a missing or identity key), signer (Sign: x does
// not match P_π), malformed (a Proof with nil fields). Errors are *[Error]
// values with a stable Code; [Code] extracts it, errors.Is matches it. An
// error for which Code returns "" is internal (from Members or the random
// source) and not the client's fault.
//
// # Constant time
//
// Secret inputs exist only in [Sign]: x, π and the nonces. Sign computes
// with constant-time operations only: scalar arithmetic (fiat-crypto),
// ScalarBaseMult, ScalarMult and MultiScalarMult, and runs the same
// operations at every ring step, including the signer's (as s = α, c = 0),
// so its running time depends on neither x nor π. What it cannot hide is
// the order in which it visits ring positions (the challenge chain starts at
// π+1): an attacker who can observe the memory access pattern of the
// signing process, such as another process sharing its CPU cache, may learn
// π. Sign with a secret key only on a machine you trust.
//
// Everything else handles public data and runs in variable time: [Verify],
// [Verifier.Verify], [ParseProof], [TagBase]. The verification loop uses
// ristretto255's VarTimeDoubleScalarBaseMult for s·G + c·P and a
// variable-time, allocation-free two-point multiplication for s·H + c·T
// (varTimeDoubleMult, in vartime.go: the formulas of filippo.io/edwards25519
// on its public field package, with T's lookup table built once per proof).
// It reads the edwards25519.Point inside a ristretto255.Element, a layout
// checked at start-up; if the check ever fails it falls back to
// VarTimeMultiScalarMult, which allocates 3.1 KiB per member and makes Verify
// 3% to 4% slower (BenchmarkVerifyCastVsPublic; see vartime.go).
//
// # Cost
//
// Verifying costs, per ring member, one double-base scalar multiplication,
// one two-point multiplication, two encodings and one SHA-512 step of 64
// bytes; without the Verifier's cache, also one hash-to-group, and one key
// encoding (Verify) or decoding (Verifier). The Verifier
// caches decoded keys and tag bases per (scope, counter, key), so in steady
// state it costs at or below BenchmarkFloor per member, and its allocations
// do not grow with the ring size (TestVerifyAllocs).
package ringverify
