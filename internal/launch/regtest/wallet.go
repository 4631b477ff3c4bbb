package regtest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Fee is what every transaction of a Wallet pays, in satoshis (about
// 7 sat/vB for one input and two outputs); a replacement pays ReplaceFee.
const (
	Fee        = 1000
	ReplaceFee = 3000
)

// Wallet spends coinbase outputs paid to one P2WPKH key. It keeps no state on
// disk: it finds mature coinbase outputs by reading blocks and remembers in
// memory which ones it has spent.
type Wallet struct {
	key  *btcec.PrivateKey
	addr *btcutil.AddressWitnessPubKeyHash
	rpc  *rpcclient.Client

	mu     sync.Mutex
	used   map[wire.OutPoint]bool
	height int64 // next block height to look at for coinbase outputs
}

// NewWallet returns a wallet for key on the network p that talks to rpc.
func NewWallet(key *btcec.PrivateKey, p *chaincfg.Params, rpc *rpcclient.Client) *Wallet {
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), p)
	if err != nil {
		panic(err) // a 20-byte hash is always a valid program
	}
	return &Wallet{key: key, addr: addr, rpc: rpc, used: map[wire.OutPoint]bool{}, height: 1}
}

// KeyFromWIF decodes a private key in WIF.
func KeyFromWIF(s string) (*btcec.PrivateKey, error) {
	w, err := btcutil.DecodeWIF(s)
	if err != nil {
		return nil, fmt.Errorf("regtest: bad WIF key: %w", err)
	}
	return w.PrivKey, nil
}

// Address is where the wallet's coins are: pass it as the mining address.
func (w *Wallet) Address() btcutil.Address { return w.addr }

// SetRPC points the wallet at another client (after a node restart).
func (w *Wallet) SetRPC(rpc *rpcclient.Client) {
	w.mu.Lock()
	w.rpc = rpc
	w.mu.Unlock()
}

type coin struct {
	op    wire.OutPoint
	value int64
	pk    []byte
}

// nextCoin finds an unspent mature coinbase output of the wallet.
func (w *Wallet) nextCoin() (coin, error) {
	tip, err := w.rpc.GetBlockCount()
	if err != nil {
		return coin{}, err
	}
	script, _ := txscript.PayToAddrScript(w.addr)
	for ; w.height <= tip-100; w.height++ {
		hash, err := w.rpc.GetBlockHash(w.height)
		if err != nil {
			return coin{}, err
		}
		blk, err := w.rpc.GetBlock(hash)
		if err != nil {
			return coin{}, err
		}
		cb := blk.Transactions[0]
		for i, out := range cb.TxOut {
			if !bytes.Equal(out.PkScript, script) {
				continue
			}
			op := wire.OutPoint{Hash: cb.TxHash(), Index: uint32(i)}
			if w.used[op] {
				continue
			}
			// Skip outputs spent in an earlier run (gettxout ignores the
			// mempool's spends, hence the in-memory set as well).
			if res, err := w.rpc.GetTxOut(&op.Hash, op.Index, false); err != nil || res == nil {
				continue
			}
			w.used[op] = true
			return coin{op: op, value: out.Value, pk: script}, nil
		}
	}
	return coin{}, errors.New("regtest: the wallet has no mature coins left; mine more blocks")
}

// Output is an output to pay.
type Output struct {
	Address btcutil.Address
	Sats    int64
}

// PayTo pays sats to addr (Pay with one output) and returns the
// transaction's id: the dev wallet's action as package web takes it
// (web.BitcoinDev.Pay).
func (w *Wallet) PayTo(addr btcutil.Address, sats int64) (txid string, err error) {
	tx, err := w.Pay(Output{Address: addr, Sats: sats})
	if err != nil {
		return "", err
	}
	return tx.TxHash().String(), nil
}

// Pay builds, signs and broadcasts a transaction paying outs (change back to
// the wallet), signalling BIP125 replaceability. It returns the transaction.
func (w *Wallet) Pay(outs ...Output) (*wire.MsgTx, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, err := w.nextCoin()
	if err != nil {
		return nil, err
	}
	tx, err := w.build(c, Fee, outs)
	if err != nil {
		return nil, err
	}
	return tx, w.send(tx)
}

// Replace broadcasts a BIP125 replacement of orig (which this wallet made):
// same input, outputs outs, a higher fee. btcd evicts orig from its mempool.
func (w *Wallet) Replace(orig *wire.MsgTx, outs ...Output) (*wire.MsgTx, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(orig.TxIn) != 1 {
		return nil, errors.New("regtest: can only replace the wallet's own one-input transactions")
	}
	op := orig.TxIn[0].PreviousOutPoint
	prev, err := w.rpc.GetRawTransaction(&op.Hash)
	if err != nil {
		return nil, fmt.Errorf("regtest: couldn't find the replaced input: %w", err)
	}
	out := prev.MsgTx().TxOut[op.Index]
	tx, err := w.build(coin{op: op, value: out.Value, pk: out.PkScript}, ReplaceFee, outs)
	if err != nil {
		return nil, err
	}
	return tx, w.send(tx)
}

func (w *Wallet) send(tx *wire.MsgTx) error {
	if _, err := w.rpc.SendRawTransaction(tx, false); err != nil {
		return fmt.Errorf("regtest: btcd refused the transaction: %w", err)
	}
	return nil
}

func (w *Wallet) build(c coin, fee int64, outs []Output) (*wire.MsgTx, error) {
	tx := wire.NewMsgTx(2)
	in := wire.NewTxIn(&c.op, nil, nil)
	in.Sequence = wire.MaxTxInSequenceNum - 2 // BIP125: replaceable
	tx.AddTxIn(in)
	total := int64(0)
	for _, o := range outs {
		pk, err := txscript.PayToAddrScript(o.Address)
		if err != nil {
			return nil, err
		}
		tx.AddTxOut(wire.NewTxOut(o.Sats, pk))
		total += o.Sats
	}
	change := c.value - total - fee
	if change < 0 {
		return nil, fmt.Errorf("regtest: a coin of %d sats can't pay %d plus the fee", c.value, total)
	}
	if change > 1000 {
		pk, _ := txscript.PayToAddrScript(w.addr)
		tx.AddTxOut(wire.NewTxOut(change, pk))
	}
	fetcher := txscript.NewCannedPrevOutputFetcher(c.pk, c.value)
	hashes := txscript.NewTxSigHashes(tx, fetcher)
	wit, err := txscript.WitnessSignature(tx, hashes, 0, c.value, c.pk, txscript.SigHashAll, w.key, true)
	if err != nil {
		return nil, fmt.Errorf("regtest: couldn't sign: %w", err)
	}
	tx.TxIn[0].Witness = wit
	return tx, nil
}

// TxHash is a convenience for tests: the txid of tx.
func TxHash(tx *wire.MsgTx) chainhash.Hash { return tx.TxHash() }
