package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"crypto/rand"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/gtank/ristretto255"
	"github.com/jackc/pgx/v5"

	"github.com/licensed/licensed/internal/btcdtest"
	"github.com/licensed/licensed/internal/launch/regtest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/anchor"
	"github.com/licensed/licensed/ledger/pgledger"
	panchor "github.com/licensed/licensed/payments/bitcoin/anchor"
)

// TestServeAnchors runs the server with an anchor key on a regtest btcd:
// the ledger's first checkpoint with entries is anchored, listed at
// /ledger/anchors, and confirmed once mined.
func TestServeAnchors(t *testing.T) {
	ctx := context.Background()
	node := btcdtest.Start(t)
	key, _ := btcec.NewPrivateKey()
	wif, _ := btcutil.NewWIF(key, node.Params(), true)
	h, _ := node.RPC.GetBlockCount()
	addr, _ := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), node.Params())
	if _, err := node.Wallet.Pay(regtest.Output{Address: addr, Sats: 30_000}); err != nil {
		t.Fatal(err)
	}
	node.MustMine(1)

	m := &Main{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	m.Config = Config{Addr: "127.0.0.1:0", DatabaseURL: pgtest.URL(t), DataDir: t.TempDir(), Migrate: true, LedgerOrigin: "anchors.test/ledger", PublicMetrics: true}
	m.Config.Bitcoin = BitcoinConfig{Network: "regtest", RPCHost: node.Host(), RPCUser: node.User(), RPCPass: node.Pass(), ReorgDepth: 6}
	m.Config.Anchor = AnchorConfig{Key: wif.String(), FeeRate: 3, ScanFrom: h + 1, poll: 100 * time.Millisecond}
	if _, err := createLedgerKey(filepath.Join(m.Config.DataDir, "ledger.key"), m.Config.LedgerOrigin); err != nil {
		t.Fatal(err)
	}
	serveMain(t, m)

	err := pgx.BeginFunc(ctx, m.DB, func(tx pgx.Tx) error {
		for i := range 3 {
			var seed [64]byte
			rand.Read(seed[:])
			s, _ := ristretto255.NewScalar().SetUniformBytes(seed[:])
			e := &ledger.LicenseEntry{Plan: "pro", NotBefore: ledger.Day(20414), NotAfter: ledger.Day(20444), ViewTag: 3, Sealed: []byte("sealed")}
			copy(e.P[:], ristretto255.NewIdentityElement().ScalarBaseMult(s).Bytes())
			if _, err := pgledger.Enqueue(ctx, tx, fmt.Sprint("anchor-test:", i), e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	list := waitAnchors(t, m.URL, anchor.StatePending)
	if list.Anchors[0].Size != 3 {
		t.Fatalf("anchored size %d, want 3", list.Anchors[0].Size)
	}
	node.MustMine(1)
	list = waitAnchors(t, m.URL, anchor.StateConfirmed)
	if *list.Anchors[0].BlockHeight != h+2 {
		t.Fatalf("anchor at height %d, want %d", *list.Anchors[0].BlockHeight, h+2)
	}
	resp, err := http.Get(m.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fee := int64(3 * panchor.AnchorVSize)
	for _, want := range []string{
		"licensed_ledger_anchor_confirmed_size 3\n", "licensed_ledger_anchor_pending 0\n",
		fmt.Sprintf("licensed_ledger_anchor_key_sats %d\n", 30_000-fee),
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// waitAnchors polls /ledger/anchors until its one anchor is in state.
func waitAnchors(t *testing.T, base, state string) *anchor.List {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/ledger/anchors")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		if resp.StatusCode == http.StatusOK {
			list, err := anchor.ParseList(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Anchors) == 1 && list.Anchors[0].State == state {
				return list
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %s anchor listed; last answer: %s", state, last)
	return nil
}
