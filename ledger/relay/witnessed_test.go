package relay_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/ledger/relay"
	"github.com/licensed/licensed/ledger/witness"
)

// TestWitnessedMirror: a mirror with a policy (2 of 3 witnesses) syncs a
// checkpoint cosigned by two of them and refuses, staying as it was, one
// cosigned by one. The cosignatures are made here with the witnesses' keys,
// added to the server's answers by a proxy; witnesses running as processes
// are tested in package ledger/cosigning.
func TestWitnessedMirror(t *testing.T) {
	ctx := context.Background()
	signer, vkey := keys(t, "relay.test/ledger")
	l := newLog(t, signer, vkey)
	ws := make([]*witness.Signer, 3)
	var policy strings.Builder
	for i := range ws {
		_, priv, _ := ed25519.GenerateKey(rand.Reader)
		ws[i], _ = witness.NewSigner(fmt.Sprintf("witness%d.relay.test", i), priv)
		policy.WriteString(witness.FormatWitnessLine(fmt.Sprintf("w%d", i+1), ws[i].Verifier().String(), ""))
	}
	policy.WriteString("group g 2 w1 w2 w3\nquorum g\n")
	p, err := witness.ParsePolicy([]byte(policy.String()))
	if err != nil {
		t.Fatal(err)
	}
	cosigners := 2
	proxy := newProxy(t, l.url, func(path string, body []byte) []byte {
		if path != "/ledger/checkpoint" {
			return body
		}
		text, _, err := witness.SplitNote(body)
		if err != nil {
			return body
		}
		var ns []note.Signer
		for _, w := range ws[:cosigners] {
			ns = append(ns, w)
		}
		signed, _ := note.Sign(&note.Note{Text: string(text)}, ns...)
		_, lines, _ := witness.SplitNote(signed)
		return append(body, strings.Join(lines, "")...)
	})
	m, err := relay.NewWitnessedMirror(&relay.Client{URL: proxy}, vkey, p)
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	l.appendLicenses(t, 3, "basic", today)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if m.Checkpoint().Size != 3 {
		t.Fatalf("mirror at %d, want 3", m.Checkpoint().Size)
	}
	cosigners = 1
	l.appendLicenses(t, 2, "basic", today)
	var qe *witness.QuorumError
	if err := m.Sync(ctx); !errors.As(err, &qe) {
		t.Fatalf("Sync of a checkpoint cosigned by one = %v, want a QuorumError", err)
	}
	if m.Checkpoint().Size != 3 {
		t.Fatalf("mirror moved to %d on a refused checkpoint", m.Checkpoint().Size)
	}
	// A mirror without a policy takes it.
	plain, _ := relay.NewMirror(&relay.Client{URL: proxy}, vkey)
	if err := plain.Sync(ctx); err != nil || plain.Checkpoint().Size != 5 {
		t.Fatalf("mirror without a policy: %v at %d", err, plain.Checkpoint().Size)
	}
}
