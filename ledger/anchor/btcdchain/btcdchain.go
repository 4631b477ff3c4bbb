// Package btcdchain reads the Bitcoin block chain from a btcd node over its
// JSON-RPC interface, for anchor.Verify. The node must be one the caller
// trusts to follow the best chain; it needs no wallet and no index.
package btcdchain

import (
	"context"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"

	"github.com/licensed/licensed/ledger/anchor"
)

// Chain is an anchor.Chain over a btcd RPC client.
type Chain struct {
	RPC *rpcclient.Client
}

// Dial connects to btcd at host (host:port) in HTTP POST mode; cert is the
// PEM of btcd's rpc.cert, or nil for no TLS (a node on loopback only).
func Dial(host, user, pass string, cert []byte) (*Chain, error) {
	c, err := rpcclient.New(&rpcclient.ConnConfig{
		Host: host, User: user, Pass: pass, HTTPPostMode: true,
		DisableTLS: cert == nil, Certificates: cert,
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("btcdchain: couldn't set up the RPC client: %w", err)
	}
	return &Chain{RPC: c}, nil
}

// Close shuts the client down.
func (c *Chain) Close() { c.RPC.Shutdown() }

// BlockHash implements anchor.Chain. The RPC client takes no context: a
// cancelled ctx is only checked before the call.
func (c *Chain) BlockHash(ctx context.Context, height int64) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	h, err := c.RPC.GetBlockHash(height)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// OutputScripts implements anchor.Chain: it reads the whole block, so it
// holds for a node without a transaction index.
func (c *Chain) OutputScripts(ctx context.Context, blockHash, txid string) ([][]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bh, err := chainhash.NewHashFromStr(blockHash)
	if err != nil {
		return nil, err
	}
	blk, err := c.RPC.GetBlock(bh)
	if err != nil {
		return nil, err
	}
	for _, tx := range blk.Transactions {
		if tx.TxHash().String() != txid {
			continue
		}
		out := make([][]byte, len(tx.TxOut))
		for i, o := range tx.TxOut {
			out[i] = o.PkScript
		}
		return out, nil
	}
	return nil, anchor.ErrNotInBlock
}
