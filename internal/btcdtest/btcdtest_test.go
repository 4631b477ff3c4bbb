package btcdtest

import (
	"testing"

	"github.com/btcsuite/btcd/btcutil"

	"github.com/licensed/licensed/internal/launch/regtest"
)

func TestMain(m *testing.M) { Main(m) }

func TestPayConfirmAndReplace(t *testing.T) {
	n := Start(t, Options{Net: "simnet"})
	h, err := n.RPC.GetBlockCount()
	if err != nil || h != Height("simnet") {
		t.Fatalf("start height %d (%v), want %d", h, err, Height("simnet"))
	}
	dest, _ := btcutil.NewAddressWitnessPubKeyHash(make([]byte, 20), n.Params())
	tx, err := n.Wallet.Pay(regtest.Output{Address: dest, Sats: 50_000})
	if err != nil {
		t.Fatal(err)
	}
	repl, err := n.Wallet.Replace(tx, regtest.Output{Address: dest, Sats: 20_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.RPC.GetMempoolEntry(tx.TxHash().String()); err == nil {
		t.Fatal("the replaced transaction is still in the mempool")
	}
	n.MustMine(1)
	got, err := n.RPC.GetRawTransactionVerbose(ptr(repl.TxHash()))
	if err != nil || got.Confirmations != 1 {
		t.Fatalf("replacement: %+v, %v; want 1 confirmation", got, err)
	}
	n.Restart()
	if h, _ := n.RPC.GetBlockCount(); h != Height("simnet")+1 {
		t.Fatalf("after restart height %d, want %d", h, Height("simnet")+1)
	}
	if _, err := n.Wallet.Pay(regtest.Output{Address: dest, Sats: 1000}); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }
