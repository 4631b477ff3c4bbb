// Package ringverify owns the ring signature scheme of the license network:
// scoped, counted, linkable ring signatures (bLSAG over ristretto255), their
// canonical encodings, and the Verifier that checks a proof against the set of
// valid licenses. It is pure: no I/O, no SQL, no logging.
package ringverify
