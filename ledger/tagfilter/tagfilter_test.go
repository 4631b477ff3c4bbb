package tagfilter

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

// testKey is a deterministic key: the tag is SHA-256 of a label and i.
func testKey(counter uint32, i int) Key {
	return Key{Counter: counter, Tag: sha256.Sum256(fmt.Appendf(nil, "test tag %d", i))}
}

type vectorQuery struct {
	Counter uint32 `json:"counter"`
	Tag     string `json:"tag"`
	Present bool   `json:"present"`
}

type vector struct {
	Name    string        `json:"name"`
	Scope   string        `json:"scope"`
	Keys    []vectorQuery `json:"keys"`
	Filter  string        `json:"filter"`
	Queries []vectorQuery `json:"queries"`
}

func makeVectors() []vector {
	var out []vector
	for _, c := range []struct {
		name  string
		scope string
		n     int
	}{
		{"empty", "dev/2026-11-22", 0},
		{"one key", "dev/2026-11-22", 1},
		{"five keys", "main/2026-11-23", 5},
		{"forty keys", "main/2026-11-23", 40},
	} {
		var keys []Key
		v := vector{Name: c.name, Scope: c.scope}
		for i := range c.n {
			k := testKey(uint32(i%3), i)
			keys = append(keys, k)
			v.Keys = append(v.Keys, vectorQuery{Counter: k.Counter, Tag: hex.EncodeToString(k.Tag[:]), Present: true})
		}
		f, err := Build(c.scope, keys)
		if err != nil {
			panic(err)
		}
		v.Filter = hex.EncodeToString(f.Bytes())
		// Every key is present; the same tags under another counter, and
		// fresh tags, are absent or false positives, as the filter says.
		for i := range max(c.n, 3) {
			k := testKey(uint32(i%3)+1, i)
			v.Queries = append(v.Queries, vectorQuery{Counter: k.Counter, Tag: hex.EncodeToString(k.Tag[:]), Present: f.Contains(k.Counter, k.Tag[:])})
			k = testKey(0, 1000+i)
			v.Queries = append(v.Queries, vectorQuery{Counter: k.Counter, Tag: hex.EncodeToString(k.Tag[:]), Present: f.Contains(k.Counter, k.Tag[:])})
		}
		out = append(out, v)
	}
	return out
}

// TestVectors checks Build, Bytes, Parse and Contains against
// testdata/vectors.json.
func TestVectors(t *testing.T) {
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		b, _ := json.MarshalIndent(makeVectors(), "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			var keys []Key
			for _, k := range v.Keys {
				var key Key
				hex.Decode(key.Tag[:], []byte(k.Tag))
				key.Counter = k.Counter
				keys = append(keys, key)
			}
			f, err := Build(v.Scope, keys)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := hex.DecodeString(v.Filter)
			if !bytes.Equal(f.Bytes(), want) {
				t.Fatalf("Build made %x, want %x", f.Bytes(), want)
			}
			g, err := Parse(want)
			if err != nil {
				t.Fatal(err)
			}
			if g.Scope() != v.Scope || g.Len() != uint64(len(v.Keys)) {
				t.Fatalf("parsed scope %q len %d", g.Scope(), g.Len())
			}
			for _, q := range append(v.Keys, v.Queries...) {
				tag, _ := hex.DecodeString(q.Tag)
				if got := g.Contains(q.Counter, tag); got != q.Present {
					t.Errorf("Contains(%d, %s) = %v, want %v", q.Counter, q.Tag, got, q.Present)
				}
			}
		})
	}
}

// TestDigest pins the digest construction by recomputing it from the spec.
func TestDigest(t *testing.T) {
	scope := "dev/2026-11-22"
	tag := bytes.Repeat([]byte{7}, 32)
	in := append([]byte(Label), byte(len(scope)))
	in = append(in, scope...)
	in = binary.BigEndian.AppendUint32(in, 5)
	in = append(in, tag...)
	d := sha256.Sum256(in)
	h1, h2 := digest(scope, 5, tag)
	if h1 != binary.BigEndian.Uint64(d[:8]) || h2 != binary.BigEndian.Uint64(d[8:16])|1 {
		t.Fatalf("digest differs from the specification")
	}
}

// TestNoFalseNegatives and the false positive rate at the fixed sizing.
func TestFalsePositiveRate(t *testing.T) {
	const n, queries = 5000, 200000
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = testKey(uint32(i%100), i)
	}
	f, err := Build("dev/2026-11-22", keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !f.Contains(k.Counter, k.Tag[:]) {
			t.Fatalf("key %d/%x missing", k.Counter, k.Tag)
		}
	}
	fp := 0
	for i := range queries {
		k := testKey(uint32(i%100), n+i)
		if f.Contains(k.Counter, k.Tag[:]) {
			fp++
		}
	}
	rate := float64(fp) / queries
	t.Logf("false positive rate %.4f at %d bits per key, k=%d (%d bytes for %d keys)", rate, BitsPerKey, K, len(f.Bytes()), n)
	if rate > 0.006 {
		t.Fatalf("false positive rate %.4f, want about 0.003", rate)
	}
	// Another scope answers for itself only.
	g, _ := Build("dev/2026-11-23", keys[:1])
	if g.Contains(keys[1].Counter, keys[1].Tag[:]) && g.Contains(keys[2].Counter, keys[2].Tag[:]) {
		t.Fatal("a filter of one key answers for others")
	}
}

func TestParseRefuses(t *testing.T) {
	good, _ := Build("dev/2026-11-22", []Key{testKey(0, 1), testKey(1, 2)})
	enc := good.Bytes()
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(enc)) }
	full := func(n uint64) []byte {
		b := []byte(Magic)
		b = append(b, Version, K, 1, 's')
		b = binary.BigEndian.AppendUint64(b, n)
		b = binary.BigEndian.AppendUint32(b, uint32(BitsSize(n)))
		return append(b, bytes.Repeat([]byte{0xff}, int(BitsSize(n)))...)
	}
	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"magic", mod(func(b []byte) []byte { b[0] = 'x'; return b })},
		{"version", mod(func(b []byte) []byte { b[7] = 2; return b })},
		{"k", mod(func(b []byte) []byte { b[8] = 7; return b })},
		{"no scope", mod(func(b []byte) []byte { b[9] = 0; return b })},
		{"scope past the end", mod(func(b []byte) []byte { b[9] = 255; return b })},
		{"truncated", enc[:len(enc)-1]},
		{"trailing byte", append(bytes.Clone(enc), 0)},
		{"size not the sizing", mod(func(b []byte) []byte { b[9+1+14+8+3]++; return append(b, 0) })},
		{"more bits than keys set", full(1)},
		{"header only", enc[:9+1+14+12]},
	} {
		t.Run(c.name, func(t *testing.T) {
			if f, err := Parse(c.b); err == nil {
				t.Fatalf("accepted: %+v", f)
			}
		})
	}
	if _, err := Parse(enc); err != nil {
		t.Fatal(err)
	}
}

func TestBuildRefuses(t *testing.T) {
	for _, scope := range []string{"", string(bytes.Repeat([]byte{'s'}, 256))} {
		if _, err := Build(scope, nil); err == nil {
			t.Errorf("scope of %d bytes accepted", len(scope))
		}
	}
}

// FuzzParse: whatever Parse accepts re-encodes to the same bytes, and
// never says "absent" for a key it was built with.
func FuzzParse(f *testing.F) {
	for _, v := range makeVectors() {
		b, _ := hex.DecodeString(v.Filter)
		f.Add(b)
	}
	f.Add([]byte(Magic))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Parse(b)
		if err != nil {
			if g != nil {
				t.Fatal("a filter with an error")
			}
			return
		}
		if !bytes.Equal(g.Bytes(), b) {
			t.Fatalf("not canonical: %x re-encodes to %x", b, g.Bytes())
		}
		g.Contains(0, make([]byte, TagSize))
	})
}

func BenchmarkBuild(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		keys := make([]Key, n)
		for i := range keys {
			keys[i] = testKey(uint32(i%100), i)
		}
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Build("dev/2026-11-22", keys)
			}
		})
	}
}
