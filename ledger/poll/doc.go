// Package poll is the format of the license network's polls: one anonymous
// vote per license, tallied in public. It is pure (no I/O, no SQL); package
// pgpoll stores polls and checks ballots on the server, and `license vote`
// and `license poll verify` use it on the client.
//
// A poll is a question, its options, the plans whose licenses may vote, a
// voting period [opens, closes) in UTC, its electorate (a number of ledger
// entries fixed when the poll is made: licenses minted later do not vote),
// whether the tally is hidden until the close, and the smallest ring a
// ballot may use. A ballot is a ring proof (package ringverify) in scope
// "poll/<id>" at counter 0, so one license has exactly one tag per poll: a second ballot by the same license has the
// same tag and is refused, and the tag is unrelated to every other proof the
// license makes (another scope gives an unrelated tag). The message binds
// the poll and the option. Each poll has its own append-only log, a C2SP
// transparency log: leaf 0 is the poll's definition, leaves 1, 2, … its
// ballots in the order the server accepted them.
//
// This documentation is the specification: byte layouts, labels and
// equations below are enough to recount a poll; testdata/vectors.json holds
// vectors (TestVectors checks them, -update rewrites them).
//
// # Notation
//
// u8, u16, u64 are big-endian unsigned integers of 1, 2 and 8 bytes; ‖ is
// concatenation; text is UTF-8 without a terminator.
//
// # Poll definition (leaf 0)
//
//	u8   0x50                 kind 'P': poll definition, version 1
//	u8   len(id) ‖ id         1..63 bytes of a-z 0-9 '-', not starting with '-'
//	u16  len(q) ‖ q           the question, 1..1000 bytes
//	u8   n                    2..64 options, then per option:
//	     u16 len(o) ‖ o       1..200 bytes, distinct
//	u8   m                    1..16 eligible plans, then per plan:
//	     u8 len(p) ‖ p        1..64 bytes, in strictly increasing byte order
//	u64  opens                Unix seconds, UTC
//	u64  closes               Unix seconds, > opens
//	u64  electorate           ledger entries, 1..2^62: voters are licenses below it
//	u8   flags                bit 0: the tally is hidden until closes; others 0
//	u16  min_ring             11..1024
//
// Texts have no leading or trailing white space and no NUL. ParseDefinition
// accepts exactly this, nothing else (FuzzParseDefinition). The poll hash is
//
//	poll_hash = SHA-256("lic/v1/poll" ‖ definition)
//
// # Ballots (leaves 1 …)
//
// A voter holding license x (key P = x·G on the ledger) picks a ring of n ≥
// min_ring distinct ledger indices below electorate of licenses of one
// eligible plan valid at opens, including their own, and signs with
// ringverify.Sign:
//
//	scope   = "poll/" ‖ id
//	counter = 0
//	message = SHA-256("lic/v1/ballot" ‖ poll_hash ‖ u8(option))
//
// The server records the ballot as the leaf
//
//	u8   0x42                 kind 'B': ballot, version 1
//	32   poll_hash
//	u8   option               0 ≤ option < n options
//	u64  ledger_size          the ledger entries the server checked against
//	u16  n                    ring size, 1..1024
//	n×u64 ring                ledger indices, in the signer's order
//	64+32n proof              T ‖ c_0 ‖ s_0 … s_{n-1} (ringverify's encoding)
//
// A ballot counts if and only if (CheckBallot, Recount):
//
//   - its poll_hash is the poll's and its option one of the poll's;
//   - n ≥ min_ring and the proof is canonical;
//   - every member is a license in the ledger's first min(electorate,
//     ledger_size) entries, distinct, of one plan, that plan eligible, valid at opens
//     (not_before ≤ opens < not_after), and not revoked by a revoke entry
//     among those ledger_size entries;
//   - the ring signature verifies (ringverify's equations) over the scope,
//     counter 0 and the message above;
//   - its tag T appears in no earlier leaf.
//
// The server checks the same when the ballot arrives, within the voting
// period; it also bounds the ring's size from above (a server's policy on
// a ballot's cost, which a recount does not apply) and refuses members
// suspended at that moment (suspensions are not on the ledger: a recount
// cannot see them). A license revoked after its ballot was accepted still
// counts: its ballot's ledger_size is before the revocation. An
// Electorate reads the ledger for a recount and answers for the prefix of
// each ballot's ledger_size.
//
// # The log
//
// RFC 6962 hashing via golang.org/x/mod/sumdb/tlog: leaf hashes are
// tlog.RecordHash(leaf). Its checkpoints are C2SP tlog-checkpoint notes
//
//	<origin>\n<size>\n<base64 root>\n
//
// with origin = "<key name>/poll/<id>", signed (x/mod/sumdb/note, Ed25519)
// with the ledger's key: the origin differs from the ledger's, so a poll
// checkpoint is never taken for a ledger checkpoint. Every page of the
// ballot listing comes with the latest checkpoint and each leaf's inclusion
// proof in it (Page); a recount downloads every leaf, recomputes the root
// and compares it with the signed checkpoint.
//
// # Hidden tallies
//
// While a hidden tally is hidden, the listing gives each leaf's hash and tag
// but not the leaf itself, and GET /v1/polls/{id} gives no counts: the
// server sees every option and is trusted not to publish it early. After
// the close everything is public.
//
// # Labels
//
//	| label | data | output |
//	|---|---|---|
//	| lic/v1/poll | definition | SHA-256: the poll hash |
//	| lic/v1/ballot | poll_hash ‖ u8(option) | SHA-256: the message a ballot signs |
//
// Both are in package ringverify's table of every label of the module.
//
// # Errors
//
// Errors a client can fix are *Error with a stable Code: malformed,
// bad_poll, wrong_poll, bad_option, ring_too_small, ring_too_large (a
// server's bound, see package pgpoll), not_in_electorate,
// plan_not_eligible,
// poll_not_open, poll_closed, already_voted (a second ballot with a tag
// already in the log: refused, never a replacement), ledger_size; ring
// errors keep ringverify's codes (member_expired, signature, …).
package poll
