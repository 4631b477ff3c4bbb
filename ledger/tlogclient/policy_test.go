package tlogclient_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/tlogclient"
	"github.com/licensed/licensed/ledger/witness"
)

// cosign appends cosignatures of the memLog's checkpoint by signers.
func cosign(t *testing.T, m *memLog, signers ...*witness.Signer) {
	t.Helper()
	text, _, err := witness.SplitNote(m.files["checkpoint"])
	if err != nil {
		t.Fatal(err)
	}
	ns := make([]note.Signer, len(signers))
	for i, s := range signers {
		ns[i] = s
	}
	signed, err := note.Sign(&note.Note{Text: string(text)}, ns...)
	if err != nil {
		t.Fatal(err)
	}
	_, lines, _ := witness.SplitNote(signed)
	m.files["checkpoint"] = append(m.files["checkpoint"], strings.Join(lines, "")...)
}

func TestPolicy(t *testing.T) {
	ws := make([]*witness.Signer, 4)
	for i := range ws {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		ws[i], _ = witness.NewSigner(fmt.Sprintf("witness.test/%d", i), priv)
	}
	m, v, url := newMemLog(t)
	var policy strings.Builder
	for i, s := range ws[:3] {
		policy.WriteString(witness.FormatWitnessLine(fmt.Sprintf("w%d", i+1), s.Verifier().String(), ""))
	}
	policy.WriteString("group g 2 w1 w2 w3\nquorum g\n")
	path := filepath.Join(t.TempDir(), "policy")
	os.WriteFile(path, []byte(policy.String()), 0o644)
	p, err := tlogclient.LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		signers []*witness.Signer
		ok      bool
	}{
		{"no cosignature", nil, false},
		{"one of three and a stranger", []*witness.Signer{ws[0], ws[3]}, false},
		{"two of three", []*witness.Signer{ws[2], ws[0]}, true},
		{"three", ws[:3], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m.round(t, 3)
			cosign(t, m, tc.signers...)
			c := &tlogclient.Client{Server: url, Verifier: v, Policy: p}
			res, err := c.Verify(ctx, nil, true)
			var qe *witness.QuorumError
			switch {
			case tc.ok && err != nil:
				t.Fatal(err)
			case tc.ok && len(res.Cosigners) != len(tc.signers):
				t.Fatalf("cosigners %v", res.Cosigners)
			case !tc.ok && !errors.As(err, &qe):
				t.Fatalf("Verify = %v, want a QuorumError", err)
			case !tc.ok && !strings.Contains(err.Error(), "short of the policy's quorum (2 of w1, w2, w3)"):
				t.Fatalf("refusal %q", err)
			}
			// Without a policy the log's signature is enough.
			if _, err := (&tlogclient.Client{Server: url, Verifier: v}).Verify(ctx, nil, true); err != nil {
				t.Fatal(err)
			}
		})
	}

	// A policy that lists logs must list this one.
	os.WriteFile(path, []byte("log "+otherLogKey(t)+"\nquorum none\n"), 0o644)
	other, err := tlogclient.LoadPolicy(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := (&tlogclient.Client{Server: url, Verifier: v, Policy: other}).Checkpoint(ctx); err == nil || !strings.Contains(err.Error(), "not the ledger's key") {
		t.Fatalf("policy of another log: %v", err)
	}
	os.WriteFile(path, []byte("quorum nobody\n"), 0o644)
	if _, err := tlogclient.LoadPolicy(path); err == nil {
		t.Fatal("a bad policy loaded")
	}
}

func otherLogKey(t *testing.T) string {
	_, vkey, err := note.GenerateKey(rand.Reader, "mem.test/log")
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

// TestSizeZero: a checkpoint of size 0 verifies only with the empty tree's
// root.
func TestSizeZero(t *testing.T) {
	m, v, url := newMemLog(t)
	c := &tlogclient.Client{Server: url, Verifier: v}
	for _, tc := range []struct {
		name string
		root [32]byte
		ok   bool
	}{
		{"empty tree", ledger.EmptyRoot, true},
		{"zero hash", [32]byte{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := ledger.SignCheckpoint(ledger.Checkpoint{Origin: m.signer.Name(), Size: 0, Root: tc.root}, m.signer)
			if err != nil {
				t.Fatal(err)
			}
			m.files["checkpoint"] = cp
			res, err := c.Verify(context.Background(), nil, true)
			if tc.ok != (err == nil) || tc.ok && res.Size != 0 || !tc.ok && !errors.Is(err, tlogclient.ErrMismatch) {
				t.Fatalf("Verify = %+v, %v", res, err)
			}
		})
	}
	// And the log grows from there.
	m.round(t, 2)
	if _, err := c.Verify(context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
}
