package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"

	"github.com/licensed/licensed/internal/btcdtest"
	"github.com/licensed/licensed/internal/launch/regtest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/payments/bitcoin/anchor"
	"github.com/licensed/licensed/web"
)

// anchoredLog is a testLog whose server also lists anchors.
func anchoredLog(t *testing.T, tl *testLog, vkey string, list web.AnchorList) string {
	s := web.New(web.Config{}, web.Deps{DB: tl.db, Ledger: &web.LedgerDeps{Store: tl.l.Store(), VerifierKey: vkey, Anchors: list}}, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestLedgerVerifyAnchors anchors a ledger on a regtest btcd, then checks
// `license ledger verify --anchors` against the ledger grown since (ok),
// and against another history under the same key whose server still lists
// the old anchor (refused: rewritten after the anchor).
func TestLedgerVerifyAnchors(t *testing.T) {
	ctx := context.Background()
	node := btcdtest.Start(t)
	signer, vkey := keys(t, "anchors.test/ledger")
	tl := newTestLog(t, signer, vkey)
	tl.round(t, 4)

	key, _ := btcec.NewPrivateKey()
	h, _ := node.RPC.GetBlockCount()
	a, err := anchor.New(tl.db, anchor.Config{
		Params: node.Params(), RPC: node.ConnConfig(false), Key: key, ScanFrom: h + 1,
		Checkpoint: func(ctx context.Context) ([]byte, error) {
			cp, err := tl.l.Store().Latest(ctx)
			return cp.Note, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	addr, _ := btcutil.DecodeAddress(a.Address(), node.Params())
	if _, err := node.Wallet.Pay(regtest.Output{Address: addr, Sats: 50_000}); err != nil {
		t.Fatal(err)
	}
	node.MustMine(1)
	if err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	node.MustMine(1)
	if err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	tl.round(t, 3)
	server := anchoredLog(t, tl, vkey, a)

	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte(node.Pass()+"\n"), 0o600)
	btcd := []string{"--anchors", "--btcd-rpc-host", node.Host(), "--btcd-rpc-user", node.User(), "--btcd-rpc-pass-file", pass}

	s1 := filepath.Join(t.TempDir(), "s1")
	code, out := verify(t, server, vkey, s1, btcd...)
	if code != 0 || !strings.Contains(out, "anchor of size 4 in block") || !strings.Contains(out, "ok: 1 confirmed Bitcoin anchors checked") {
		t.Fatalf("grown ledger: exit %d\n%s", code, out)
	}
	// The anchor checked is kept beside the state; a second run that still
	// finds it listed passes.
	if b, err := os.ReadFile(s1 + ".anchors"); err != nil || !strings.HasSuffix(string(b), " 4\n") {
		t.Fatalf("anchors kept: %q, %v", b, err)
	}
	if code, out = verify(t, server, vkey, s1, btcd...); code != 0 {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}

	// The operator rewrites the ledger (same key, other entries, larger)
	// and keeps listing the anchor it cannot take back from Bitcoin.
	other := &testLog{db: pgtest.Pool(t)}
	other.l = pgledger.New(other.db, pgledger.Config{Signer: signer})
	other.round(t, 9)
	code, out = verify(t, anchoredLog(t, other, vkey, a), vkey, filepath.Join(t.TempDir(), "s2"), btcd...)
	if code != 1 || !strings.Contains(out, "FAILED: anchor: the ledger of size 9 does not extend the checkpoint of size 4 anchored in block") ||
		!strings.Contains(out, "its history was rewritten after the anchor") {
		t.Fatalf("rewritten ledger: exit %d\n%s", code, out)
	}
	t.Log(strings.TrimSpace(out))

	// Without a node, --anchors says what to give.
	code, out = verify(t, server, vkey, filepath.Join(t.TempDir(), "s3"), "--anchors")
	if code == 0 || !strings.Contains(out, "--btcd-rpc-host") {
		t.Fatalf("no node: exit %d\n%s", code, out)
	}
}
