// Package tagfilter is the public filter of the tags admitted in one scope:
// a Bloom filter that the server publishes (GET /v1/tags/filter?scope=S) and
// that the license tool reads before proving, so that an account restored
// from its seed phrase, from an older account file or on another device
// skips the counters it already used, without telling the server which
// license it holds. Every client fetches the same bytes for a scope; the
// filter reveals no more than the tags themselves, which every relay sees.
//
// Use Build on the server over the (counter, tag) pairs recorded in a scope,
// Filter.Bytes to serve it, Parse on the client and Filter.Contains to ask
// about one of its own tags. The package is pure: no I/O.
//
// A false positive only makes a client skip a counter it could have used:
// at the fixed sizing below, about 0.3% of queries against a filter built
// from its own tags (the filter can never say "absent" for a tag it holds).
// Parse refuses a filter whose size does not follow the sizing or that has
// more bits set than its tags can set, so a server cannot publish a filter
// that claims few tags and answers "present" to almost everything: the
// false positive rate of any accepted filter is at most (2/3)^8 ≈ 3.9%.
//
// # Byte format, version 1
//
// Integers are big-endian.
//
//	offset  size  field
//	0       7     magic "lictagf"
//	7       1     format version, 0x01
//	8       1     k, the number of bit positions per key: 8 in version 1
//	9       1     len(scope), 1 to 255
//	10      s     scope, the bytes of the scope string ("<network>/<YYYY-MM-DD>")
//	10+s    8     n, the number of keys inserted
//	18+s    4     len(bits) in bytes: max(8, ⌈12·n/8⌉), that is 12 bits per key
//	22+s    m/8   bits: bit b (0 ≤ b < m = 8·len(bits)) is bit b mod 8, counted
//	              from the least significant, of byte ⌊b/8⌋
//
// Nothing may follow the bits. A filter holds at most MaxKeys keys.
//
// # Keys and bit positions
//
// A key is the pair (counter j, tag T) that admission records: the
// ringverify counter and the 32-byte tag of a ring proof. Its digest is
//
//	d = SHA-256("lic/v1/tagfilter" ‖ u8(len(s)) ‖ s ‖ u32(j) ‖ T)
//
// and its k bit positions are, with h1 = u64(d[0:8]), h2 = u64(d[8:16]) | 1
// and arithmetic modulo 2^64 (Kirsch–Mitzenmacher double hashing),
//
//	b_i = (h1 + i·h2) mod m,  i = 0 … k−1.
//
// Build sets every position of every key; Contains reports whether every
// position of a key is set. The scope is hashed in so that a filter answers
// only about its own scope, and Parse returns it so a client checks it got
// the scope it asked for.
//
// The vectors in testdata/vectors.json (TestVectors; regenerate with
// go test -run TestVectors -update) give the bytes of filters built from
// listed keys and the answers to queries, present and absent.
package tagfilter
