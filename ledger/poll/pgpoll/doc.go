// Package pgpoll keeps polls in Postgres and takes their ballots: the
// server side of package ledger/poll (migration 013_polls.sql).
//
// Use New with the database, the ledger's note signer (each poll's log is
// signed with the ledger key, under the origin poll.Origin) and the
// ledger's index of licenses. Create fixes a poll: its definition becomes
// leaf 0 of its log and its hash is published in the first checkpoint.
// Cast checks a ballot as admission checks a proof, cheapest first — its
// shape (poll.DecodeRequest, by the caller), the poll open, the ring size,
// the members known in the ledger the index holds, eligible (plan, valid at
// the poll's opening, active now), the signature — then appends it under
// the poll's row lock: a tag already in the log is refused with
// already_voted (never a replacement), otherwise the leaf, its stored
// hashes and a new signed checkpoint are written in one transaction.
//
// Privacy: nothing about the voter is stored or logged. A ballot row is its
// public leaf plus copies of its tag and option; there is no time of
// arrival. The package logs nothing.
package pgpoll
