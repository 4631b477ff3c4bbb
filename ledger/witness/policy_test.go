package witness_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/ledger/witness"
)

func TestParsePolicy(t *testing.T) {
	w := make([]string, 4)
	for i := range w {
		w[i] = newSigner(t, fmt.Sprintf("w.example/%d", i)).Verifier().String()
	}
	_, logKey, _ := note.GenerateKey(rand.Reader, "log.example")
	for _, tc := range []struct {
		name, policy string
		quorum       string // "" when it must not parse
	}{
		{"none", "quorum none\n", "none"},
		{"one witness", "witness A " + w[0] + "\nquorum A\n", "A"},
		{"two of three, urls, comments, tabs",
			"# witnesses\nlog " + logKey + " https://log.example\n\twitness A " + w[0] + " http://127.0.0.1:1\nwitness B " + w[1] + "\nwitness C " + w[2] + "  \n\ngroup G 2 A B C\nquorum G", "2 of A, B, C"},
		{"all and any", "witness A " + w[0] + "\nwitness B " + w[1] + "\nwitness C " + w[2] + "\ngroup X any A B\ngroup Y all X C\nquorum Y\n", "2 of (1 of A, B), C"},
		{"no quorum", "witness A " + w[0] + "\n", ""},
		{"two quorums", "quorum none\nquorum none\n", ""},
		{"undefined quorum", "quorum A\nwitness A " + w[0] + "\n", ""},
		{"member before its line", "group G any A\nwitness A " + w[0] + "\nquorum G\n", ""},
		{"threshold too high", "witness A " + w[0] + "\ngroup G 2 A\nquorum G\n", ""},
		{"threshold zero", "witness A " + w[0] + "\ngroup G 0 A\nquorum G\n", ""},
		{"member twice", "witness A " + w[0] + "\nwitness B " + w[1] + "\ngroup G any A\ngroup H any A B\nquorum H\n", ""},
		{"duplicate key", "witness A " + w[0] + "\nwitness B " + w[0] + "\nquorum A\n", ""},
		{"duplicate name", "witness A " + w[0] + "\nwitness A " + w[1] + "\nquorum A\n", ""},
		{"none as a name", "witness none " + w[0] + "\nquorum none\n", ""},
		{"log key as witness key", "witness A " + logKey + "\nquorum A\n", ""},
		{"unknown keyword", "witnesses A " + w[0] + "\nquorum none\n", ""},
		{"control character", "quorum none\r\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := witness.ParsePolicy([]byte(tc.policy))
			if tc.quorum == "" {
				if err == nil {
					t.Fatalf("parsed, quorum %s", p.Quorum())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Quorum() != tc.quorum {
				t.Fatalf("quorum %q, want %q", p.Quorum(), tc.quorum)
			}
		})
	}
}

func TestPolicyCheck(t *testing.T) {
	ws := []*witness.Signer{newSigner(t, "w.example/1"), newSigner(t, "w.example/2"), newSigner(t, "w.example/3")}
	stranger := newSigner(t, "w.example/4")
	logSkey, logVkey, _ := note.GenerateKey(rand.Reader, "example.com/log")
	logSigner, _ := note.NewSigner(logSkey)
	var policy strings.Builder
	for i, s := range ws {
		policy.WriteString(witness.FormatWitnessLine(fmt.Sprintf("w%d", i+1), s.Verifier().String(), ""))
	}
	policy.WriteString("log " + logVkey + "\ngroup all3 2 w1 w2 w3\nquorum all3\n")
	p, err := witness.ParsePolicy([]byte(policy.String()))
	if err != nil {
		t.Fatal(err)
	}
	if !p.ListsLog(logSigner.Name(), logSigner.KeyHash()) {
		t.Fatal("the policy does not list its own log")
	}
	otherSkey, _, _ := note.GenerateKey(rand.Reader, "example.com/log")
	other, _ := note.NewSigner(otherSkey)
	if p.ListsLog(other.Name(), other.KeyHash()) {
		t.Fatal("the policy lists another log key of the same name")
	}
	for _, tc := range []struct {
		name    string
		signers []note.Signer
		want    []string
		ok      bool
	}{
		{"log only", []note.Signer{logSigner}, nil, false},
		{"one of three", []note.Signer{logSigner, ws[1]}, []string{"w2"}, false},
		{"one and a stranger", []note.Signer{logSigner, ws[0], stranger}, []string{"w1"}, false},
		{"two of three", []note.Signer{logSigner, ws[0], ws[2]}, []string{"w1", "w3"}, true},
		{"three", []note.Signer{logSigner, ws[2], ws[1], ws[0]}, []string{"w1", "w2", "w3"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := note.Sign(&note.Note{Text: text}, tc.signers...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Check(msg, 5)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("cosigners %v, want %v", got, tc.want)
			}
			var qe *witness.QuorumError
			if tc.ok != (err == nil) || !tc.ok && !errors.As(err, &qe) {
				t.Fatalf("Check error %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "short of the policy's quorum (2 of w1, w2, w3)") {
				t.Fatalf("error says %q", err)
			}
		})
	}
	// A cosignature moved onto another checkpoint does not count.
	msg, _ := note.Sign(&note.Note{Text: text}, logSigner, ws[0], ws[1])
	forged := strings.Replace(string(msg), "\n5\n", "\n6\n", 1)
	if got, _ := p.Cosigners([]byte(forged)); len(got) != 0 {
		t.Fatalf("cosignatures of size 5 counted for size 6: %v", got)
	}
}

func FuzzParsePolicy(f *testing.F) {
	w := newSigner(f, "w.example/1").Verifier().String()
	f.Add([]byte("witness A " + w + " http://x\ngroup G any A\nquorum G\n"))
	f.Add([]byte("# c\nquorum none\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := witness.ParsePolicy(b)
		if err != nil {
			return
		}
		_ = p.Quorum()
		if p.Satisfied(nil) == p.RequiresCosignatures() {
			t.Fatalf("policy %q: satisfied without cosignatures but requires some", b)
		}
	})
}
