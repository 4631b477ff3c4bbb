package anchor_test

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/anchor"
)

// The vector was computed apart from this package, with
//
//	printf 'lic/v1/anchor%s\n%s\n%s\n' licensed.example/ledger 7 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= | sha256sum
func TestDigestVector(t *testing.T) {
	body := "licensed.example/ledger\n7\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
	d := anchor.Digest([]byte(body))
	if got, want := hex.EncodeToString(d[:]), "86f538064124146fdb88227f86804599c20603a4c7e47eb1b4321a92e25339ab"; got != want {
		t.Fatalf("digest %s, want %s", got, want)
	}
	s := anchor.Script(d)
	if len(s) != anchor.ScriptSize || hex.EncodeToString(s[:6]) != "6a246c696341" {
		t.Fatalf("script %x", s)
	}
	back, ok := anchor.ParseScript(s)
	if !ok || back != d {
		t.Fatal("ParseScript does not read back Script")
	}
}

func TestParseScriptRejects(t *testing.T) {
	d := anchor.Digest([]byte("x\n1\nAA==\n"))
	good := anchor.Script(d)
	for name, s := range map[string][]byte{
		"empty":        nil,
		"short":        good[:len(good)-1],
		"long":         append(append([]byte{}, good...), 0),
		"not opreturn": append([]byte{0x00}, good[1:]...),
		"other push":   append([]byte{0x6a, 0x23}, good[2:]...),
		"other magic":  append([]byte{0x6a, 0x24, 'l', 'i', 'c', 'B'}, good[6:]...),
	} {
		if _, ok := anchor.ParseScript(s); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func signedCheckpoint(t testing.TB, size int64) (string, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(nil, "licensed.example/ledger")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	msg, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: "licensed.example/ledger", Size: size, Root: ledger.EmptyRoot}, s)
	if err != nil {
		t.Fatal(err)
	}
	return string(msg), v
}

func validAnchor(t testing.TB) anchor.Anchor {
	cp, _ := signedCheckpoint(t, 3)
	body, _ := anchor.Body([]byte(cp))
	d := anchor.Digest(body)
	h := int64(500)
	parsed, _ := ledger.ParseCheckpoint(body)
	return anchor.Anchor{
		Checkpoint: cp, Size: 3, Root: strings.Split(string(parsed.Text()), "\n")[2], Digest: hex.EncodeToString(d[:]),
		TxID: strings.Repeat("ab", 32), State: anchor.StateConfirmed, BlockHash: strings.Repeat("00", 32), BlockHeight: &h,
	}
}

func TestParseList(t *testing.T) {
	good := validAnchor(t)
	for _, tc := range []struct {
		name string
		edit func(a *anchor.Anchor)
		ok   bool
	}{
		{"valid", func(a *anchor.Anchor) {}, true},
		{"pending", func(a *anchor.Anchor) { a.State, a.BlockHash, a.BlockHeight = anchor.StatePending, "", nil }, true},
		{"pending with a block", func(a *anchor.Anchor) { a.State = anchor.StatePending }, false},
		{"confirmed without a block", func(a *anchor.Anchor) { a.BlockHeight = nil }, false},
		{"other size", func(a *anchor.Anchor) { a.Size = 4 }, false},
		{"other digest", func(a *anchor.Anchor) { a.Digest = strings.Repeat("00", 32) }, false},
		{"upper-case txid", func(a *anchor.Anchor) { a.TxID = strings.ToUpper(a.TxID) }, false},
		{"unsigned checkpoint", func(a *anchor.Anchor) { a.Checkpoint = "licensed.example/ledger\n3\n" }, false},
		{"unknown state", func(a *anchor.Anchor) { a.State = "lost" }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := good
			tc.edit(&a)
			b, _ := json.Marshal(anchor.List{Anchors: []anchor.Anchor{a}})
			_, err := anchor.ParseList(b)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseList: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func FuzzParseScript(f *testing.F) {
	f.Add(anchor.Script(anchor.Digest([]byte("a\n1\nAA==\n"))))
	f.Add([]byte{0x6a})
	f.Fuzz(func(t *testing.T, s []byte) {
		d, ok := anchor.ParseScript(s)
		if ok && string(anchor.Script(d)) != string(s) {
			t.Fatalf("ParseScript accepted a non-canonical script %x", s)
		}
	})
}

func FuzzParseList(f *testing.F) {
	a := validAnchor(f)
	b, _ := json.Marshal(anchor.List{Anchors: []anchor.Anchor{a}})
	f.Add(b)
	f.Add([]byte(`{"anchors":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := anchor.ParseList(b)
		if err != nil {
			return
		}
		// What parses re-encodes to a listing that parses the same.
		again, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := anchor.ParseList(again); err != nil {
			t.Fatalf("a parsed listing does not parse again: %v", err)
		}
	})
}
