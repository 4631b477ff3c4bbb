package tagfilter

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
)

// Sizes and parameters of version 1.
const (
	Magic   = "lictagf"
	Version = 1
	// K is the number of bit positions per key.
	K = 8
	// BitsPerKey is the size of the bit array per key inserted.
	BitsPerKey = 12
	// TagSize is the size of a tag (a ristretto255 element).
	TagSize = 32
	// MaxScopeSize is the longest scope (ringverify.MaxScopeSize).
	MaxScopeSize = 255
	// MaxKeys bounds the keys of one filter (about 96 MiB of bits).
	MaxKeys = 1 << 26
	// Label is the hash label of a key's digest.
	Label = "lic/v1/tagfilter"
)

// Key is one admitted use: the counter and the tag of a ring proof.
type Key struct {
	Counter uint32
	Tag     [TagSize]byte
}

// Filter is a parsed or built filter. It is immutable and safe for
// concurrent use.
type Filter struct {
	scope string
	n     uint64
	bits  []byte
}

// ErrFormat is returned by Parse for anything that is not a version 1
// filter as Build makes it.
var ErrFormat = errors.New("tagfilter: not a valid tag filter")

// BitsSize is the size in bytes of the bit array of a filter of n keys.
func BitsSize(n uint64) uint64 { return max(8, (n*BitsPerKey+7)/8) }

// headerSize is the size of everything before the bits.
func headerSize(scope string) int { return len(Magic) + 1 + 1 + 1 + len(scope) + 8 + 4 }

// Build returns the filter of scope holding keys. Repeated keys are counted
// in n as given (the server's keys are distinct).
func Build(scope string, keys []Key) (*Filter, error) {
	if len(scope) == 0 || len(scope) > MaxScopeSize {
		return nil, fmt.Errorf("tagfilter: scope must be 1 to %d bytes", MaxScopeSize)
	}
	if uint64(len(keys)) > MaxKeys {
		return nil, fmt.Errorf("tagfilter: %d keys, more than %d", len(keys), MaxKeys)
	}
	f := &Filter{scope: scope, n: uint64(len(keys)), bits: make([]byte, BitsSize(uint64(len(keys))))}
	m := uint64(len(f.bits)) * 8
	for _, k := range keys {
		h1, h2 := digest(scope, k.Counter, k.Tag[:])
		for i := uint64(0); i < K; i++ {
			b := (h1 + i*h2) % m
			f.bits[b/8] |= 1 << (b % 8)
		}
	}
	return f, nil
}

// digest returns h1 and h2 of a key.
func digest(scope string, counter uint32, tag []byte) (h1, h2 uint64) {
	h := sha256.New()
	var pre [len(Label) + 1 + MaxScopeSize]byte
	b := append(pre[:0], Label...)
	b = append(b, byte(len(scope)))
	b = append(b, scope...)
	h.Write(b)
	var c [4]byte
	binary.BigEndian.PutUint32(c[:], counter)
	h.Write(c[:])
	h.Write(tag)
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return binary.BigEndian.Uint64(d[0:8]), binary.BigEndian.Uint64(d[8:16]) | 1
}

// Contains reports whether the key (counter, tag) may be in the filter:
// false means it certainly is not. A tag of another size is never in it.
func (f *Filter) Contains(counter uint32, tag []byte) bool {
	if len(tag) != TagSize {
		return false
	}
	h1, h2 := digest(f.scope, counter, tag)
	m := uint64(len(f.bits)) * 8
	for i := uint64(0); i < K; i++ {
		b := (h1 + i*h2) % m
		if f.bits[b/8]&(1<<(b%8)) == 0 {
			return false
		}
	}
	return true
}

// Scope returns the scope of the filter.
func (f *Filter) Scope() string { return f.scope }

// Len returns the number of keys inserted.
func (f *Filter) Len() uint64 { return f.n }

// Bytes returns the encoding of the filter (a new slice).
func (f *Filter) Bytes() []byte {
	b := make([]byte, 0, headerSize(f.scope)+len(f.bits))
	b = append(b, Magic...)
	b = append(b, Version, K, byte(len(f.scope)))
	b = append(b, f.scope...)
	b = binary.BigEndian.AppendUint64(b, f.n)
	b = binary.BigEndian.AppendUint32(b, uint32(len(f.bits)))
	return append(b, f.bits...)
}

// Parse decodes a filter. It accepts exactly what Bytes produces for some
// Build: the version 1 layout, k = 8, the sizing of n keys, nothing after
// the bits, and at most k·n bits set.
func Parse(b []byte) (*Filter, error) {
	if len(b) < len(Magic)+3 || string(b[:len(Magic)]) != Magic || b[7] != Version || b[8] != K {
		return nil, ErrFormat
	}
	sl := int(b[9])
	if sl == 0 || len(b) < 10+sl+12 {
		return nil, ErrFormat
	}
	scope := string(b[10 : 10+sl])
	rest := b[10+sl:]
	n := binary.BigEndian.Uint64(rest)
	size := uint64(binary.BigEndian.Uint32(rest[8:]))
	rest = rest[12:]
	if n > MaxKeys || size != BitsSize(n) || uint64(len(rest)) != size {
		return nil, ErrFormat
	}
	set := 0
	for _, v := range rest {
		set += bits.OnesCount8(v)
	}
	if uint64(set) > n*K {
		return nil, ErrFormat
	}
	return &Filter{scope: scope, n: n, bits: append([]byte(nil), rest...)}, nil
}
