// Package btcdtest gives each test its own btcd with a funded wallet.
//
// The first Start in a test binary builds the btcd pinned in go.mod. Every
// Start then runs a fresh btcd on loopback (regtest unless the test asks for
// simnet, whose chain survives a restart), mines past segwit activation and
// coinbase maturity to the test wallet (about half a second), and stops the
// node when the test ends. The keys are in testdata/wallet.json.
package btcdtest

import (
	"context"
	_ "embed"
	"encoding/json"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/licensed/licensed/payments/bitcoin/regtest"
)

//go:embed testdata/wallet.json
var walletJSON []byte

// Keys are the test keys of testdata/wallet.json.
type Keys struct {
	Seed        string `json:"seed"`
	AccountTprv string `json:"account_tprv"`
	AccountTpub string `json:"account_tpub"`
	MiningWIF   string `json:"mining_wif"`
}

// TestKeys returns the test keys.
func TestKeys() Keys {
	var k Keys
	if err := json.Unmarshal(walletJSON, &k); err != nil {
		panic(err)
	}
	return k
}

// Node is a test's btcd and the wallet that mines to it.
type Node struct {
	*regtest.Node
	Wallet *regtest.Wallet
	tb     testing.TB
}

var (
	once     sync.Once
	setupErr error
	binDir   string
	binary   string
)

func setup() {
	binDir, setupErr = os.MkdirTemp("", "btcdtest-")
	if setupErr != nil {
		return
	}
	binary, setupErr = regtest.Build(context.Background(), binDir)
}

// Cleanup removes the btcd binary; Main calls it. Packages that also use
// pgtest call it in their TestMain after m.Run.
func Cleanup() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// Main runs the tests, then Cleanup.
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// Options change what Start starts.
type Options struct {
	// Net is "regtest" (default) or "simnet" (the chain survives Restart).
	Net string
}

// Start starts a btcd for this test, funds the wallet, and stops the node
// when the test ends.
func Start(tb testing.TB, opts ...Options) *Node {
	tb.Helper()
	once.Do(setup)
	if setupErr != nil {
		tb.Fatalf("btcdtest: %v", setupErr)
	}
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	params, err := regtest.ParamsFor(o.Net)
	if err != nil {
		tb.Fatal(err)
	}
	dir, err := os.MkdirTemp(binDir, "node-")
	if err != nil {
		tb.Fatal(err)
	}
	key, _ := regtest.KeyFromWIF(TestKeys().MiningWIF)
	w := regtest.NewWallet(key, params, nil)
	var log io.Writer
	if testing.Verbose() && os.Getenv("BTCDTEST_LOG") != "" {
		log = os.Stderr
	}
	n, err := regtest.Start(context.Background(), regtest.Config{Net: o.Net, Binary: binary, Dir: dir, MiningAddr: w.Address(), Log: log})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		n.Stop()
		os.RemoveAll(dir)
	})
	w.SetRPC(n.RPC)
	node := &Node{Node: n, Wallet: w, tb: tb}
	node.MustMine(regtest.SegwitHeight(params) + 101)
	return node
}

// Height is the chain height right after Start.
func Height(net string) int64 {
	p, _ := regtest.ParamsFor(net)
	return int64(regtest.SegwitHeight(p) + 101)
}

// Restart stops btcd and starts it again on the same folder and ports.
func (n *Node) Restart() {
	n.tb.Helper()
	if err := n.Node.Restart(context.Background()); err != nil {
		n.tb.Fatal(err)
	}
	n.Wallet.SetRPC(n.RPC)
}

// MustMine mines k blocks, in batches, or fails the test.
func (n *Node) MustMine(k int) []string {
	n.tb.Helper()
	var all []string
	for k > 0 {
		b := min(k, 200)
		hs, err := n.Mine(b)
		if err != nil {
			n.tb.Fatal(err)
		}
		all = append(all, hs...)
		k -= b
	}
	return all
}
