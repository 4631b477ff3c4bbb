package witness_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"flag"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/internal/launch/litewitness"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/witness"
)

var update = flag.Bool("update", false, "rewrite testdata/litewitness-cosignature.txt from a new run of litewitness")

func post(t *testing.T, url string, r witness.AddCheckpoint) (int, []byte) {
	t.Helper()
	body, err := r.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusConflict && resp.Header.Get("Content-Type") != witness.ContentTypeSize {
		t.Errorf("409 with Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, b
}

// TestLitewitness speaks add-checkpoint to filippo.io/torchwood's
// litewitness, an independent implementation, and checks its answers with
// this package: its cosignatures verify with the vkey computed here from its
// SSH key, its 409 parses, and it refuses with 422 a second checkpoint of a
// size it cosigned (a split view).
func TestLitewitness(t *testing.T) {
	if err := litewitness.Available(); err != nil {
		t.Fatal(err) // make tools installs it; tests never skip a real component
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "example.com/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	p, err := litewitness.Start(context.Background(), litewitness.Config{Dir: t.TempDir(), Name: "witness.example/lw", LogKey: vkey, Stderr: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	v, err := witness.NewVerifier(p.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}

	// A log of 3 leaves and its prefix of 1.
	var hashes []tlog.Hash
	hr := tlog.HashReaderFunc(func(ids []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(ids))
		for i, id := range ids {
			out[i] = hashes[id]
		}
		return out, nil
	})
	for i := range 3 {
		hs, _ := tlog.StoredHashes(int64(i), []byte{byte(i)}, hr)
		hashes = append(hashes, hs...)
	}
	sign := func(size int64, root tlog.Hash) []byte {
		msg, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: "example.com/log", Size: size, Root: root}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	root1, _ := tlog.TreeHash(1, hr)
	root3, _ := tlog.TreeHash(3, hr)
	proof, _ := tlog.ProveTree(3, 1, hr)

	// Size 0 with the empty tree's root, then 1, then 3 with a proof.
	empty := sha256.Sum256(nil)
	cp0 := sign(0, empty)
	status, body := post(t, p.URL, witness.AddCheckpoint{OldSize: 0, Checkpoint: cp0})
	if status != 200 {
		t.Fatalf("size 0: %d %s", status, body)
	}
	cp1 := sign(1, root1)
	status, body = post(t, p.URL, witness.AddCheckpoint{OldSize: 0, Checkpoint: cp1})
	if status != 200 {
		t.Fatalf("size 1: %d %s", status, body)
	}
	cs, err := witness.ParseCosignatures(body)
	if err != nil || len(cs) != 1 {
		t.Fatalf("ParseCosignatures(%q) = %v, %v", body, cs, err)
	}
	text1, _, _ := witness.SplitNote(cp1)
	if !cs[0].Verify(v, text1) {
		t.Fatalf("litewitness's cosignature %q does not verify with %s", body, p.VerifierKey)
	}
	if _, err := note.Open(append(bytes.Clone(cp1), body...), note.VerifierList(v)); err != nil {
		t.Fatalf("the cosigned note does not open with note.Open: %v", err)
	}
	if *update {
		vec := "# A cosignature made by litewitness (filippo.io/torchwood " + litewitness.Version + ") over a checkpoint\n" +
			"# of the log key below, as TestLitewitness records it with -update.\n" +
			"log " + vkey + "\nwitness " + p.VerifierKey + "\n\n" + string(cp1) + string(body)
		if err := os.WriteFile("testdata/litewitness-cosignature.txt", []byte(vec), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The witness is at 1: old 0 is a conflict that tells its size.
	cp3 := sign(3, root3)
	status, body = post(t, p.URL, witness.AddCheckpoint{OldSize: 0, Checkpoint: cp3})
	if n, err := witness.ParseConflict(body); status != http.StatusConflict || err != nil || n != 1 {
		t.Fatalf("old 0 at size 1: %d %q (%d, %v)", status, body, n, err)
	}
	// A bad proof is a 422.
	status, _ = post(t, p.URL, witness.AddCheckpoint{OldSize: 1, Proof: tlog.TreeProof{proof[0], root1}, Checkpoint: cp3})
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("bad proof: %d", status)
	}
	status, body = post(t, p.URL, witness.AddCheckpoint{OldSize: 1, Proof: proof, Checkpoint: cp3})
	if status != 200 {
		t.Fatalf("size 3: %d %s", status, body)
	}
	// Another checkpoint of size 3: the witness refuses the split view.
	fork := sign(3, tlog.Hash{3})
	status, _ = post(t, p.URL, witness.AddCheckpoint{OldSize: 3, Checkpoint: fork})
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("fork at size 3: %d, want 422", status)
	}
	// A checkpoint signed by another key of the same origin: 403.
	otherSkey, _, _ := note.GenerateKey(rand.Reader, "example.com/log")
	other, _ := note.NewSigner(otherSkey)
	forged, _ := ledger.SignCheckpoint(ledger.Checkpoint{Origin: "example.com/log", Size: 3, Root: root3}, other)
	if status, _ = post(t, p.URL, witness.AddCheckpoint{OldSize: 3, Checkpoint: forged}); status != http.StatusForbidden {
		t.Fatalf("checkpoint of another key: %d, want 403", status)
	}
}

// TestLitewitnessVector checks the recorded litewitness cosignature in
// testdata with this package's verifier.
func TestLitewitnessVector(t *testing.T) {
	b, err := os.ReadFile("testdata/litewitness-cosignature.txt")
	if err != nil {
		t.Fatal(err)
	}
	var logKey, wKey string
	var rest []byte
	for len(b) > 0 {
		line, r, _ := bytes.Cut(b, []byte("\n"))
		b = r
		switch s := string(line); {
		case strings.HasPrefix(s, "log "):
			logKey = s[4:]
		case strings.HasPrefix(s, "witness "):
			wKey = s[8:]
		case s == "":
			rest = b
			b = nil
		}
	}
	lv, err := note.NewVerifier(logKey)
	if err != nil {
		t.Fatal(err)
	}
	wv, err := witness.NewVerifier(wKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(rest, note.VerifierList(lv, wv))
	if err != nil || len(n.Sigs) != 2 {
		t.Fatalf("the recorded note does not open with both keys: %v", err)
	}
	tampered := bytes.Replace(rest, []byte("\n1\n"), []byte("\n2\n"), 1)
	if _, err := note.Open(tampered, note.VerifierList(wv)); err == nil {
		t.Fatal("a tampered note opened")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(b, "\n"))
	return len(b), nil
}
