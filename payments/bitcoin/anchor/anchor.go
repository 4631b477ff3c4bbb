// Package anchor timestamps the license ledger in Bitcoin: once per
// interval it pays, from a small operator-funded key, a transaction whose
// OP_RETURN output carries the digest of the ledger's latest checkpoint
// (the format is package ledger/anchor), and follows that transaction into
// a block, through reorgs, until it is buried.
//
// Use it as
//
//	a, err := anchor.New(db, anchor.Config{Params: p, RPC: cc, Key: k, Checkpoint: src})
//	go a.Run(ctx)        // or a.Step(ctx) when the caller drives it
//	list, err := a.List(ctx)
//
// # The key
//
// The anchor key is the one private key the server holds. It is not the
// payments account (an xpub; the server never holds its private side): fund
// its P2WPKH address (Address) with a small amount, and the anchors spend it
// down, each paying its fee and sending the change back to the same
// address. A transaction of one input, the OP_RETURN output and the change
// output is AnchorVSize virtual bytes, so a fee rate of r sat/vB costs about
// r·AnchorVSize satoshis per anchor. The key is never logged nor put in an
// error.
//
// # Finding coins without a wallet
//
// btcd has no wallet: the anchorer finds its coins by reading every block
// from ScanFrom (default: the tip when it first ran) for outputs paying the
// key, plus the change of its own anchors, and checks each with gettxout
// before spending it. Fund the key after the first start, or set ScanFrom at
// or below the funding block.
//
// # When it anchors, and reorgs
//
// A Step anchors the checkpoint Checkpoint returns when no anchor exists,
// when the newest one was replaced, or when the newest is Interval old and
// the ledger has grown since (an unchanged ledger is not anchored again).
// An empty ledger is not anchored. Every Step also looks at each anchor not
// yet ReorgDepth blocks deep: in a block of the best chain, it is confirmed;
// in the mempool (a reorg put it back), pending; unknown to the node (a
// restarted node lost its mempool, or the broadcast never arrived), it is
// broadcast again from the stored signed transaction; and when the node
// refuses it (a conflicting transaction spent its input), it is replaced:
// the next anchor is made at once, of the latest checkpoint.
//
// The state is in Postgres (migration 014_ledger_anchors), so a restart
// loses nothing. Every server process may run an anchorer on the same
// database: an anchor is stored under an advisory lock, after checking no
// other process stored one since it was found due.
package anchor

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/ledger"
	lanchor "github.com/licensed/licensed/ledger/anchor"
)

// Defaults of Config.
const (
	DefaultFeeRate    = 5 // sat/vB
	DefaultInterval   = 24 * time.Hour
	DefaultReorgDepth = 6
	DefaultPoll       = time.Minute
)

// AnchorVSize is the virtual size of an anchor transaction with a change
// output (one P2WPKH input with a 72-byte signature, the 38-byte OP_RETURN
// script, one P2WPKH change output); 1 vB less when the signature is 71
// bytes, 31 vB less without change.
const AnchorVSize = 157

// dust is the least change output kept; less goes to the fee.
const dust = 546

// Config configures an Anchorer.
type Config struct {
	// Params is the Bitcoin network.
	Params *chaincfg.Params
	// RPC reaches btcd (HTTP POST mode is used whatever it says).
	RPC *rpcclient.ConnConfig
	// Key is the anchor key (secret).
	Key *btcec.PrivateKey
	// FeeRate is in sat/vB (default DefaultFeeRate).
	FeeRate int64
	// Interval is the least time between two anchors (default a day).
	Interval time.Duration
	// ReorgDepth is how deep an anchor must be before it is no longer
	// watched (default 6).
	ReorgDepth int
	// Poll is how often Run steps (default a minute).
	Poll time.Duration
	// ScanFrom is the first block height searched for the key's funding;
	// 0 means the tip at the first Step.
	ScanFrom int64
	// Checkpoint returns the signed checkpoint note to anchor (with its
	// cosignatures when the ledger has witnesses), or nil when there is
	// none yet.
	Checkpoint func(ctx context.Context) ([]byte, error)
	// Log receives what the anchorer does (default: discarded).
	Log *slog.Logger
}

// Anchorer makes and follows the anchors. Create it with New.
type Anchorer struct {
	db       *pgxpool.Pool
	rpc      *rpcclient.Client
	cfg      Config
	addr     btcutil.Address
	pkScript []byte

	scannedTip string // the tip the last scan reached
	broke      bool   // the last anchor attempt found no coin (to log once)
	now        func() time.Time
}

// ParseKey decodes the anchor key from WIF and checks it is for network p.
// Its error never shows the key.
func ParseKey(wif string, p *chaincfg.Params) (*btcec.PrivateKey, error) {
	w, err := btcutil.DecodeWIF(wif)
	if err != nil {
		return nil, errors.New("anchor: the anchor key is not a WIF private key")
	}
	if !w.IsForNet(p) {
		return nil, fmt.Errorf("anchor: the anchor key is not a key of the %s network", p.Name)
	}
	return w.PrivKey, nil
}

// New returns an anchorer on db. It connects to btcd lazily.
func New(db *pgxpool.Pool, cfg Config) (*Anchorer, error) {
	if cfg.Params == nil || cfg.RPC == nil || cfg.Key == nil || cfg.Checkpoint == nil {
		return nil, errors.New("anchor: Params, RPC, Key and Checkpoint are required")
	}
	if cfg.FeeRate <= 0 {
		cfg.FeeRate = DefaultFeeRate
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.ReorgDepth <= 0 {
		cfg.ReorgDepth = DefaultReorgDepth
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cc := *cfg.RPC
	cc.HTTPPostMode, cc.Endpoint = true, ""
	rpc, err := rpcclient.New(&cc, nil)
	if err != nil {
		return nil, fmt.Errorf("anchor: couldn't set up the btcd client: %w", err)
	}
	addr, err := btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(cfg.Key.PubKey().SerializeCompressed()), cfg.Params)
	if err != nil {
		return nil, err
	}
	pk, err := txscript.PayToAddrScript(addr)
	if err != nil {
		return nil, err
	}
	return &Anchorer{db: db, rpc: rpc, cfg: cfg, addr: addr, pkScript: pk, now: time.Now}, nil
}

// Address is the anchor key's address, to fund.
func (a *Anchorer) Address() string { return a.addr.EncodeAddress() }

// Close shuts the btcd client down.
func (a *Anchorer) Close() { a.rpc.Shutdown() }

// Run steps every Poll until ctx ends; a failed step is logged and retried
// at the next.
func (a *Anchorer) Run(ctx context.Context) {
	t := time.NewTicker(a.cfg.Poll)
	defer t.Stop()
	for {
		if err := a.Step(ctx); err != nil && ctx.Err() == nil {
			a.cfg.Log.Warn("ledger anchor step failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Step scans new blocks for the key's funding, follows the anchors not yet
// buried (rebroadcasting or replacing the ones a reorg dropped), and
// anchors the latest checkpoint when one is due.
func (a *Anchorer) Step(ctx context.Context) error {
	tip, err := a.rpc.GetBlockCount()
	if err != nil {
		return fmt.Errorf("anchor: couldn't reach btcd: %w", err)
	}
	if err := a.scan(ctx, tip); err != nil {
		return err
	}
	if err := a.follow(ctx, tip); err != nil {
		return err
	}
	return a.anchorIfDue(ctx)
}

// scan records the outputs paying the key in the blocks since the last
// scan, and in the ReorgDepth blocks before it (a reorg may have brought
// other ones).
func (a *Anchorer) scan(ctx context.Context, tip int64) error {
	tipHash, err := a.rpc.GetBlockHash(tip)
	if err != nil {
		return fmt.Errorf("anchor: couldn't read the tip: %w", err)
	}
	if tipHash.String() == a.scannedTip {
		return nil
	}
	var last int64
	err = a.db.QueryRow(ctx, `select height from ledger_anchor_scan`).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		last = tip
		if a.cfg.ScanFrom > 0 {
			last = a.cfg.ScanFrom - 1
		}
		_, err = a.db.Exec(ctx, `insert into ledger_anchor_scan (height) values ($1) on conflict do nothing`, last)
	}
	if err != nil {
		return fmt.Errorf("anchor: couldn't read the scan height: %w", err)
	}
	from := max(last-int64(a.cfg.ReorgDepth), 1)
	if a.scannedTip == "" {
		from = last + 1 // the first scan of this process starts where the last one ended
	}
	for h := from; h <= tip; h++ {
		if err := a.scanBlock(ctx, h); err != nil {
			return err
		}
	}
	if _, err := a.db.Exec(ctx, `update ledger_anchor_scan set height = greatest(height, $1)`, tip); err != nil {
		return fmt.Errorf("anchor: couldn't store the scan height: %w", err)
	}
	a.scannedTip = tipHash.String()
	return nil
}

func (a *Anchorer) scanBlock(ctx context.Context, h int64) error {
	hash, err := a.rpc.GetBlockHash(h)
	if err != nil {
		return fmt.Errorf("anchor: couldn't read block %d: %w", h, err)
	}
	blk, err := a.rpc.GetBlock(hash)
	if err != nil {
		return fmt.Errorf("anchor: couldn't read block %d: %w", h, err)
	}
	for _, tx := range blk.Transactions {
		for i, out := range tx.TxOut {
			if !bytes.Equal(out.PkScript, a.pkScript) || out.Value <= 0 {
				continue
			}
			if _, err := a.db.Exec(ctx, `insert into ledger_anchor_coins (txid, vout, value, pk_script)
				values ($1, $2, $3, $4) on conflict do nothing`, tx.TxHash().String(), i, out.Value, out.PkScript); err != nil {
				return fmt.Errorf("anchor: couldn't record a coin: %w", err)
			}
		}
	}
	return nil
}

type row struct {
	id     int64
	txid   string
	raw    []byte
	state  string
	height *int64
}

// follow updates every anchor not yet buried.
func (a *Anchorer) follow(ctx context.Context, tip int64) error {
	rows, err := a.db.Query(ctx, `select id, txid, raw_tx, state, block_height from ledger_anchors
		where state = 'pending' or (state = 'confirmed' and block_height > $1) order by id`, tip-int64(a.cfg.ReorgDepth))
	if err != nil {
		return fmt.Errorf("anchor: couldn't read the anchors: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.txid, &x.raw, &x.state, &x.height)
	})
	if err != nil {
		return fmt.Errorf("anchor: couldn't read the anchors: %w", err)
	}
	for _, r := range list {
		if err := a.followOne(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

func (a *Anchorer) followOne(ctx context.Context, r row) error {
	h, err := chainhash.NewHashFromStr(r.txid)
	if err != nil {
		return err
	}
	res, err := a.rpc.GetRawTransactionVerbose(h)
	if err == nil && res.BlockHash != "" {
		bh, err := chainhash.NewHashFromStr(res.BlockHash)
		if err != nil {
			return err
		}
		hdr, err := a.rpc.GetBlockHeaderVerbose(bh)
		if err != nil {
			return fmt.Errorf("anchor: couldn't read block %s: %w", res.BlockHash, err)
		}
		if hdr.Confirmations > 0 {
			if r.state != lanchor.StateConfirmed || r.height == nil || *r.height != int64(hdr.Height) {
				a.cfg.Log.Info("ledger anchor confirmed", "txid", r.txid, "block_height", hdr.Height)
			}
			return a.setState(ctx, r.id, lanchor.StateConfirmed, res.BlockHash, int64(hdr.Height))
		}
	}
	if err == nil {
		// In the mempool (or in a block off the best chain).
		if r.state == lanchor.StateConfirmed {
			a.cfg.Log.Warn("ledger anchor left its block in a reorg; it is in the mempool again", "txid", r.txid)
		}
		return a.setState(ctx, r.id, lanchor.StatePending, "", 0)
	}
	if !isRPCError(err) {
		return fmt.Errorf("anchor: couldn't look up tx %s: %w", r.txid, err)
	}
	// The node does not know it: broadcast it again.
	var tx wire.MsgTx
	if err := tx.Deserialize(bytes.NewReader(r.raw)); err != nil {
		return fmt.Errorf("anchor: stored tx %s does not parse: %w", r.txid, err)
	}
	if _, err := a.rpc.SendRawTransaction(&tx, false); err != nil {
		if !isRPCError(err) {
			return fmt.Errorf("anchor: couldn't rebroadcast tx %s: %w", r.txid, err)
		}
		a.cfg.Log.Warn("ledger anchor dropped and its input spent otherwise: anchoring again", "txid", r.txid, "reason", err.Error())
		return a.setState(ctx, r.id, lanchor.StateReplaced, "", 0)
	}
	a.cfg.Log.Info("ledger anchor was unknown to btcd: broadcast again", "txid", r.txid)
	return a.setState(ctx, r.id, lanchor.StatePending, "", 0)
}

func isRPCError(err error) bool {
	var re *btcjson.RPCError
	return errors.As(err, &re)
}

func (a *Anchorer) setState(ctx context.Context, id int64, state, blockHash string, height int64) error {
	var bh *string
	var ht *int64
	if state == lanchor.StateConfirmed {
		bh, ht = &blockHash, &height
	}
	_, err := a.db.Exec(ctx, `update ledger_anchors set state = $2, block_hash = $3, block_height = $4, updated_at = now()
		where id = $1 and (state, block_hash, block_height) is distinct from ($2, $3, $4)`, id, state, bh, ht)
	if err != nil {
		return fmt.Errorf("anchor: couldn't update an anchor: %w", err)
	}
	return nil
}

// anchorIfDue anchors the latest checkpoint when it is due.
func (a *Anchorer) anchorIfDue(ctx context.Context) error {
	msg, err := a.cfg.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("anchor: couldn't read the checkpoint to anchor: %w", err)
	}
	if msg == nil {
		return nil
	}
	body, err := lanchor.Body(msg)
	if err != nil {
		return err
	}
	cp, err := ledger.ParseCheckpoint(body)
	if err != nil {
		return fmt.Errorf("anchor: the checkpoint to anchor: %w", err)
	}
	if cp.Size == 0 {
		return nil
	}
	var newest, size int64
	var state string
	var created time.Time
	err = a.db.QueryRow(ctx, `select id, size, state, created_at from ledger_anchors order by id desc limit 1`).Scan(&newest, &size, &state, &created)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fmt.Errorf("anchor: couldn't read the anchors: %w", err)
	case state == lanchor.StateReplaced:
	case a.now().Sub(created) >= a.cfg.Interval && cp.Size > size:
	default:
		return nil
	}
	return a.anchor(ctx, msg, lanchor.Digest(body), cp.Size, newest)
}

type coin struct {
	op    wire.OutPoint
	value int64
	pk    []byte
}

// ErrNoCoins is an anchor key without a coin that pays an anchor.
var ErrNoCoins = errors.New("anchor: the anchor key has no coin to pay an anchor: fund its address")

// errAnchoredElsewhere is another server process storing an anchor first.
var errAnchoredElsewhere = errors.New("anchor: another process anchored first")

// anchorLock is the transaction-level advisory lock under which an anchor is
// stored, so that server processes sharing the database anchor once.
const anchorLock = 0x6c696341 // "licA"

// anchor builds, stores and broadcasts an anchor of msg, unless another
// process stored an anchor after newest (the newest anchor's id when the
// anchor was found due; 0 for none).
func (a *Anchorer) anchor(ctx context.Context, msg []byte, digest [lanchor.DigestSize]byte, size, newest int64) error {
	c, err := a.pickCoin(ctx)
	if errors.Is(err, ErrNoCoins) {
		if !a.broke {
			a.cfg.Log.Warn("the ledger anchor key has no coins: fund it", "address", a.Address())
		}
		a.broke = true
		return nil
	}
	if err != nil {
		return err
	}
	a.broke = false
	tx, vsize, fee, err := a.build(c, digest)
	if err != nil {
		return err
	}
	var raw bytes.Buffer
	tx.Serialize(&raw)
	txid := tx.TxHash().String()
	err = pgx.BeginFunc(ctx, a.db, func(dbtx pgx.Tx) error {
		now, err := lockNewest(ctx, dbtx)
		if err != nil {
			return err
		}
		if now != newest {
			return errAnchoredElsewhere
		}
		if _, err := dbtx.Exec(ctx, `insert into ledger_anchors (size, checkpoint, digest, txid, raw_tx, vsize, fee)
			values ($1, $2, $3, $4, $5, $6, $7)`, size, msg, digest[:], txid, raw.Bytes(), vsize, fee); err != nil {
			return err
		}
		if _, err := dbtx.Exec(ctx, `update ledger_anchor_coins set spent_by = $3 where txid = $1 and vout = $2`,
			c.op.Hash.String(), c.op.Index, txid); err != nil {
			return err
		}
		if len(tx.TxOut) > 1 {
			_, err := dbtx.Exec(ctx, `insert into ledger_anchor_coins (txid, vout, value, pk_script) values ($1, 1, $2, $3)`,
				txid, tx.TxOut[1].Value, tx.TxOut[1].PkScript)
			return err
		}
		return nil
	})
	if errors.Is(err, errAnchoredElsewhere) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("anchor: couldn't store the anchor: %w", err)
	}
	if _, err := a.rpc.SendRawTransaction(tx, false); err != nil {
		if !isRPCError(err) {
			// Stored: the next step broadcasts it again.
			return fmt.Errorf("anchor: couldn't broadcast anchor tx %s (will retry): %w", txid, err)
		}
		// Refused: it never existed. Undone in one transaction, so that a
		// crash halfway leaves neither a coin spent by a missing anchor
		// nor an anchor without its change.
		derr := pgx.BeginFunc(ctx, a.db, func(dbtx pgx.Tx) error {
			for _, q := range []string{
				`delete from ledger_anchor_coins where txid = $1`,
				`delete from ledger_anchors where txid = $1`,
				`update ledger_anchor_coins set spent_by = null where spent_by = $1`,
			} {
				if _, err := dbtx.Exec(ctx, q, txid); err != nil {
					return err
				}
			}
			return nil
		})
		if derr != nil {
			return fmt.Errorf("anchor: couldn't undo the refused anchor tx %s: %w", txid, derr)
		}
		return fmt.Errorf("anchor: btcd refused the anchor transaction: %w", err)
	}
	a.cfg.Log.Info("ledger anchored", "size", size, "txid", txid, "vsize", vsize, "fee_sat", fee)
	return nil
}

// pickCoin returns the largest recorded coin of the key that btcd still
// sees unspent and that pays an anchor.
func (a *Anchorer) pickCoin(ctx context.Context) (coin, error) {
	rows, err := a.db.Query(ctx, `select txid, vout, value, pk_script from ledger_anchor_coins
		where spent_by is null order by value desc, txid, vout`)
	if err != nil {
		return coin{}, fmt.Errorf("anchor: couldn't read the coins: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (coin, error) {
		var c coin
		var txid string
		if err := r.Scan(&txid, &c.op.Index, &c.value, &c.pk); err != nil {
			return c, err
		}
		h, err := chainhash.NewHashFromStr(txid)
		if err != nil {
			return c, err
		}
		c.op.Hash = *h
		return c, nil
	})
	if err != nil {
		return coin{}, fmt.Errorf("anchor: couldn't read the coins: %w", err)
	}
	for _, c := range cs {
		if c.value < a.cfg.FeeRate*AnchorVSize {
			break
		}
		out, err := a.rpc.GetTxOut(&c.op.Hash, c.op.Index, true)
		if err != nil {
			return coin{}, fmt.Errorf("anchor: couldn't check a coin: %w", err)
		}
		if out != nil {
			return c, nil
		}
	}
	return coin{}, ErrNoCoins
}

// build signs an anchor transaction spending c: the OP_RETURN output, then
// the change (if above dust), at the fee rate.
func (a *Anchorer) build(c coin, digest [lanchor.DigestSize]byte) (tx *wire.MsgTx, vsize, fee int64, err error) {
	fee = a.cfg.FeeRate * AnchorVSize
	for range 3 {
		tx = wire.NewMsgTx(2)
		in := wire.NewTxIn(&c.op, nil, nil)
		in.Sequence = wire.MaxTxInSequenceNum - 2 // BIP125: the operator may bump the fee
		tx.AddTxIn(in)
		tx.AddTxOut(wire.NewTxOut(0, lanchor.Script(digest)))
		if change := c.value - fee; change >= dust {
			tx.AddTxOut(wire.NewTxOut(change, a.pkScript))
		}
		fetcher := txscript.NewCannedPrevOutputFetcher(c.pk, c.value)
		wit, err := txscript.WitnessSignature(tx, txscript.NewTxSigHashes(tx, fetcher), 0, c.value, c.pk, txscript.SigHashAll, a.cfg.Key, true)
		if err != nil {
			return nil, 0, 0, errors.New("anchor: couldn't sign the anchor transaction")
		}
		tx.TxIn[0].Witness = wit
		vsize = VSize(tx)
		paid := c.value
		if len(tx.TxOut) > 1 {
			paid -= tx.TxOut[1].Value
		}
		if paid >= a.cfg.FeeRate*vsize {
			return tx, vsize, paid, nil
		}
		fee = a.cfg.FeeRate * vsize
	}
	return nil, 0, 0, errors.New("anchor: couldn't reach the fee rate")
}

// VSize is a transaction's virtual size (BIP141: weight / 4, rounded up).
func VSize(tx *wire.MsgTx) int64 {
	weight := int64(tx.SerializeSizeStripped())*3 + int64(tx.SerializeSize())
	return (weight + 3) / 4
}

// List returns every anchor, newest first, in the listing's form.
func (a *Anchorer) List(ctx context.Context) ([]lanchor.Anchor, error) {
	rows, err := a.db.Query(ctx, `select checkpoint, size, digest, txid, state, block_hash, block_height
		from ledger_anchors order by id desc`)
	if err != nil {
		return nil, fmt.Errorf("anchor: couldn't read the anchors: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (lanchor.Anchor, error) {
		var x lanchor.Anchor
		var cp, digest []byte
		var bh *string
		if err := r.Scan(&cp, &x.Size, &digest, &x.TxID, &x.State, &bh, &x.BlockHeight); err != nil {
			return x, err
		}
		x.Checkpoint, x.Digest = string(cp), hex.EncodeToString(digest)
		if bh != nil {
			x.BlockHash = *bh
		}
		body, err := lanchor.Body(cp)
		if err != nil {
			return x, err
		}
		c, err := ledger.ParseCheckpoint(body)
		if err != nil {
			return x, err
		}
		x.Root = base64.StdEncoding.EncodeToString(c.Root[:])
		return x, nil
	})
}

// lockNewest takes the anchors' advisory lock for dbtx and returns the id of
// the newest anchor. The lock is a statement of its own: the newest anchor
// must be read by a statement that starts once the lock is held, so that it
// sees what another process committed while this one waited (a statement's
// snapshot is taken before it waits for the lock).
func lockNewest(ctx context.Context, dbtx pgx.Tx) (int64, error) {
	if _, err := dbtx.Exec(ctx, `select pg_advisory_xact_lock($1)`, anchorLock); err != nil {
		return 0, err
	}
	var newest int64
	err := dbtx.QueryRow(ctx, `select coalesce(max(id), 0) from ledger_anchors`).Scan(&newest)
	return newest, err
}
