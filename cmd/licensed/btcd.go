package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/rpcclient"

	"github.com/licensed/licensed/internal/launch/regtest"
	"github.com/licensed/licensed/payments/bitcoin"
	"github.com/licensed/licensed/web"
)

// BitcoinConfig is the Bitcoin part of Config. Bitcoin payments
// are on when an account key is set, and always under `dev` (a regtest btcd
// of its own, a generated account key and a dev wallet).
type BitcoinConfig struct {
	// Xpub is the operator's BIP84 account extended public key (zpub/xpub on
	// mainnet, vpub/tpub on test networks), or a wpkh(…/0/*) descriptor.
	// No private key ever goes to the server. Not a secret, but it reveals
	// every payment: env only, LICENSED_BTC_XPUB or LICENSED_BTC_XPUB_FILE.
	Xpub string
	// Network is mainnet, testnet3, signet, regtest or simnet. Env
	// LICENSED_BTC_NETWORK; default mainnet, regtest under dev.
	Network string
	// Confirmations settle a payment (default 1). Env
	// LICENSED_BTC_CONFIRMATIONS.
	Confirmations int
	// ReorgDepth is how many confirmations bury a payment: until then the
	// order keeps its link to its license entry, whatever the retention, so
	// a reorg suspends the license (default 6). Env LICENSED_BTC_REORG_DEPTH.
	ReorgDepth int
	// GapLimit warns when more unused invoice addresses follow the last paid
	// one (default 20; set your wallet's gap limit at least this high). Env
	// LICENSED_BTC_GAP_LIMIT.
	GapLimit int
	// Expiry is how long an invoice may be paid (default 15m). Env
	// LICENSED_BTC_EXPIRY.
	Expiry time.Duration
	// Rate is a static price per BTC, "usd=65000,eur=60000" (major units).
	// Env LICENSED_BTC_RATE; default usd=50000 under dev.
	Rate string
	// RateURL and RatePath read the price from an HTTP JSON ticker instead,
	// e.g. https://api.coinbase.com/v2/prices/BTC-{CURRENCY}/spot and
	// data.amount. Env LICENSED_BTC_RATE_URL, LICENSED_BTC_RATE_PATH.
	RateURL, RatePath string
	// RPCHost is btcd's RPC host:port; RPCUser and RPCPass its credentials
	// (secrets: env LICENSED_BTCD_RPC_USER, LICENSED_BTCD_RPC_PASS or their
	// _FILE); RPCCert the path of btcd's rpc.cert (empty: no TLS, only for a
	// btcd on loopback). Env LICENSED_BTCD_RPC_HOST, LICENSED_BTCD_RPC_CERT.
	// Under dev, an empty RPCHost starts a regtest btcd in DATA_DIR/btcd.
	RPCHost, RPCUser, RPCPass, RPCCert string
}

func (c *BitcoinConfig) register(t *flagTable, dev bool) {
	t.Secret(&c.Xpub, "LICENSED_BTC_XPUB")
	t.Secret(&c.RPCUser, "LICENSED_BTCD_RPC_USER")
	t.Secret(&c.RPCPass, "LICENSED_BTCD_RPC_PASS")
	defNet, defRate := "mainnet", ""
	if dev {
		defNet, defRate = "regtest", "usd=50000"
	}
	t.Choice(&c.Network, "btc-network", defNet, "Bitcoin network", "mainnet", "testnet3", "signet", "regtest", "simnet")
	t.Int(&c.Confirmations, "btc-confirmations", bitcoin.DefaultConfirmations, "confirmations that settle a Bitcoin payment")
	t.Int(&c.ReorgDepth, "btc-reorg-depth", bitcoin.DefaultReorgDepth, "confirmations after which a reorg is no longer plausible: until then a Bitcoin order keeps its link to its license entry")
	t.Int(&c.GapLimit, "btc-gap-limit", bitcoin.DefaultGapLimit, "warn when more unused invoice addresses than this follow the last paid one")
	t.Duration(&c.Expiry, "btc-expiry", bitcoin.DefaultExpiry, "how long a Bitcoin invoice may be paid")
	t.String(&c.Rate, "btc-rate", defRate, "static price per BTC, e.g. usd=65000,eur=60000")
	t.String(&c.RateURL, "btc-rate-url", "", "JSON ticker URL for the BTC price; {currency}/{CURRENCY} are replaced")
	t.String(&c.RatePath, "btc-rate-path", "", "dot-separated path of the price in the ticker's JSON, e.g. data.amount")
	t.String(&c.RPCHost, "btcd-rpc-host", "", "btcd RPC host:port; under dev, empty starts a regtest btcd")
	t.String(&c.RPCCert, "btcd-rpc-cert", "", "btcd's rpc.cert; empty means no TLS, for a btcd on loopback only")
}

// params returns the network's chain parameters.
func (c *BitcoinConfig) params() (*chaincfg.Params, error) {
	switch c.Network {
	case "mainnet", "main":
		return &chaincfg.MainNetParams, nil
	case "testnet3", "testnet":
		return &chaincfg.TestNet3Params, nil
	case "signet":
		return &chaincfg.SigNetParams, nil
	case "regtest":
		return &chaincfg.RegressionNetParams, nil
	case "simnet":
		return &chaincfg.SimNetParams, nil
	}
	return nil, usageError(fmt.Sprintf("bad Bitcoin network %q: use mainnet, testnet3, signet, regtest or simnet", c.Network))
}

// rpcConfig is how to reach the configured btcd (HTTP POST mode; the watcher
// switches it to the websocket endpoint).
func (c *BitcoinConfig) rpcConfig() (*rpcclient.ConnConfig, error) {
	cc := &rpcclient.ConnConfig{Host: c.RPCHost, User: c.RPCUser, Pass: c.RPCPass, HTTPPostMode: true, DisableTLS: c.RPCCert == ""}
	if c.RPCCert != "" {
		var err error
		if cc.Certificates, err = os.ReadFile(c.RPCCert); err != nil {
			return nil, fmt.Errorf("couldn't read btcd's RPC certificate: %w", err)
		}
	}
	return cc, nil
}

func (c *BitcoinConfig) rates() (bitcoin.RateSource, error) {
	switch {
	case c.RateURL != "":
		return &bitcoin.TickerRate{URL: c.RateURL, Path: c.RatePath}, nil
	case c.Rate != "":
		r, err := bitcoin.ParseStaticRate(c.Rate)
		if err != nil {
			return nil, usageError(err.Error())
		}
		return r, nil
	}
	return nil, usageError("Bitcoin payments need a price: set LICENSED_BTC_RATE (static, e.g. usd=65000) or LICENSED_BTC_RATE_URL and LICENSED_BTC_RATE_PATH (a JSON ticker)")
}

// openBitcoin wires the Bitcoin method into the payments service: under
// `dev` with a regtest btcd of its own and the dev wallet pages. The watcher
// starts once Open has succeeded and stops at Close.
func (m *Main) openBitcoin(ctx context.Context, deps *web.Deps) (start func(), err error) {
	cfg := &m.Config.Bitcoin
	if deps.Payments == nil {
		return func() {}, nil
	}
	if cfg.Xpub == "" && !m.Dev {
		m.Log.Info("Bitcoin payments are off: set LICENSED_BTC_XPUB to the account key of your wallet")
		return func() {}, nil
	}
	params, err := cfg.params()
	if err != nil {
		return nil, err
	}
	rates, err := cfg.rates()
	if err != nil {
		return nil, err
	}
	xpub := cfg.Xpub
	var rpc *rpcclient.ConnConfig
	if m.Dev && cfg.RPCHost == "" {
		if params.Net != chaincfg.RegressionNetParams.Net && params.Net != chaincfg.SimNetParams.Net {
			return nil, usageError("dev starts a regtest or simnet btcd: use --btc-network regtest (or give --btcd-rpc-host)")
		}
		dev, err := m.startDevBtcd(ctx, cfg.Network, params)
		if err != nil {
			return nil, err
		}
		rpc = dev.node.ConnConfig(true)
		if xpub == "" {
			if xpub, err = devXpub(m.Config.DataDir); err != nil {
				return nil, err
			}
		}
		deps.BitcoinDev = &web.BitcoinDev{Pay: dev.wallet.PayTo, Mine: dev.node.Mine}
		if params.Net == chaincfg.RegressionNetParams.Net {
			// btcd wiped the regtest chain: a new chain is not a reorg of
			// the old one, so the watcher forgets the old blocks instead of
			// unwinding the payments of earlier dev runs.
			if _, err := m.DB.Exec(ctx, `delete from btc_blocks; delete from btc_chain`); err != nil {
				return nil, fmt.Errorf("couldn't reset the dev chain state: %w", err)
			}
		}
	} else {
		if cfg.RPCHost == "" {
			return nil, usageError("Bitcoin payments need btcd: set LICENSED_BTCD_RPC_HOST (and the RPC user and password)")
		}
		if rpc, err = cfg.rpcConfig(); err != nil {
			return nil, err
		}
		rpc.Endpoint, rpc.HTTPPostMode = "ws", false
	}
	m.btcdRPC = rpc
	acct, err := bitcoin.ParseAccount(xpub, params)
	if err != nil {
		return nil, usageError(err.Error())
	}
	btc, err := bitcoin.New(m.DB, bitcoin.Config{
		Params: params, Account: acct, Rates: rates, RPC: rpc,
		Expiry: cfg.Expiry, Confirmations: cfg.Confirmations, ReorgDepth: cfg.ReorgDepth, GapLimit: cfg.GapLimit,
		InvoiceURL: "/invoice/{ORDER_ID}", Log: m.Log,
	})
	if err != nil {
		return nil, err
	}
	deps.Payments.AddMethod(btc)
	if deps.BitcoinDev != nil {
		deps.BitcoinDev.Bitcoin = btc
	}
	m.Log.Info("Bitcoin payments on", "network", params.Name, "account", acct.Fingerprint(), "confirmations", cfg.Confirmations)
	return func() {
		if m.Server != nil {
			m.Server.Registry().MustRegister(btc.Collectors()...)
		}
		if deps.Pages != nil && deps.Pages.Invoices == nil {
			deps.Pages.Invoices = web.BitcoinInvoices(btc)
		}
		bg, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); btc.Run(bg, deps.Payments) }()
		m.closers = append(m.closers, func() { stop(); <-done })
	}, nil
}

type devBtcd struct {
	node   *regtest.Node
	wallet *regtest.Wallet
}

// startDevBtcd starts the dev btcd on loopback in DATA_DIR/btcd and mines
// past segwit activation and coinbase maturity to the dev wallet's key
// (DATA_DIR/btc-dev-wallet.wif). btcd wipes a regtest chain at every start,
// so the chain, and the dev invoices' payments, begin afresh each run.
func (m *Main) startDevBtcd(ctx context.Context, net string, params *chaincfg.Params) (*devBtcd, error) {
	dir := filepath.Join(m.Config.DataDir, "btcd")
	key, err := devKey(filepath.Join(m.Config.DataDir, "btc-dev-wallet.wif"), params)
	if err != nil {
		return nil, err
	}
	bin, err := btcdBinary(ctx, filepath.Join(m.Config.DataDir, "bin"))
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(m.Config.DataDir, "btcd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	m.closers = append(m.closers, func() { logf.Close() })
	w := regtest.NewWallet(key, params, nil)
	m.Log.Info("starting the dev btcd", "network", net, "dir", dir)
	node, err := regtest.Start(ctx, regtest.Config{Net: net, Binary: bin, Dir: dir, MiningAddr: w.Address(), Log: logf})
	if err != nil {
		return nil, err
	}
	m.closers = append(m.closers, func() {
		m.Log.Info("stopping the dev btcd")
		node.Stop()
	})
	w.SetRPC(node.RPC)
	if h, err := node.RPC.GetBlockCount(); err == nil && h < int64(regtest.SegwitHeight(params)+101) {
		if _, err := node.Mine(regtest.SegwitHeight(params) + 101 - int(h)); err != nil {
			return nil, err
		}
	}
	return &devBtcd{node: node, wallet: w}, nil
}

// btcdBinary finds btcd on PATH (`go install tool` puts the pinned one
// there), or in dir from an earlier run, or builds the version pinned in
// go.mod into dir (which needs the Go toolchain and this module's source:
// `licensed dev` run from the repository).
func btcdBinary(ctx context.Context, dir string) (string, error) {
	if p, err := exec.LookPath("btcd"); err == nil {
		return p, nil
	}
	if p := filepath.Join(dir, "btcd"); fileExists(p) {
		return p, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	p, err := regtest.Build(ctx, dir)
	if err != nil {
		return "", fmt.Errorf("no btcd on PATH and couldn't build the pinned one (run licensed dev from the repository, or `go install github.com/btcsuite/btcd@v0.24.2`): %w", err)
	}
	return p, nil
}

// devKey loads or makes a dev key kept at path (WIF, mode 0600): the dev
// wallet's, and the dev anchor key.
func devKey(path string, params *chaincfg.Params) (*btcec.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := btcec.NewPrivateKey()
		if err != nil {
			return nil, err
		}
		wif, err := btcutil.NewWIF(k, params, true)
		if err != nil {
			return nil, err
		}
		if err := writeNew(path, wif.String()); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	w, err := btcutil.DecodeWIF(strings.TrimSpace(string(b)))
	if err != nil || !w.IsForNet(params) {
		return nil, fmt.Errorf("%s is not a WIF private key of the %s network: delete it to make a new one", path, params.Name)
	}
	return w.PrivKey, nil
}

// devXpub loads or makes the dev operator's account key. Only the extended
// public key is kept: as in production, the server never sees the private
// side (which is thrown away: dev coins are worthless).
func devXpub(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "btc-dev-xpub")
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	seed := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, seed); err != nil {
		return "", err
	}
	// tpub: what ParseAccount takes on every test network.
	k, err := hdkeychain.NewMaster(seed, &chaincfg.TestNet3Params)
	if err != nil {
		return "", err
	}
	for _, i := range []uint32{84, 1, 0} {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			return "", err
		}
	}
	pub, err := k.Neuter()
	if err != nil {
		return "", err
	}
	if err := writeNew(path, pub.String()); err != nil {
		return "", err
	}
	return pub.String(), nil
}

func writeNew(path, content string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}
