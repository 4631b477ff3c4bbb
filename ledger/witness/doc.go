// Package witness holds the formats of transparency-log witnessing, as the
// license ledger speaks them: C2SP tlog-cosignature (Ed25519 cosignature/v1),
// the request and answers of C2SP tlog-witness's add-checkpoint, and C2SP
// tlog-policy files (which witnesses a client trusts, and how many of them
// must cosign). It does no I/O: the log's side (submitting checkpoints,
// storing cosignatures) is package ledger/cosigning, the client's side is
// package ledger/tlogclient.
//
// # Use it
//
//	p, err := witness.ParsePolicy(policyFile)      // C2SP tlog-policy
//	names, err := p.Check(signedCheckpoint)        // after the log's own signature was checked
//	// err is a *QuorumError when too few known witnesses cosigned
//
// # Cosignatures (c2sp.org/tlog-cosignature, Ed25519 only)
//
// A witness's key is a C2SP vkey
//
//	<name>+<key ID, 8 hex digits>+base64(0x04 ‖ 32-byte Ed25519 public key)
//
// where the key ID is the first four bytes of SHA-256(name ‖ "\n" ‖ 0x04 ‖
// public key). A cosignature is a signed-note signature line
//
//	— <name> base64(key ID (4 bytes) ‖ timestamp (8 bytes, big endian) ‖ Ed25519 signature (64 bytes))
//
// and the Ed25519 signature is over the message
//
//	cosignature/v1\n
//	time <timestamp in decimal, no leading zeros>\n
//	<the checkpoint's note text: origin, size, root and extension lines, each ending in \n>
//
// The timestamp is the POSIX time of signing; it must be below 2^63.
// Verifier is a golang.org/x/mod/sumdb/note Verifier for such keys, so a
// cosigned checkpoint is an ordinary signed note with several signatures.
// ML-DSA-44 cosignatures (type 0x06) are not supported: a policy that
// names such a key is refused when parsed.
//
// # add-checkpoint (c2sp.org/tlog-witness)
//
// The request body (AddCheckpoint) is
//
//	old <size the witness last cosigned>\n
//	<base64 hash>\n                 (zero to 63 lines: the RFC 6962 consistency proof)
//	\n
//	<signed checkpoint note>
//
// and the answers a log must understand are 200 with one or more
// cosignature lines (ParseCosignatures), 409 Conflict with the witness's
// size as "<decimal>\n" and Content-Type text/x.tlog.size (ParseConflict),
// 422 when the proof does not verify (the witness has seen another history
// of the log: a split view, or a rewritten log), 403 when the checkpoint is
// not signed by a key the witness trusts for the origin (older witnesses
// also answer 403 for an unknown origin) and 404 for an unknown origin.
//
// # Policies (c2sp.org/tlog-policy)
//
// A policy file is lines of
//
//	log <vkey> [<url>]
//	witness <name> <vkey> [<url>]
//	group <name> <k>|all|any <member>...
//	quorum <name>|none
//
// with # comments and blank lines, names defined before they are used, and
// exactly one quorum line. A checkpoint satisfies the policy when the
// cosignatures of the known witnesses satisfy the quorum (a group is
// satisfied when at least k of its members are). Log lines, if any, list the
// log keys the policy accepts; the ledger's clients pin the log's key
// separately and refuse a policy that lists logs but not theirs. The
// license server reads the same format for its witnesses (--witnesses-file):
// the witnesses with a URL are the ones it submits to, and the quorum is the
// one a checkpoint must reach before it is served.
package witness
