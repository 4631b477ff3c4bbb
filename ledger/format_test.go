package ledger

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// randomKey returns the canonical encoding of a random ristretto255 element.
func randomKey(t testing.TB) [KeySize]byte {
	t.Helper()
	var seed [64]byte
	rand.Read(seed[:])
	s, err := ristretto255.NewScalar().SetUniformBytes(seed[:])
	if err != nil {
		t.Fatal(err)
	}
	var k [KeySize]byte
	copy(k[:], ristretto255.NewIdentityElement().ScalarBaseMult(s).Bytes())
	return k
}

func testLicense(t testing.TB, plan string) *LicenseEntry {
	e := &LicenseEntry{
		Plan:      plan,
		NotBefore: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2026, 12, 22, 0, 0, 0, 0, time.UTC),
		P:         randomKey(t),
		ViewTag:   0x5a,
		Sealed:    bytes.Repeat([]byte{0xee}, 60),
	}
	rand.Read(e.R[:])
	return e
}

func TestEntryRoundTrip(t *testing.T) {
	lic := testLicense(t, "pro")
	cases := []struct {
		name string
		e    Entry
		size int
	}{
		{"license", lic, 3 + 3 + 8 + 64 + 1 + 2 + 60},
		{"revoke refund", &RevokeEntry{Target: 7, Reason: RevokeRefund}, 11},
		{"revoke max target", &RevokeEntry{Target: 1<<64 - 1, Reason: RevokeOperator}, 11},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.e.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != tc.size {
				t.Fatalf("encoding is %d bytes, want %d", len(b), tc.size)
			}
			got, err := ParseEntry(b)
			if err != nil {
				t.Fatal(err)
			}
			b2, err := got.MarshalBinary()
			if err != nil || !bytes.Equal(b, b2) {
				t.Fatalf("re-encoding differs: %x vs %x (%v)", b2, b, err)
			}
			if got.Kind() != tc.e.Kind() {
				t.Fatalf("kind %v, want %v", got.Kind(), tc.e.Kind())
			}
		})
	}
}

// TestEntryVector pins the encoding byte for byte.
func TestEntryVector(t *testing.T) {
	var p [32]byte
	copy(p[:], ristretto255.NewGeneratorElement().Bytes())
	e := &LicenseEntry{Plan: "pro", NotBefore: Day(20414), NotAfter: Day(20444), P: p, ViewTag: 0xab, Sealed: []byte{1, 2, 3}}
	for i := range e.R {
		e.R[i] = byte(i)
	}
	b, err := e.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := "0101" + "03" + hex.EncodeToString([]byte("pro")) + "00004fbe" + "00004fdc" +
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" +
		"e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76" + "ab" + "0003" + "010203"
	if got := hex.EncodeToString(b); got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
	r, _ := (&RevokeEntry{Target: 258, Reason: RevokeDispute}).MarshalBinary()
	if got := hex.EncodeToString(r); got != "0102000000000000010202" {
		t.Fatalf("revoke encoding %s", got)
	}
}

func TestEntryInvalid(t *testing.T) {
	good := testLicense(t, "pro")
	mut := func(f func(e *LicenseEntry)) *LicenseEntry { e := *good; f(&e); return &e }
	cases := []struct {
		name string
		e    Entry
	}{
		{"empty plan", mut(func(e *LicenseEntry) { e.Plan = "" })},
		{"plan with space", mut(func(e *LicenseEntry) { e.Plan = "p ro" })},
		{"plan too long", mut(func(e *LicenseEntry) { e.Plan = strings.Repeat("a", 65) })},
		{"not whole day", mut(func(e *LicenseEntry) { e.NotBefore = e.NotBefore.Add(time.Hour) })},
		{"before 1970", mut(func(e *LicenseEntry) { e.NotBefore = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) })},
		{"empty range", mut(func(e *LicenseEntry) { e.NotAfter = e.NotBefore })},
		{"identity P", mut(func(e *LicenseEntry) { e.P = [32]byte{} })},
		{"non-canonical P", mut(func(e *LicenseEntry) { e.P = [32]byte{0xff, 0xff} })},
		{"empty sealed", mut(func(e *LicenseEntry) { e.Sealed = nil })},
		{"sealed too long", mut(func(e *LicenseEntry) { e.Sealed = make([]byte, MaxSealedLen+1) })},
		{"unknown reason", &RevokeEntry{Target: 1, Reason: 9}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.e.MarshalBinary(); !errors.Is(err, ErrBadEntry) {
				t.Fatalf("MarshalBinary = %v, want ErrBadEntry", err)
			}
		})
	}
}

func TestParseEntryRejects(t *testing.T) {
	b, _ := testLicense(t, "pro").MarshalBinary()
	r, _ := (&RevokeEntry{Target: 3, Reason: RevokeRefund}).MarshalBinary()
	set := func(b []byte, i int, v byte) []byte { c := bytes.Clone(b); c[i] = v; return c }
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version 2", set(b, 0, 2)},
		{"kind 3", set(b, 1, 3)},
		{"trailing byte", append(bytes.Clone(b), 0)},
		{"truncated", b[:len(b)-1]},
		{"plan length past end", set(b, 2, 200)},
		{"revoke trailing", append(bytes.Clone(r), 0)},
		{"revoke reason 0", set(r, 10, 0)},
		{"not_after before not_before", set(set(set(set(b, 10, 0), 11, 0), 12, 0), 13, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseEntry(tc.b); !errors.Is(err, ErrBadEntry) {
				t.Fatalf("ParseEntry = %v, want ErrBadEntry", err)
			}
		})
	}
}

func FuzzParseEntry(f *testing.F) {
	b, _ := testLicense(f, "pro").MarshalBinary()
	r, _ := (&RevokeEntry{Target: 3, Reason: RevokeRefund}).MarshalBinary()
	f.Add(b)
	f.Add(r)
	f.Add([]byte{1, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			return
		}
		again, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed entry does not encode: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("non-canonical encoding accepted: %x re-encodes as %x", b, again)
		}
	})
}

// TestTilePathVectors checks the C2SP tlog-tiles path encoding, with the
// examples of https://c2sp.org/tlog-tiles and x/mod's tile coordinates.
func TestTilePathVectors(t *testing.T) {
	cases := []struct {
		name string
		tile Tile
		path string
	}{
		{"c2sp example", Tile{Level: 1, N: 1234067, Width: 8}, "tile/1/x001/x234/067.p/8"},
		{"c2sp full", Tile{Level: 1, N: 1234067, Width: 256}, "tile/1/x001/x234/067"},
		{"zero", Tile{Level: 0, N: 0, Width: 256}, "tile/0/000"},
		{"thousand", Tile{Level: 0, N: 1000, Width: 1}, "tile/0/x001/000.p/1"},
		{"entries", Tile{Level: EntriesLevel, N: 5, Width: 255}, "tile/entries/005.p/255"},
		{"entries big", Tile{Level: EntriesLevel, N: 1234067, Width: 256}, "tile/entries/x001/x234/067"},
		{"level 63", Tile{Level: 63, N: 999, Width: 256}, "tile/63/999"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.tile.Path(); got != tc.path {
				t.Fatalf("Path = %q, want %q", got, tc.path)
			}
			got, err := ParseTilePath(tc.path)
			if err != nil || got != tc.tile {
				t.Fatalf("ParseTilePath = %+v, %v; want %+v", got, err, tc.tile)
			}
			// x/mod writes the same N and width encoding (with the height).
			if tc.tile.Level >= 0 {
				want := strings.Replace(tc.path, "tile/", "tile/8/", 1)
				if xp := tc.tile.tlogTile().Path(); xp != want {
					t.Fatalf("x/mod path %q, want %q", xp, want)
				}
			}
		})
	}
}

func TestParseTilePathRejects(t *testing.T) {
	for _, p := range []string{
		"", "tile/", "tile/0", "tile/0/1", "tile/0/0001", "tile/00/000", "tile/64/000",
		"tile/0/x000/001", "tile/0/001/x001", "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/000.p/08",
		"tile/0/000.p/", "tile/data/000", "tile/-1/000", "tile/0/x1/000", "tiles/0/000", "tile/0/000/",
		"tile/0/x999/x999/x999/x999/x999/x999/x999/999",
	} {
		t.Run(p, func(t *testing.T) {
			if tile, err := ParseTilePath(p); err == nil {
				t.Fatalf("ParseTilePath(%q) = %+v, want an error", p, tile)
			}
		})
	}
}

func FuzzParseTilePath(f *testing.F) {
	f.Add("tile/1/x001/x234/067.p/8")
	f.Add("tile/entries/000")
	f.Add("tile/0/x001/000.p/255")
	f.Fuzz(func(t *testing.T, p string) {
		tile, err := ParseTilePath(p)
		if err != nil {
			return
		}
		if got := tile.Path(); got != p {
			t.Fatalf("ParseTilePath(%q) = %+v, which writes as %q", p, tile, got)
		}
	})
}

func FuzzParseBundle(f *testing.F) {
	f.Add(AppendBundleEntry(AppendBundleEntry(nil, []byte("a")), []byte("bc")))
	f.Add([]byte{0, 5, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := ParseBundle(b)
		if err != nil {
			return
		}
		var again []byte
		for _, e := range es {
			again = AppendBundleEntry(again, e)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("bundle %x re-encodes as %x", b, again)
		}
	})
}

func TestCheckpointSignOpen(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "example.com/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	c := Checkpoint{Origin: "example.com/log", Size: 923748, Root: tlog.RecordHash([]byte("x"))}
	msg, err := SignCheckpoint(c, signer)
	if err != nil {
		t.Fatal(err)
	}
	want := "example.com/log\n923748\n" + base64.StdEncoding.EncodeToString(c.Root[:]) + "\n\n— example.com/log "
	if !strings.HasPrefix(string(msg), want) {
		t.Fatalf("signed checkpoint %q does not start with %q", msg, want)
	}
	got, err := OpenCheckpoint(msg, verifier)
	if err != nil || got != c {
		t.Fatalf("OpenCheckpoint = %+v, %v", got, err)
	}
	_, other, _ := note.GenerateKey(rand.Reader, "example.com/log")
	ov, _ := note.NewVerifier(other)
	if _, err := OpenCheckpoint(msg, ov); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("opened with another key: %v", err)
	}
	tampered := bytes.Replace(msg, []byte("923748"), []byte("923749"), 1)
	if _, err := OpenCheckpoint(tampered, verifier); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("opened a tampered checkpoint: %v", err)
	}
}

func TestParseCheckpoint(t *testing.T) {
	root := base64.StdEncoding.EncodeToString(make([]byte, 32))
	cases := []struct {
		name string
		text string
		ok   bool
	}{
		{"c2sp example", "example.com/origin\n923748\nnND/nri/U0xuHUrYSy0HtMeal2vzD9V4k/BO79C+QeI=\n", true},
		{"extension line", "o\n0\n" + root + "\next\n", true},
		{"no final newline", "o\n1\n" + root, false},
		{"leading zero", "o\n01\n" + root + "\n", false},
		{"negative", "o\n-1\n" + root + "\n", false},
		{"short root", "o\n1\nAAAA\n", false},
		{"empty origin", "\n1\n" + root + "\n", false},
		{"blank extension", "o\n1\n" + root + "\n\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCheckpoint([]byte(tc.text))
			if (err == nil) != tc.ok {
				t.Fatalf("ParseCheckpoint = %+v, %v; want ok=%v", c, err, tc.ok)
			}
			if tc.ok && !strings.HasPrefix(tc.text, string(c.Text())) {
				t.Fatalf("Text() = %q is not the prefix of %q", c.Text(), tc.text)
			}
		})
	}
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("example.com/origin\n923748\nnND/nri/U0xuHUrYSy0HtMeal2vzD9V4k/BO79C+QeI=\n"))
	f.Add([]byte("o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nx\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCheckpoint(b)
		if err != nil {
			return
		}
		if !bytes.HasPrefix(b, c.Text()) {
			t.Fatalf("ParseCheckpoint(%q) = %+v which writes as %q", b, c, c.Text())
		}
	})
}

// TestNoteKeyID checks the C2SP signed-note key id (the first four bytes of
// SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key) for Ed25519) against the example
// key of the x/mod/sumdb/note documentation.
func TestNoteKeyID(t *testing.T) {
	const vkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
	if raw[0] != 1 || len(raw[1:]) != ed25519.PublicKeySize {
		t.Fatal("the vector is not an Ed25519 key")
	}
	sum := sha256.Sum256(append([]byte("PeterNeumann\n"), raw...))
	if got := hex.EncodeToString(sum[:4]); got != "c74f20a3" {
		t.Fatalf("key id %s, want c74f20a3", got)
	}
	if v.KeyHash() != 0xc74f20a3 || v.Name() != "PeterNeumann" {
		t.Fatalf("note parsed key %s+%08x", v.Name(), v.KeyHash())
	}
	// And the note from the same documentation verifies with it.
	msg := []byte("If you think cryptography is the answer to your problem,\n" +
		"then you don't know what your problem is.\n" +
		"\n" +
		"— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n")
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
		t.Fatalf("documented note does not verify: %v", err)
	}
}

func TestVerifierKey(t *testing.T) {
	for i := range 20 { // base64 keys often contain '+'
		skey, vkey, err := note.GenerateKey(rand.Reader, "example.com/log")
		if err != nil {
			t.Fatal(err)
		}
		got, err := VerifierKey(skey + "\n")
		if err != nil || got != vkey {
			t.Fatalf("key %d: VerifierKey = %q, %v; want %q", i, got, err, vkey)
		}
	}
	for _, bad := range []string{"", "PRIVATE+KEY+x", "example.com/log+01234567+AQ==", "PRIVATE+KEY+n+00000000+AQ=="} {
		if _, err := VerifierKey(bad); err == nil {
			t.Fatalf("VerifierKey(%q) accepted", bad)
		}
	}
}

func FuzzVerifierKey(f *testing.F) {
	skey, _, _ := note.GenerateKey(rand.Reader, "example.com/log")
	f.Add(skey)
	f.Add("PRIVATE+KEY+n+00000000+AQ==")
	f.Fuzz(func(t *testing.T, skey string) {
		vkey, err := VerifierKey(skey)
		if err != nil {
			return
		}
		// An accepted signer key yields the verifier of its own signatures.
		s, err := note.NewSigner(strings.TrimSpace(skey))
		if err != nil {
			t.Fatalf("VerifierKey accepted %q, which note rejects: %v", skey, err)
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := note.Sign(&note.Note{Text: "x\n"}, s)
		if err != nil {
			return // names note cannot sign with
		}
		if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
			t.Fatalf("the derived verifier does not verify its signer: %v", err)
		}
	})
}

// TestAccumulatedEncoding encodes a thousand pseudo-random entries of both
// kinds (a fixed seed) and hashes every encoding into one digest: any change
// to the wire format changes it. Each encoding also round-trips.
func TestAccumulatedEncoding(t *testing.T) {
	rng := mrand.New(mrand.NewChaCha8([32]byte{'l', 'e', 'd', 'g', 'e', 'r'}))
	acc := sha256.New()
	for i := range 1000 {
		var e Entry
		if i%5 == 4 {
			e = &RevokeEntry{Target: rng.Uint64() >> (rng.IntN(64)), Reason: RevokeReason(1 + rng.IntN(3))}
		} else {
			plan := make([]byte, 1+rng.IntN(MaxPlanLen))
			for j := range plan {
				plan[j] = byte(0x21 + rng.IntN(0x7e-0x21+1))
			}
			nb := uint32(rng.IntN(maxDay - 1))
			le := &LicenseEntry{Plan: string(plan), NotBefore: Day(nb), NotAfter: Day(nb + 1 + uint32(rng.IntN(maxDay-int(nb)))),
				ViewTag: byte(rng.Uint32()), Sealed: make([]byte, 1+rng.IntN(MaxSealedLen))}
			var seed [64]byte
			for j := range seed {
				seed[j] = byte(rng.Uint32())
			}
			s, _ := ristretto255.NewScalar().SetUniformBytes(seed[:])
			copy(le.P[:], ristretto255.NewIdentityElement().ScalarBaseMult(s).Bytes())
			for j := range le.R {
				le.R[j] = byte(rng.Uint32())
			}
			for j := range le.Sealed {
				le.Sealed[j] = byte(rng.Uint32())
			}
			e = le
		}
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		back, err := ParseEntry(b)
		if err != nil {
			t.Fatalf("entry %d does not parse: %v", i, err)
		}
		if b2, _ := back.MarshalBinary(); !bytes.Equal(b, b2) {
			t.Fatalf("entry %d does not round-trip", i)
		}
		acc.Write(b)
	}
	const want = "28fbde27817beb99c967b3d738c06803d36eef63e852015adff4b28aaed41f06"
	if got := hex.EncodeToString(acc.Sum(nil)); got != want {
		t.Fatalf("accumulated digest %s, want %s", got, want)
	}
}

// TestParseEntryErrorIsNilEntry: a failed parse returns a nil Entry, not a
// typed nil pointer that a type switch would take for an entry.
func TestParseEntryErrorIsNilEntry(t *testing.T) {
	for _, b := range [][]byte{
		{EntryVersion, byte(KindLicense), 3, 'a'},
		{EntryVersion, byte(KindRevoke)},
	} {
		e, err := ParseEntry(b)
		if err == nil || e != nil {
			t.Errorf("ParseEntry(%x) = %#v, %v; want a nil Entry and an error", b, e, err)
		}
	}
}
