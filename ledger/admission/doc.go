// Package admission is the relay admission service: it decides whether a data
// block carrying a ring proof may enter the network, and records the proof's
// tag so that each license makes at most its daily quota of admissions per
// scope. Use New with a Licenses (the ledger's index of valid licenses, or a
// relay's mirror of it), a TagStore (Postgres, or memory for a single relay)
// and a Config; call Admit for one request and AdmitBatch for many. Package
// web serves it as POST /v1/admit and POST /v1/admit/batch; package
// ledger/relay runs the same checks locally on a relay.
//
// # Wire format
//
// A request is the JSON object decoded by DecodeRequest (binary fields are
// standard base64 with padding, as encoding/json writes []byte):
//
//	{"scope": "<network>/<YYYY-MM-DD>", "counter": 0, "message": "<1..1024 bytes>",
//	 "ring": [12, 40, 7], "tag": "<32 bytes>", "signature": "<32 + 32·n bytes>",
//	 "pow": {"timestamp": 1763776000, "nonce": "<8 bytes>"}}
//
// The proof is ringverify.ParseProof(tag ‖ signature, len(ring)); the signed
// message is the raw message bytes.
//
// # Order of the checks
//
// Admit stops at the first failure and answers its code; the order is fixed,
// so the same request always fails the same way:
//
//  1. Shape (malformed, proof_length, proof_scalar, proof_tag,
//     proof_identity_tag): fields present with their sizes, message 1 to
//     1024 bytes, the proof decodes canonically for the ring's size.
//  2. Scope (scope_not_current): exactly "<network>/<day>" for today's UTC
//     day, or yesterday's within ClockSkew after midnight, or tomorrow's
//     within ClockSkew before midnight.
//  3. Ring members, resolved before anything that needs the plan
//     (ring_size_bounds, ring_duplicate_member, member_unknown,
//     member_not_yet_valid, member_expired, member_suspended, member_revoked,
//     ring_mixed_plans): size within the configured bounds, indices
//     distinct, then each member in ring order known, valid now, active and
//     of member 0's plan.
//  4. Counter (counter_over_quota, plan_unknown): counter < the daily quota
//     of the ring's plan.
//  5. Signature (bad_signature, member_key, ring_duplicate_key): the
//     ringverify.Verifier check over the resolved ring.
//  6. Proof of work, when configured (pow_required, pow_stale, pow_invalid).
//  7. The tag (tag_used, 409): the first (scope, counter, tag) recorded wins
//     across every server process; the same tag with the same message again
//     is the same success (retries are safe), with another message it is
//     refused.
//
// Members are resolved before the quota because the quota belongs to the plan
// and the plan is known only from the ring. Each is looked up once: step 3
// is ringverify.Verifier.Resolve, and step 5 is Verifier.VerifyRing over the
// members step 3 resolved. A refusal about one member says its ring position
// and ledger index.
//
// # Proof of work
//
// With PoWDifficulty D > 0 every request carries {timestamp, nonce} such that
//
//	SHA-256("lic/v1/pow" ‖ u16be(len(message)) ‖ message ‖ tag ‖ u64be(timestamp) ‖ nonce)
//
// has at least D leading zero bits, with the 8-byte nonce and the timestamp
// (Unix seconds) within PoWWindow of the server's clock. With FreeDifficulty
// D_free > 0 the free tier is on: a request without ring, tag and signature
// (counter 0) but with a proof of work at D_free (tag empty in the hash) is
// admitted as plan "free" until the end of its scope's day; its (scope,
// message) is recorded, so replaying it admits nothing new.
//
// # The valid list
//
// Valid (GET /v1/licenses/valid) lists the licenses of a plan valid on the
// current UTC day, neither revoked nor suspended, sorted: the set clients
// draw decoys from, uniformly. It is the same for every client at any one
// time (package web keeps each answer for 10 s; clients may cache it 60 s),
// but not all day: licenses minted today appear as they are sequenced, and
// revocations and suspensions remove members. A ring drawn from a later
// list may therefore hint at when its list was fetched. A day-long snapshot
// would close that, but would leave today's new licenses out of the list,
// so their owners' rings would stand out until midnight; it is not done.
//
// # Answers
//
// Success is {"admitted": true, "plan": P, "valid_until": T} where T is the
// earliest expiry among the ring's members (public data: anyone holding the
// ring can compute it, so it reveals nothing about the signer). A refusal is
// an *Error with a stable Code. Nothing about a proof is logged except its
// outcome code: not the ring, not the tag, not the message.
package admission
