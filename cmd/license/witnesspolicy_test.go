package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensed/licensed/ledger/witness"
)

// TestLedgerVerifyWitnessPolicy: with --witness-policy (or
// LICENSE_WITNESS_POLICY), `license ledger verify` refuses a checkpoint
// short of the policy's quorum in one sentence, and accepts it under a
// policy that requires none. Cosigned checkpoints from real witnesses are
// tested in ledger/cosigning and cmd/licensed.
func TestLedgerVerifyWitnessPolicy(t *testing.T) {
	signer, vkey := keys(t, "verify.test/ledger")
	tl := newTestLog(t, signer, vkey)
	tl.round(t, 2)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	w, _ := witness.NewSigner("witness.verify.test", priv)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	quorum := write("quorum", "log "+vkey+"\n"+witness.FormatWitnessLine("w1", w.Verifier().String(), "")+"quorum w1\n")
	none := write("none", "quorum none\n")
	bad := write("bad", "quorum w1\n")
	for _, tc := range []struct {
		name string
		args []string
		env  string
		ok   bool
		want string
	}{
		{"quorum none", []string{"--witness-policy", none}, "", true, "ok: verify.test/ledger size 2"},
		{"short of quorum", []string{"--witness-policy", quorum}, "", false, "FAILED: witness: refusing the checkpoint of size 2: it is cosigned by no witness of the policy, short of the policy's quorum (w1)"},
		{"from the environment", nil, quorum, false, "short of the policy's quorum (w1)"},
		{"bad policy", []string{"--witness-policy", bad}, "", false, "the witness policy " + bad + " does not load"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envWitnessPolicy, tc.env)
			code, out := verify(t, tl.url, vkey, filepath.Join(t.TempDir(), "state"), tc.args...)
			if (code == 0) != tc.ok || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want ok=%v and %q:\n%s", code, tc.ok, tc.want, out)
			}
		})
	}
}
