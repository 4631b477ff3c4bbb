// Package regtest runs a private btcd in --regtest mode and pays from a
// single-key wallet with no btcd wallet at all: the development server's
// "pay from dev wallet" button and the Bitcoin tests both use it.
//
// A Node is a btcd child process listening on loopback only, its data in a
// folder of the caller's choice, with --txindex. The Wallet holds one key,
// mines coinbase outputs to its P2WPKH address, and builds, signs (BIP143)
// and broadcasts transactions with btcutil and txscript, including BIP125
// replacements. Nothing here is meant for real money: the dev and test keys
// sit on disk in the clear.
package regtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/rpcclient"
)

// Params are the regtest chain parameters.
var Params = &chaincfg.RegressionNetParams

// ParamsFor returns the parameters of net: "regtest" (the default) or
// "simnet". btcd wipes a regtest chain every time it starts; a simnet chain
// survives restarts, which is what tests of a node restart need.
func ParamsFor(net string) (*chaincfg.Params, error) {
	switch net {
	case "", "regtest":
		return &chaincfg.RegressionNetParams, nil
	case "simnet":
		return &chaincfg.SimNetParams, nil
	}
	return nil, fmt.Errorf("regtest: unknown network %q: use regtest or simnet", net)
}

// SegwitHeight is the first height at which btcd enforces segwit on a test
// network: BIP9 there takes three confirmation windows (432 blocks on regtest,
// 300 on simnet). A Wallet needs the chain this tall, plus 100 blocks of
// coinbase maturity, before it can spend.
func SegwitHeight(p *chaincfg.Params) int {
	return 3 * int(p.MinerConfirmationWindow)
}

// Config describes a node to start.
type Config struct {
	// Net is "regtest" (default) or "simnet" (see ParamsFor).
	Net string
	// Binary is the path of the btcd executable (see Build).
	Binary string
	// Dir holds the node's chain data and logs; reused across restarts.
	Dir string
	// RPCPort and P2PPort are loopback ports; 0 picks free ones.
	RPCPort, P2PPort int
	// User and Pass authenticate RPC clients; empty picks "regtest" and a
	// random password.
	User, Pass string
	// MiningAddr receives the coinbase of generated blocks.
	MiningAddr btcutil.Address
	// Log receives btcd's standard output and error (nil discards).
	Log io.Writer
}

// Node is a running btcd.
type Node struct {
	cfg  Config
	cmd  *exec.Cmd
	done chan struct{}
	// RPC is an HTTP-POST client for plain calls (mining, broadcasting).
	RPC *rpcclient.Client
}

// Build compiles the btcd pinned in go.mod into dir and returns its path.
// It runs `go build` in the module, so it needs the Go toolchain; the build
// cache makes repeated builds cheap.
func Build(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "btcd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/btcsuite/btcd")
	// -mod=readonly: building the tool must never rewrite go.mod or go.sum.
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("regtest: couldn't build btcd: %v\n%s", err, b)
	}
	return out, nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ErrExited means btcd exited at start, most often because another process
// took one of its ports (free when FreePort looked) first: starting again
// with other ports may work.
var ErrExited = errors.New("regtest: btcd exited at start")

// Start starts btcd and waits until it answers RPC calls.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	var err error
	if cfg.RPCPort == 0 {
		if cfg.RPCPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if cfg.P2PPort == 0 {
		if cfg.P2PPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if cfg.User == "" {
		cfg.User = "regtest"
	}
	if cfg.Pass == "" {
		cfg.Pass = strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if _, err := ParamsFor(cfg.Net); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg}
	return n, n.start(ctx)
}

func (n *Node) start(ctx context.Context) error {
	cfg := n.cfg
	net := "--regtest"
	if cfg.Net == "simnet" {
		net = "--simnet"
	}
	args := []string{
		net, "--txindex", "--notls",
		"--datadir=" + filepath.Join(cfg.Dir, "data"),
		"--logdir=" + filepath.Join(cfg.Dir, "logs"),
		"--rpclisten=127.0.0.1:" + strconv.Itoa(cfg.RPCPort),
		"--listen=127.0.0.1:" + strconv.Itoa(cfg.P2PPort),
		"--rpcuser=" + cfg.User, "--rpcpass=" + cfg.Pass,
		"--nodnsseed", "--debuglevel=warn",
		"--configfile=" + filepath.Join(cfg.Dir, "btcd.conf"),
	}
	if cfg.MiningAddr != nil {
		args = append(args, "--miningaddr="+cfg.MiningAddr.EncodeAddress())
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return err
	}
	// btcd creates a sample config when the file is missing; an empty one
	// keeps every setting on the command line.
	if err := os.WriteFile(filepath.Join(cfg.Dir, "btcd.conf"), nil, 0o600); err != nil {
		return err
	}
	cmd := exec.Command(cfg.Binary, args...)
	cmd.Stdout, cmd.Stderr = cfg.Log, cfg.Log
	// The node dies with us, even when we are killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("regtest: couldn't start btcd: %w", err)
	}
	n.cmd = cmd
	n.done = make(chan struct{})
	go func() { cmd.Wait(); close(n.done) }()
	rpc, err := rpcclient.New(n.ConnConfig(false), nil)
	if err != nil {
		n.kill()
		return err
	}
	n.RPC = rpc
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err = rpc.GetBlockCount(); err == nil {
			return nil
		}
		select {
		case <-n.done:
			rpc.Shutdown()
			return fmt.Errorf("%w (see %s): %v", ErrExited, filepath.Join(cfg.Dir, "logs"), err)
		case <-ctx.Done():
			n.kill()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.kill()
			return fmt.Errorf("regtest: btcd does not answer RPC: %w", err)
		}
	}
}

// ConnConfig returns the RPC connection settings: websocket when ws is true
// (for notifications), HTTP POST otherwise.
func (n *Node) ConnConfig(ws bool) *rpcclient.ConnConfig {
	return &rpcclient.ConnConfig{
		Host: n.Host(), Endpoint: "ws", User: n.cfg.User, Pass: n.cfg.Pass,
		DisableTLS: true, HTTPPostMode: !ws,
	}
}

// Params are the node's chain parameters.
func (n *Node) Params() *chaincfg.Params {
	p, _ := ParamsFor(n.cfg.Net)
	return p
}

// Host is the RPC host:port.
func (n *Node) Host() string { return "127.0.0.1:" + strconv.Itoa(n.cfg.RPCPort) }

// User and Pass are the RPC credentials.
func (n *Node) User() string { return n.cfg.User }

// Pass is the RPC password.
func (n *Node) Pass() string { return n.cfg.Pass }

// Stop shuts btcd down gracefully (SIGINT, then SIGKILL after 10 s) and waits
// for it to exit. Stopping a stopped node does nothing.
func (n *Node) Stop() error {
	if n.cmd == nil {
		return nil
	}
	if n.RPC != nil {
		n.RPC.Shutdown()
		n.RPC = nil
	}
	n.cmd.Process.Signal(os.Interrupt)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		n.kill()
	}
	n.cmd = nil
	return nil
}

func (n *Node) kill() {
	if n.cmd != nil {
		n.cmd.Process.Kill()
		<-n.done
	}
}

// Restart stops the node and starts it again on the same folder and ports.
func (n *Node) Restart(ctx context.Context) error {
	n.Stop()
	return n.start(ctx)
}

// Mine generates k blocks (to the mining address) and returns their hashes.
func (n *Node) Mine(k int) ([]string, error) {
	if n.RPC == nil {
		return nil, errors.New("regtest: the node is stopped")
	}
	hs, err := n.RPC.Generate(uint32(k))
	if err != nil {
		return nil, fmt.Errorf("regtest: couldn't mine: %w", err)
	}
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out, nil
}
