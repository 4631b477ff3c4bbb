package wallet

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"
)

// FuzzOpen feeds arbitrary files to Open. The Argon2id parameters are clamped
// to cheap values in the input (the decoder refuses large ones anyway, but a
// valid 1 GiB derivation per input would stall the fuzzer); every accepted
// file must re-seal and open to the same contents.
func FuzzOpen(f *testing.F) {
	k, err := DeriveKey([]byte("pass"), cheap)
	if err != nil {
		f.Fatal(err)
	}
	good, err := k.Seal(sample(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, []byte("pass"))
	f.Add(good[:HeaderSize], []byte("pass"))
	f.Add([]byte(Magic), []byte("pass"))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, b, pass []byte) {
		if len(b) >= 18 {
			// Keep the derivation cheap: at most 2 passes over 256 KiB.
			b = bytes.Clone(b)
			binary.BigEndian.PutUint32(b[9:], binary.BigEndian.Uint32(b[9:])%2+1)
			binary.BigEndian.PutUint32(b[13:], binary.BigEndian.Uint32(b[13:])%(256-8)+8)
			b[17] = 1
		}
		c, k, err := Open(b, pass)
		if err != nil {
			if c != nil || k != nil {
				t.Fatal("results with an error")
			}
			return
		}
		again, err := k.Seal(c)
		if err != nil {
			t.Fatalf("accepted contents do not re-seal: %v", err)
		}
		c2, _, err := Open(again, pass)
		if err != nil {
			t.Fatal(err)
		}
		j1, _ := json.Marshal(c)
		j2, _ := json.Marshal(c2)
		if !bytes.Equal(j1, j2) {
			t.Fatal("contents changed across a round trip")
		}
	})
}

// FuzzDecodeContents feeds arbitrary plaintexts to the contents decoder:
// whatever it accepts must satisfy the invariants Seal checks.
func FuzzDecodeContents(f *testing.F) {
	good, _ := json.Marshal(sample(f))
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"seed":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","ledger":{"size":1,"scanned":2}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeContents(b)
		if err != nil {
			return
		}
		if err := c.validate(); err != nil {
			t.Fatalf("accepted invalid contents: %v", err)
		}
		if _, err := c.Account(); err != nil {
			t.Fatalf("accepted a seed that makes no account: %v", err)
		}
	})
}
