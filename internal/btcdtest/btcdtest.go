// Package btcdtest gives each test its own btcd with a funded wallet. Use it
// in the tests of payments/bitcoin, web and licensed; the process itself is
// run by internal/launch/regtest.
//
// The first Start in a test binary builds the btcd pinned in go.mod (once per
// go.mod, cached in the user's cache folder). Every
// Start then runs a fresh btcd on loopback (regtest unless the test asks for
// simnet, whose chain survives a restart), mines past segwit activation and
// coinbase maturity to the test wallet (about half a second), and stops the
// node when the test ends. The keys are in testdata/wallet.json.
package btcdtest

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/licensed/licensed/internal/launch/regtest"
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
	binary   string
)

// setup finds or builds the pinned btcd. The binary is cached in the user's
// cache folder under a name derived from go.mod, so test binaries share it
// and nothing is left to clean up; a changed go.mod builds a new one.
func setup() {
	ctx := context.Background()
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		setupErr = fmt.Errorf("couldn't find go.mod: %v", err)
		return
	}
	mod, err := os.ReadFile(strings.TrimSpace(string(out)))
	if err != nil {
		setupErr = fmt.Errorf("couldn't read go.mod: %v", err)
		return
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	sum := sha256.Sum256(mod)
	dir := filepath.Join(cache, "licensed-btcdtest")
	binary = filepath.Join(dir, fmt.Sprintf("btcd-%x", sum[:8]))
	if _, err := os.Stat(binary); err == nil {
		return
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		setupErr = err
		return
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		setupErr = err
		return
	}
	defer os.RemoveAll(tmp)
	built, err := regtest.Build(ctx, tmp)
	if err != nil {
		setupErr = err
		return
	}
	// Atomic: a concurrent test binary either sees the whole file or none.
	setupErr = os.Rename(built, binary)
}

// Cleanup is kept for TestMain functions that call it; the cached binary
// stays for the next run and every node's folder is removed by its test.
func Cleanup() {}

// Main runs the tests.
func Main(m *testing.M) {
	os.Exit(m.Run())
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
	// Not tb.TempDir: a node restarted by the test must find the same folder
	// while the test runs, and btcd's files outlive t.TempDir's checks.
	dir, err := os.MkdirTemp("", "btcdtest-node-")
	if err != nil {
		tb.Fatal(err)
	}
	key, _ := regtest.KeyFromWIF(TestKeys().MiningWIF)
	w := regtest.NewWallet(key, params, nil)
	var log io.Writer
	if testing.Verbose() && os.Getenv("BTCDTEST_LOG") != "" {
		log = os.Stderr
	}
	var n *regtest.Node
	for attempt := 0; ; attempt++ {
		// Other test binaries start nodes at the same time: a port found
		// free may be taken before btcd binds it, and then btcd exits.
		n, err = regtest.Start(context.Background(), regtest.Config{Net: o.Net, Binary: binary, Dir: dir, MiningAddr: w.Address(), Log: log})
		if err == nil {
			break
		}
		if !errors.Is(err, regtest.ErrExited) || attempt == 3 {
			tb.Fatal(err)
		}
		os.RemoveAll(dir)
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
