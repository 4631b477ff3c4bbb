package admission

import (
	"bytes"
	"testing"

	"github.com/licensed/licensed/ringverify"
)

// FuzzDecodeProof: a stored registration proof decodes into a request of
// the documented sizes or is refused, never panics, and what decodes
// encodes back to the same bytes.
func FuzzDecodeProof(f *testing.F) {
	r := &Request{Message: []byte("block"), Ring: make([]uint64, 11), Signature: make([]byte, ringverify.ProofSize(11)-TagSize)}
	for i := range r.Ring {
		r.Ring[i] = uint64(i) * 1000003
	}
	f.Add(EncodeProof(r))
	f.Add([]byte{})
	f.Add([]byte{0, 1, 7, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		u := Use{Scope: "net/2026-12-04", Counter: 2}
		got, err := DecodeProof(u, b)
		if err != nil {
			if Code(err) != "malformed" {
				t.Fatalf("error without the malformed code: %v", err)
			}
			return
		}
		if len(got.Message) == 0 || len(got.Message) > MaxMessageSize || len(got.Signature) != ringverify.ProofSize(len(got.Ring))-TagSize {
			t.Fatalf("decoded sizes out of bounds: message %d, ring %d, signature %d", len(got.Message), len(got.Ring), len(got.Signature))
		}
		if !bytes.Equal(EncodeProof(got), b) {
			t.Fatal("decode then encode changed the bytes")
		}
		if got.Scope != u.Scope || got.Counter != u.Counter || len(got.Tag) != TagSize {
			t.Fatal("the key's fields were not taken from the use")
		}
	})
}

// FuzzDecodeRegistrations: the registration batch decoder never panics,
// and what it accepts holds at most MaxRegistrations entries.
func FuzzDecodeRegistrations(f *testing.F) {
	f.Add([]byte(`{"registrations": [{"scope": "a/2026-12-04"}]}`))
	f.Add([]byte(`{"registrations": null}`))
	f.Add([]byte(`{"proofs": []}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		raws, err := DecodeRegistrations(b)
		if err != nil {
			if c := Code(err); c != "malformed" && c != "batch_too_large" {
				t.Fatalf("error code %q", c)
			}
			return
		}
		if raws == nil || len(raws) > MaxRegistrations {
			t.Fatalf("accepted %d registrations", len(raws))
		}
	})
}
