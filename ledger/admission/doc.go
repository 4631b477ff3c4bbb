// Package admission is the relay admission service: it decides whether a data
// block carrying a ring proof may enter the network, and records the proof's
// tag so that each license makes at most its daily quota of admissions per
// scope. Use New with a Licenses (the ledger's index of valid licenses, or a
// relay's mirror of it), a TagStore (package pgadmission, or memory for a relay)
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
// Admit stops at the first failure and answers its code. The checks run
// cheapest first, so that a request which fails costs the server no more
// than it must: everything before step 5 is arithmetic on the request and a
// hash, step 5 costs a lookup per member (about 40 ns each), step 7 about a
// millisecond at ring 16. The order is fixed, so the same request always
// fails the same way:
//
//  1. Shape (malformed, proof_length, proof_scalar, proof_tag,
//     proof_identity_tag, free_disabled): fields present with their sizes,
//     message 1 to 1024 bytes, the proof decodes canonically for the ring's
//     size.
//  2. Scope (scope_not_current): exactly "<network>/<day>" for today's UTC
//     day, or yesterday's within ClockSkew after midnight, or tomorrow's
//     within ClockSkew before midnight.
//  3. Proof of work, when PoWDifficulty > 0, and always for the free tier
//     (pow_required, pow_stale, pow_invalid): one SHA-256, checked before
//     anything that costs a lookup or a verification. It is what rations
//     verification: a forged proof without the work is refused here, having
//     cost the server a hash.
//  4. Ring size and distinct indices (ring_size_bounds,
//     ring_duplicate_member): no lookup yet.
//  5. Ring members (member_unknown, member_not_yet_valid, member_expired,
//     member_suspended, member_revoked, ring_mixed_plans): each member in
//     ring order known, valid now, active and of member 0's plan.
//  6. Counter (counter_over_quota, plan_unknown): counter < the daily quota
//     of the ring's plan.
//  7. Signature (bad_signature, member_key, ring_duplicate_key): the
//     ringverify.Verifier check over the resolved ring, the one costly step
//     (Service.Verifications counts them).
//  8. The tag (tag_used, 409): the first (scope, counter, tag) recorded wins
//     across every server process; the same tag with the same message again
//     is the same success (retries are safe), with another message it is
//     refused.
//
// Members are resolved before the quota because the quota belongs to the plan
// and the plan is known only from the ring. Each is looked up once: steps 4
// and 5 are ringverify.Verifier.Resolve, and step 7 is Verifier.VerifyRing
// over the members step 5 resolved. A refusal about one member says its ring
// position and ledger index.
//
// An earlier version checked the proof of work after the signature, so a
// forged proof without work cost the server a full verification (1.5 ms at
// ring 16) against 2 µs to make.
//
// What a client may spend (requests per second, proofs in flight) is not
// this package's: package web limits each client by cost, one token per
// proof, before calling Admit.
//
// # Sharing the cores
//
// At most Config.Workers requests are checked at once (more would only
// interleave on the same cores). The rest wait, and a free core goes to
// them by start-time fair queuing between clients, not in arrival order:
// a client's requests are numbered on from its previous one still waiting,
// or from the request served last if it has none waiting, and the smallest
// number is served first. A client that keeps the cores busy therefore
// waits behind its own requests, while one that sends now and then waits
// for at most one request per other busy client. The caller names the
// client with WithClient (package web: the relay key's name, or an HMAC of
// the address, IPv6 by its /64); unnamed requests are one known client.
//
// Anonymous clients together hold at most Workers − 1 cores (at least
// one); known ones (relay keys, unnamed callers) may hold them all. When
// every Go processor runs a verification, the scheduler looks for network
// readiness only from its monitor thread, every 10 ms, so every request in
// the process would wait behind verifications handed from one to the next:
// a flood of anonymous requests must not be able to do that to the others.
//
// # Proof of work
//
// With PoWDifficulty D > 0 every request carries {timestamp, nonce} such that
//
//	SHA-256("lic/v1/pow" ‖ u8(len(scope)) ‖ scope ‖ u16be(len(message)) ‖ message ‖
//	        tag ‖ u64be(timestamp) ‖ nonce)
//
// has at least D leading zero bits (counted from the first byte's most
// significant bit), with the 8-byte nonce and the timestamp (Unix seconds)
// within PoWWindow of the server's clock. The scope is the request's scope
// string as sent, so the work binds the network and the day: work done for
// one scope proves nothing in another, not even in the neighbouring day
// accepted around midnight. For example, scope "test/2026-11-22", message
// "block", tag 32 bytes of 0x07, timestamp 1763801600 and nonce
// 01 02 03 04 05 06 07 08 hash to
// 0d4be261fb9cece99fe3bc93e304f1ad16fb96eab274ac26b762b12c5656b9f0 (see
// TestPoWHashInput). With FreeDifficulty D_free > 0 the free tier is on: a
// request without ring, tag and signature (counter 0) but with a proof of
// work at D_free (tag empty in the hash) is admitted as plan "free" until
// the end of its scope's day; its (scope, message) is recorded, so
// replaying it admits nothing new.
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
// # The tag registry
//
// A relay that verifies proofs itself (package ledger/relay) keeps the
// network's quota by registering each tag it admits with the server
// (Service.Register, served as POST /v1/tags/register to relay keys). The
// registry's rules are step 8's: the first (scope, counter, tag) recorded
// wins across every relay and server process, the same message again is the
// same success, another message is refused (tag_used). What differs is the
// cost on the honest path: a registration is checked for shape, current
// scope, and ring size and distinct indices (no lookup, no verification),
// then written with its proof (EncodeProof: message, ring indices,
// signature; about 0.7 KiB at ring 16), all of a batch in one round trip.
//
// Nothing is verified unless a use conflicts with what its key holds: then
// the new use must pass every admission check (steps 4 to 7; a use Admit
// verified already has), and the held one, if nobody verified it yet, is
// verified too, as its signer made it: its signature over ring members of
// one plan whose validity overlaps the span its scope was current (the
// scope's day widened by the clock skew on both sides), whatever their
// state now. A held registration that verifies is marked verified, so it is
// never verified again, and the new use is refused tag_used; one that does
// not is replaced by the new use (a compare-and-swap on the row: of
// concurrent replacements one wins, the others see the winner). A use of
// the same message under another, unverified proof is verified too and the
// held use marked verified, so that a forged proof of an admitted message
// cannot lose to its owner's second message later. So a relay cannot burn
// another license's tag (a tag is unknown until its owner's proof is
// published, and a registration that races it with another message and no
// valid signature never wins), nor open a second use of one.
//
// The new use's verification is announced to Register's charge first
// (package web takes a token of the relay key's rate), so a relay sending
// forged conflicts pays for them; the held use's is the server's, so that
// a forger does not spend its victim's tokens. Each held registration is
// verified about once (several conflicts decided at the same moment may
// each verify it before one marks it verified).
//
// A registration naming a ledger index past this server's license index is
// refused index_behind (send it again in a second), so every stored
// registration names only licenses some server process knew when it was
// written; a conflict decided by a process whose index lags behind that
// (member_unknown past its index) is refused index_behind as well, never
// taken for a forgery.
//
// # Answers
//
// Success is {"admitted": true, "plan": P, "valid_until": T} where T is the
// earliest expiry among the ring's members (public data: anyone holding the
// ring can compute it, so it reveals nothing about the signer). A refusal is
// an *Error with a stable Code. Nothing about a proof is logged except its
// outcome code: not the ring, not the tag, not the message.
package admission
