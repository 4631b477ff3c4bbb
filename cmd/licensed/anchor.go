package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/rpcclient"

	"github.com/licensed/licensed/payments/bitcoin/anchor"
	"github.com/licensed/licensed/web"
)

// AnchorConfig is the Bitcoin timestamp of the ledger (package
// payments/bitcoin/anchor): off unless an anchor key is set, and under
// `dev`, where a key is generated (DATA_DIR/anchor-key.wif) and funded from
// the dev wallet. The anchors use the btcd and network of BitcoinConfig.
type AnchorConfig struct {
	// Key is the anchor key, a WIF private key of the Bitcoin network
	// (secret: env LICENSED_ANCHOR_KEY or LICENSED_ANCHOR_KEY_FILE). It is
	// the only private key the server holds; fund its address (logged at
	// start) with a small amount. Keep it apart from the payments wallet.
	Key string
	// Interval is the least time between two anchors (default 24h); an
	// unchanged ledger is not anchored again.
	Interval time.Duration
	// FeeRate is the anchor transaction's fee rate in sat/vB (default 5).
	FeeRate int64
	// ScanFrom is the block height from which the key's funding is looked
	// for (default 0: the tip when the server first runs with the key).
	ScanFrom int64
	// poll is how often the anchorer looks at the chain (default a minute);
	// tests shorten it.
	poll time.Duration
}

func (c *AnchorConfig) register(t *flagTable) {
	t.Secret(&c.Key, "LICENSED_ANCHOR_KEY")
	t.Duration(&c.Interval, "anchor-interval", anchor.DefaultInterval, "least time between two Bitcoin anchors of the ledger (on when LICENSED_ANCHOR_KEY is set, and under dev)")
	t.Int64(&c.FeeRate, "anchor-fee-rate", anchor.DefaultFeeRate, "fee rate of the anchor transactions in sat/vB (one anchor is about 157 vB)")
	t.Int64(&c.ScanFrom, "anchor-scan-from", 0, "block height from which the anchor key's funding is searched; 0: the tip when first run with the key")
}

// openAnchor starts the ledger's Bitcoin anchors when a key is set (or
// under dev with its own btcd) and serves them at /ledger/anchors. It
// anchors the checkpoint /ledger/checkpoint serves: the newest one a quorum
// of witnesses cosigned when the ledger has witnesses, the latest signed
// one otherwise.
//
// The anchorer starts, and its metrics are registered, by start, once Open
// has succeeded; it stops at Close.
func (m *Main) openAnchor(ctx context.Context, deps *web.Deps) (start func(), err error) {
	cfg, btc := &m.Config.Anchor, &m.Config.Bitcoin
	dev := m.Dev && deps.BitcoinDev != nil && btc.RPCHost == ""
	if cfg.Key == "" && !dev {
		return func() {}, nil
	}
	params, err := btc.params()
	if err != nil {
		return nil, err
	}
	rpc := m.btcdRPC
	if rpc == nil {
		if btc.RPCHost == "" {
			return nil, usageError("the ledger's Bitcoin anchors need btcd: set LICENSED_BTCD_RPC_HOST (and the RPC user and password)")
		}
		if rpc, err = btc.rpcConfig(); err != nil {
			return nil, err
		}
	}
	var key *btcec.PrivateKey
	scanFrom := cfg.ScanFrom
	if cfg.Key != "" {
		if key, err = anchor.ParseKey(cfg.Key, params); err != nil {
			return nil, usageError("LICENSED_ANCHOR_KEY: " + err.Error())
		}
	} else {
		// dev: btcd wiped the regtest chain, so the anchors of earlier
		// runs are gone; the key is funded afresh below.
		if params.Net == chaincfg.RegressionNetParams.Net {
			if _, err := m.DB.Exec(ctx, `delete from ledger_anchors; delete from ledger_anchor_coins; delete from ledger_anchor_scan`); err != nil {
				return nil, fmt.Errorf("couldn't reset the dev anchors: %w", err)
			}
		}
		if key, err = devKey(filepath.Join(m.Config.DataDir, "anchor-key.wif"), params); err != nil {
			return nil, err
		}
		tip, err := blockCount(rpc)
		if err != nil {
			return nil, err
		}
		scanFrom = tip + 1
	}
	led := deps.Ledger
	a, err := anchor.New(m.DB, anchor.Config{
		Params: params, RPC: rpc, Key: key, FeeRate: cfg.FeeRate, Interval: cfg.Interval,
		ReorgDepth: btc.ReorgDepth, ScanFrom: scanFrom, Poll: cfg.poll, Log: m.Log,
		Checkpoint: func(ctx context.Context) ([]byte, error) {
			if led.Witnessed != nil {
				n, ok, err := led.Witnessed.Served(ctx)
				if !ok {
					return nil, err
				}
				return n, err
			}
			cp, err := led.Store.Latest(ctx)
			return cp.Note, err
		},
	})
	if err != nil {
		return nil, err
	}
	m.closers = append(m.closers, a.Close)
	if dev {
		addr, _ := btcutil.DecodeAddress(a.Address(), params)
		if _, err := deps.BitcoinDev.Pay(addr, 1_000_000); err != nil {
			return nil, fmt.Errorf("couldn't fund the dev anchor key: %w", err)
		}
		if _, err := deps.BitcoinDev.Mine(1); err != nil {
			return nil, err
		}
	}
	led.Anchors = a
	what := "the latest signed checkpoint"
	if led.Witnessed != nil {
		what = "the newest cosigned checkpoint"
	}
	m.Log.Info("ledger anchors in Bitcoin on", "address", a.Address(), "anchors", what,
		"interval", cfg.Interval.String(), "fee_rate_sat_vb", cfg.FeeRate)
	return func() {
		if m.Server != nil {
			m.Server.Registry().MustRegister(a.Collectors()...)
		}
		bg, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { a.Run(bg) })
		m.closers = append(m.closers, func() { cancel(); wg.Wait() })
	}, nil
}

// blockCount asks btcd for its tip's height.
func blockCount(cc *rpcclient.ConnConfig) (int64, error) {
	c := *cc
	c.HTTPPostMode = true
	client, err := rpcclient.New(&c, nil)
	if err != nil {
		return 0, err
	}
	defer client.Shutdown()
	return client.GetBlockCount()
}
