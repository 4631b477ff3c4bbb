package admission

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// LabelPoW prefixes the proof-of-work hash.
const LabelPoW = "lic/v1/pow"

// MaxDifficulty bounds a configured difficulty, in leading zero bits.
const MaxDifficulty = 64

// PoWHash returns SHA-256("lic/v1/pow" ‖ u8(len(scope)) ‖ scope ‖
// u16be(len(msg)) ‖ msg ‖ tag ‖ u64be(timestamp) ‖ nonce). The scope
// ("<network>/<YYYY-MM-DD>") binds the work to one network and one day: a
// proof of work made for one scope is worth nothing in any other. tag is
// empty for the free tier. scope must be at most 255 bytes
// (ringverify.MaxScopeSize) and msg at most 65535 (requests hold at most
// MaxMessageSize).
func PoWHash(scope string, msg, tag []byte, timestamp int64, nonce []byte) [32]byte {
	h := sha256.New()
	var buf [8]byte
	h.Write([]byte(LabelPoW))
	buf[0] = byte(len(scope))
	h.Write(buf[:1])
	h.Write([]byte(scope))
	binary.BigEndian.PutUint16(buf[:2], uint16(len(msg)))
	h.Write(buf[:2])
	h.Write(msg)
	h.Write(tag)
	binary.BigEndian.PutUint64(buf[:], uint64(timestamp))
	h.Write(buf[:])
	h.Write(nonce)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// LeadingZeroBits counts the leading zero bits of h.
func LeadingZeroBits(h [32]byte) int {
	n := 0
	for i := 0; i < len(h); i += 8 {
		w := binary.BigEndian.Uint64(h[i:])
		if w != 0 {
			return n + bits.LeadingZeros64(w)
		}
		n += 64
	}
	return n
}

// SolvePoW searches the nonce, counting up from start, that gives scope, msg,
// tag and timestamp at least difficulty leading zero bits. It takes about
// 2^difficulty hashes, and stops with ctx's error when ctx ends. Clients call
// it; the server only checks.
func SolvePoW(ctx context.Context, scope string, msg, tag []byte, timestamp int64, difficulty int, start uint64) (*PoW, error) {
	nonce := make([]byte, NonceSize)
	for i, n := 0, start; ; i, n = i+1, n+1 {
		if i%(1<<16) == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		binary.BigEndian.PutUint64(nonce, n)
		if LeadingZeroBits(PoWHash(scope, msg, tag, timestamp, nonce)) >= difficulty {
			return &PoW{Timestamp: timestamp, Nonce: nonce}, nil
		}
	}
}
