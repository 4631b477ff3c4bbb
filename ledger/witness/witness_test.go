package witness_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger/witness"
)

const text = "example.com/log\n5\nQrtXrQZCCvpIgsSmOsah7HdICzMLLyDfxToMql9WTjY=\n"

func newSigner(t testing.TB, name string) *witness.Signer {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := witness.NewSigner(name, priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCosignatureFormat checks the signed message and signature layout of
// c2sp.org/tlog-cosignature against an independent computation.
func TestCosignatureFormat(t *testing.T) {
	seed := sha256.Sum256([]byte("witness test key"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	s, err := witness.NewSigner("witness.example/w1", priv)
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return time.Unix(1679315147, 0) }
	sig, err := s.Sign([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	msg := "cosignature/v1\ntime 1679315147\n" + text
	want := append([]byte{0, 0, 0, 0, 0x64, 0x18, 0x50, 0xcb}, ed25519.Sign(priv, []byte(msg))...)
	if !bytes.Equal(sig, want) {
		t.Fatalf("signature\n%x\nwant\n%x", sig, want)
	}
	pub := priv.Public().(ed25519.PublicKey)
	h := sha256.Sum256(append([]byte("witness.example/w1\n\x04"), pub...))
	if s.KeyHash() != uint32(h[0])<<24|uint32(h[1])<<16|uint32(h[2])<<8|uint32(h[3]) {
		t.Fatalf("key ID %08x, want %x", s.KeyHash(), h[:4])
	}
	vkey := s.Verifier().String()
	if !strings.HasPrefix(vkey, "witness.example/w1+") || !strings.HasSuffix(vkey, "+"+base64.StdEncoding.EncodeToString(append([]byte{4}, pub...))) {
		t.Fatalf("vkey %s", vkey)
	}
	v, err := witness.NewVerifier(vkey)
	if err != nil || v.String() != vkey {
		t.Fatalf("NewVerifier(%s) = %v, %v", vkey, v, err)
	}
	// A cosigned note opens with note.Open and the verifier.
	signed, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(signed, note.VerifierList(v)); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]byte{
		"other text":   bytes.Replace(signed, []byte("\n5\n"), []byte("\n6\n"), 1),
		"other time":   otherTime(t, signed),
		"no signature": []byte(text + "\n"),
	} {
		if _, err := note.Open(bad, note.VerifierList(v)); err == nil {
			t.Errorf("%s: note.Open accepted it", name)
		}
	}
}

// otherTime returns the cosigned note with its timestamp moved a second.
func otherTime(t *testing.T, signed []byte) []byte {
	text, lines, err := witness.SplitNote(signed)
	if err != nil {
		t.Fatal(err)
	}
	name, b64, _ := strings.Cut(strings.TrimPrefix(strings.TrimSuffix(lines[0], "\n"), "— "), " ")
	raw, _ := base64.StdEncoding.DecodeString(b64)
	raw[11]++
	return []byte(string(text) + "\n— " + name + " " + base64.StdEncoding.EncodeToString(raw) + "\n")
}

func TestNewVerifier(t *testing.T) {
	s := newSigner(t, "w.example/1")
	good := s.Verifier().String()
	name, rest, _ := strings.Cut(good, "+")
	id, key, _ := strings.Cut(rest, "+")
	_, logKey, _ := note.GenerateKey(rand.Reader, "log.example")
	for _, tc := range []struct {
		name, vkey string
		ok         bool
	}{
		{"good", good, true},
		{"log key (type 1)", logKey, false},
		{"wrong id", name + "+00000000+" + key, false},
		{"upper-case id", name + "+" + strings.ToUpper(id) + "+" + key, strings.ToUpper(id) == id},
		{"short key", name + "+" + id + "+BAAA", false},
		{"no name", "+" + id + "+" + key, false},
		{"space in name", "a b+" + id + "+" + key, false},
		{"not base64", name + "+" + id + "+" + key + "!", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := witness.NewVerifier(tc.vkey)
			if (err == nil) != tc.ok {
				t.Fatalf("NewVerifier(%q) error %v, want ok=%v", tc.vkey, err, tc.ok)
			}
		})
	}
}

func TestAddCheckpointRoundTrip(t *testing.T) {
	cp := []byte(text + "\n— example.com/log AAAAAAAA\n")
	for _, tc := range []struct {
		name string
		r    witness.AddCheckpoint
		body string
	}{
		{"first", witness.AddCheckpoint{OldSize: 0, Checkpoint: cp}, "old 0\n\n" + string(cp)},
		{"proof", witness.AddCheckpoint{OldSize: 3, Proof: tlog.TreeProof{{1}, {2}}, Checkpoint: cp},
			"old 3\nAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nAgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n" + string(cp)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.r.MarshalText()
			if err != nil || string(b) != tc.body {
				t.Fatalf("MarshalText = %q, %v; want %q", b, err, tc.body)
			}
			r, err := witness.ParseAddCheckpoint(b)
			if err != nil || r.OldSize != tc.r.OldSize || len(r.Proof) != len(tc.r.Proof) || !bytes.Equal(r.Checkpoint, cp) {
				t.Fatalf("ParseAddCheckpoint = %+v, %v", r, err)
			}
		})
	}
	for _, bad := range []string{"", "old 1\n", "old 01\n\nx", "old -1\n\nx", "new 1\n\nx", "old 1\nAQ==\n\nx", "old 1\n\n\nx"[:0] + "old 1\nAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n\nx"} {
		if _, err := witness.ParseAddCheckpoint([]byte(bad)); !errors.Is(err, witness.ErrMalformed) {
			t.Errorf("ParseAddCheckpoint(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestParseConflict(t *testing.T) {
	for _, tc := range []struct {
		body string
		size int64
		ok   bool
	}{
		{"0\n", 0, true}, {"20852014\n", 20852014, true}, {"12", 0, false}, {"012\n", 0, false}, {"-1\n", 0, false}, {"\n", 0, false}, {"1 \n", 0, false},
	} {
		n, err := witness.ParseConflict([]byte(tc.body))
		if (err == nil) != tc.ok || n != tc.size {
			t.Errorf("ParseConflict(%q) = %d, %v", tc.body, n, err)
		}
	}
}

func TestParseCosignatures(t *testing.T) {
	s1, s2 := newSigner(t, "w.example/1"), newSigner(t, "w.example/2")
	signed, err := note.Sign(&note.Note{Text: text}, s1, s2)
	if err != nil {
		t.Fatal(err)
	}
	_, lines, err := witness.SplitNote(signed)
	if err != nil || len(lines) != 2 {
		t.Fatalf("SplitNote = %q, %v", lines, err)
	}
	cs, err := witness.ParseCosignatures([]byte(strings.Join(lines, "")))
	if err != nil || len(cs) != 2 {
		t.Fatalf("ParseCosignatures = %v, %v", cs, err)
	}
	if !cs[0].Verify(s1.Verifier(), []byte(text)) || !cs[1].Verify(s2.Verifier(), []byte(text)) || cs[0].Verify(s2.Verifier(), []byte(text)) {
		t.Fatal("cosignatures do not verify with their own keys only")
	}
	if cs[0].Line != lines[0] {
		t.Fatalf("Line %q, want %q", cs[0].Line, lines[0])
	}
	for _, bad := range []string{"", "— w AAAA\n", lines[0][:len(lines[0])-1], "- w.example/1 " + lines[0][len("— w.example/1 "):], lines[0] + "\n"} {
		if _, err := witness.ParseCosignatures([]byte(bad)); err == nil {
			t.Errorf("ParseCosignatures(%q) accepted", bad)
		}
	}
}

func FuzzParseAddCheckpoint(f *testing.F) {
	f.Add([]byte("old 0\n\nexample.com/log\n1\nKgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— example.com/log AAAA\n"))
	f.Add([]byte("old 1\nKgEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\nx"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := witness.ParseAddCheckpoint(b)
		if err != nil {
			return
		}
		out, err := r.MarshalText()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("ParseAddCheckpoint(%q) re-encodes as %q, %v", b, out, err)
		}
	})
}

func FuzzParseCosignatures(f *testing.F) {
	s := newSigner(f, "w.example/1")
	signed, _ := note.Sign(&note.Note{Text: text}, s)
	_, lines, _ := witness.SplitNote(signed)
	f.Add([]byte(lines[0]))
	f.Add([]byte(lines[0] + lines[0]))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, err := witness.ParseCosignatures(b)
		if err != nil {
			return
		}
		var all string
		for _, c := range cs {
			all += c.Line
		}
		if all != string(b) {
			t.Fatalf("ParseCosignatures(%q) lines are %q", b, all)
		}
	})
}

func FuzzNewVerifier(f *testing.F) {
	f.Add(newSigner(f, "w.example/1").Verifier().String())
	f.Add("w+00000000+BA==")
	f.Fuzz(func(t *testing.T, vkey string) {
		v, err := witness.NewVerifier(vkey)
		if err != nil {
			return
		}
		if v.String() != vkey {
			t.Fatalf("NewVerifier(%q) writes as %q", vkey, v.String())
		}
	})
}

func FuzzParseConflict(f *testing.F) {
	f.Add([]byte("12\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := witness.ParseConflict(b)
		if err == nil && string(b) != strings.TrimSpace(string(b))+"\n" || err == nil && n < 0 {
			t.Fatalf("ParseConflict(%q) = %d", b, n)
		}
	})
}
