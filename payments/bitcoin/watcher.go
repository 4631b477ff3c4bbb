package bitcoin

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcjson"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/jackc/pgx/v5"

	"github.com/licensed/licensed/payments"
)

// keepBlocks is how many processed block hashes are kept to find the fork
// point of a reorg.
const keepBlocks = 1000

// rescanBatch is how many blocks one rescanblocks call covers.
const rescanBatch = 50

// errMoved means the chain state in the database is not the one this
// watcher expected (another watcher advanced it): reload and retry.
var errMoved = errors.New("bitcoin: the chain state moved under the watcher")

// errUnknownInvoices means a block was about to be recorded while the
// database held invoices whose addresses were not in this watcher's btcd
// filter when the block was read: recording it would lose their payments for
// every watcher (the chain state is shared), so the watcher loads them and
// reads the block again.
var errUnknownInvoices = errors.New("bitcoin: invoices unknown to this watcher")

// Run watches the chain until ctx ends: it connects to btcd's websocket RPC
// (reconnecting when it drops), subscribes to block notifications, loads the
// transaction filter with the watched invoice addresses, and after every
// (re)connection catches up from the last processed block with rescanblocks.
// Block notifications and the tick trigger the same catch-up, so a missed
// notification only delays a payment; it never loses one. Run returns nil
// when ctx ends.
//
// orders is the payments service the watcher moves orders through (it is
// built with this method among its methods, so it comes here, not to New).
func (b *Bitcoin) Run(ctx context.Context, orders Orders) error {
	if orders == nil {
		return errors.New("bitcoin: Run needs the payments service")
	}
	// rpcclient calls OnClientConnected once for the first connection and
	// again after every reconnection; only the latter need a new setup.
	var connects atomic.Int64
	handlers := &rpcclient.NotificationHandlers{
		OnClientConnected: func() {
			if connects.Add(1) > 1 {
				poke(b.connected)
			}
		},
		OnFilteredBlockConnected:    func(int32, *wire.BlockHeader, []*btcutil.Tx) { poke(b.wake) },
		OnFilteredBlockDisconnected: func(int32, *wire.BlockHeader) { poke(b.wake) },
		OnRelevantTxAccepted: func(tx []byte) {
			select {
			case b.txs <- tx:
			default: // the block that confirms it will be rescanned
			}
		},
	}
	var rpc *rpcclient.Client
	for rpc == nil {
		c, err := rpcclient.New(b.cfg.RPC, handlers)
		if err == nil {
			rpc = c
			break
		}
		b.log.Warn("bitcoin: can't reach btcd; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	// Calls in flight fail with ErrClientShutdown when ctx ends.
	stop := context.AfterFunc(ctx, rpc.Shutdown)
	defer stop()
	defer rpc.Shutdown()
	defer func() {
		b.up.Set(0)
		b.filter.mu.Lock()
		b.filter.client = nil
		b.filter.mu.Unlock()
	}()
	w := &watch{b: b, orders: orders, rpc: rpc, refused: map[string]time.Time{}}
	tick := time.NewTicker(b.cfg.Tick)
	defer tick.Stop()
	ready := false
	for {
		if !ready {
			if err := w.setup(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				b.log.Warn("bitcoin: couldn't set up the watch; retrying", "err", err)
			} else {
				ready = true
				b.up.Set(1)
				b.filter.mu.Lock()
				b.filter.client = rpc
				b.filter.mu.Unlock()
			}
		}
		if ready {
			if err := w.addFresh(); err != nil {
				ready = false
				continue
			}
			if err := w.sync(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				b.log.Warn("bitcoin: catching up with the chain failed; retrying", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-b.connected:
			ready = false
			b.up.Set(0)
			b.filter.mu.Lock()
			b.filter.client = nil
			b.filter.mu.Unlock()
		case <-b.wake:
		case raw := <-b.txs:
			if ready {
				if err := w.mempoolTx(ctx, raw); err != nil && ctx.Err() == nil {
					b.log.Warn("bitcoin: couldn't record a mempool payment", "err", err)
				}
			}
		case <-tick.C:
			if ready {
				if err := w.tick(ctx); err != nil && ctx.Err() == nil {
					b.log.Warn("bitcoin: periodic check failed", "err", err)
				}
			}
		}
	}
}

// watch is one connection's worth of watching.
type watch struct {
	// b is the method: its configuration, database, metrics and the set of
	// watched addresses it shares with Prepare (b.filter).
	b      *Bitcoin
	orders Orders
	rpc    *rpcclient.Client
	// refused holds when the periodic check first found each unconfirmed
	// payment gone (see checkDropped).
	refused map[string]time.Time
}

// dropGrace is how long the periodic check waits before it marks a payment
// dropped that btcd refused (its inputs are spent elsewhere). The spending
// transaction is usually a replacement that pays the same invoice, whose
// mempool notification may still be on its way: recorded first, it inherits
// the time the payment was first seen. Dropping at once would let the order
// expire in between, and the replacement would then count as late.
const dropGrace = 5 * time.Second

// setup (re)subscribes, reloads the filter with every watched address and
// records the payments already waiting in btcd's mempool.
func (w *watch) setup(ctx context.Context) error {
	if err := w.loadAddresses(ctx); err != nil {
		return err
	}
	if err := w.rpc.NotifyBlocks(); err != nil {
		return fmt.Errorf("notifyblocks: %w", err)
	}
	w.b.filter.mu.Lock()
	addrs := make([]btcutil.Address, 0, len(w.b.filter.addrs))
	for a := range w.b.filter.addrs {
		if ad, err := btcutil.DecodeAddress(a, w.b.cfg.Params); err == nil {
			addrs = append(addrs, ad)
		}
	}
	w.b.filter.fresh = nil
	w.b.filter.mu.Unlock()
	if err := w.rpc.LoadTxFilter(true, addrs, nil); err != nil {
		return fmt.Errorf("loadtxfilter: %w", err)
	}
	if err := w.scanMempool(ctx); err != nil {
		return err
	}
	w.b.log.Info("bitcoin: watching the chain", "addresses", len(addrs), "account", w.b.cfg.Account.Fingerprint())
	return nil
}

// mempoolBatch is how many getrawtransaction calls scanMempool has in flight.
const mempoolBatch = 500

// scanMempool records the payments to watched addresses that wait in btcd's
// mempool. btcd notifies only the transactions it accepts after the filter
// is loaded, so without this a payment broadcast while the watcher was not
// connected (a server restart, a btcd reconnection) would be seen first in
// its block, possibly after the invoice expired.
func (w *watch) scanMempool(ctx context.Context) error {
	hashes, err := w.rpc.GetRawMempool()
	if err != nil {
		return fmt.Errorf("getrawmempool: %w", err)
	}
	found := 0
	for start := 0; start < len(hashes) && ctx.Err() == nil; start += mempoolBatch {
		batch := hashes[start:min(len(hashes), start+mempoolBatch)]
		futures := make([]rpcclient.FutureGetRawTransactionResult, len(batch))
		for i, h := range batch {
			futures[i] = w.rpc.GetRawTransactionAsync(h)
		}
		for _, f := range futures {
			tx, err := f.Receive()
			if isNoTxInfo(err) {
				continue // mined or evicted since getrawmempool
			}
			if err != nil {
				return fmt.Errorf("getrawtransaction: %w", err)
			}
			if len(w.matchTx(tx.MsgTx())) == 0 {
				continue
			}
			var raw bytes.Buffer
			if err := tx.MsgTx().Serialize(&raw); err != nil {
				return err
			}
			if err := w.recordMempool(ctx, tx.MsgTx(), raw.Bytes()); err != nil {
				return err
			}
			found++
		}
	}
	if found > 0 {
		w.b.log.Info("bitcoin: found payments waiting in btcd's mempool", "transactions", found)
	}
	return ctx.Err()
}

func isNoTxInfo(err error) bool {
	var rpcErr *btcjson.RPCError
	return errors.As(err, &rpcErr) && rpcErr.Code == btcjson.ErrRPCNoTxInfo
}

// loadAddresses reads the addresses of every invoice of the watch window
// (made by this process or another), queues the new ones for btcd's filter
// and forgets those that left the window (btcd's filter keeps them until the
// next reconnection; payments to them are no longer matched). It reads the
// whole window: address indices come from a sequence and commit out of
// order, so "above the highest index seen" would skip an invoice whose
// transaction committed late.
func (w *watch) loadAddresses(ctx context.Context) error {
	rows, err := w.b.db.Query(ctx, `select address, order_id from btc_invoices where created_at > $1`,
		w.b.cfg.Now().Add(-w.b.cfg.WatchFor))
	if err != nil {
		return err
	}
	defer rows.Close()
	inWindow := map[string]string{}
	for rows.Next() {
		var addr, id string
		if err := rows.Scan(&addr, &id); err != nil {
			return err
		}
		inWindow[addr] = id
	}
	if err := rows.Err(); err != nil {
		return err
	}
	w.b.filter.mu.Lock()
	defer w.b.filter.mu.Unlock()
	// An address that Prepare added an instant ago may belong to an invoice
	// not committed yet: only addresses watched for an hour are forgotten.
	settled := w.b.cfg.Now().Add(-time.Hour)
	for addr, wa := range w.b.filter.addrs {
		if _, ok := inWindow[addr]; !ok && wa.since.Before(settled) {
			delete(w.b.filter.addrs, addr)
		}
	}
	for addr, id := range inWindow {
		if _, ok := w.b.filter.addrs[addr]; !ok {
			w.b.filter.addrs[addr] = watchedAddr{id, w.b.cfg.Now()}
			if a, err := btcutil.DecodeAddress(addr, w.b.cfg.Params); err == nil {
				w.b.filter.fresh = append(w.b.filter.fresh, a)
			}
		}
	}
	return nil
}

// addFresh adds newly watched addresses to btcd's filter.
func (w *watch) addFresh() error {
	w.b.filter.mu.Lock()
	fresh := w.b.filter.fresh
	w.b.filter.fresh = nil
	w.b.filter.mu.Unlock()
	if len(fresh) == 0 {
		return nil
	}
	if err := w.rpc.LoadTxFilter(false, fresh, nil); err != nil {
		w.b.filter.mu.Lock()
		w.b.filter.fresh = append(w.b.filter.fresh, fresh...)
		w.b.filter.mu.Unlock()
		return err
	}
	return nil
}

type tipState struct {
	height int32
	hash   string
}

func (w *watch) loadTip(ctx context.Context) (tipState, bool, error) {
	var t tipState
	err := w.b.db.QueryRow(ctx, `select height, hash from btc_chain`).Scan(&t.height, &t.hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, false, nil
	}
	return t, err == nil, err
}

// sync brings the database to btcd's best chain: it disconnects processed
// blocks that left the best chain (a reorg), then connects the new ones, one
// transaction per block, and re-evaluates the invoices they touch.
func (w *watch) sync(ctx context.Context) error {
	for ctx.Err() == nil {
		tip, ok, err := w.loadTip(ctx)
		if err != nil {
			return err
		}
		bestHash, bestHeight, err := w.rpc.GetBestBlock()
		if err != nil {
			return fmt.Errorf("getbestblock: %w", err)
		}
		if !ok {
			// First start: watch from the current tip on.
			_, err := w.b.db.Exec(ctx, `insert into btc_chain (height, hash) values ($1, $2) on conflict do nothing;`, bestHeight, bestHash.String())
			if err == nil {
				_, err = w.b.db.Exec(ctx, `insert into btc_blocks (height, hash) values ($1, $2) on conflict (height) do update set hash = excluded.hash`, bestHeight, bestHash.String())
			}
			if err != nil {
				return err
			}
			continue
		}
		w.b.tipHeight.Set(float64(tip.height))
		onChain := false
		if tip.height <= bestHeight {
			h, err := w.rpc.GetBlockHash(int64(tip.height))
			if err != nil {
				return fmt.Errorf("getblockhash: %w", err)
			}
			onChain = h.String() == tip.hash
		}
		if !onChain {
			if err := w.disconnect(ctx, tip); err != nil && !errors.Is(err, errMoved) {
				return err
			}
			continue
		}
		if tip.height == bestHeight {
			return nil
		}
		err = w.connectBatch(ctx, tip, min(bestHeight, tip.height+rescanBatch))
		if errors.Is(err, errUnknownInvoices) {
			if err := w.loadAddresses(ctx); err != nil {
				return err
			}
			continue // connectBatch adds them to the filter and reads again
		}
		if err != nil && !errors.Is(err, errMoved) {
			// A reorg during the batch shows up as a rescan error: go round.
			var rpcErr *btcjson.RPCError
			if errors.As(err, &rpcErr) && (rpcErr.Code == btcjson.ErrRPCInvalidParameter || rpcErr.Code == btcjson.ErrRPCBlockNotFound) {
				continue
			}
			return err
		}
	}
	return ctx.Err()
}

// connectBatch processes the blocks after tip up to height to.
func (w *watch) connectBatch(ctx context.Context, tip tipState, to int32) error {
	// The addresses btcd's filter holds when it reads the blocks: connect
	// refuses to record a block if the database knows other invoices.
	if err := w.addFresh(); err != nil {
		return err
	}
	known := w.filtered()
	first, err := chainhash.NewHashFromStr(tip.hash)
	if err != nil {
		return err
	}
	// The list starts with the processed tip so that btcd checks that every
	// block is the child of the one before.
	hashes := []chainhash.Hash{*first}
	for h := tip.height + 1; h <= to; h++ {
		hash, err := w.rpc.GetBlockHash(int64(h))
		if err != nil {
			return fmt.Errorf("getblockhash: %w", err)
		}
		hashes = append(hashes, *hash)
	}
	found, err := w.rpc.RescanBlocks(hashes)
	if err != nil {
		return err
	}
	relevant := map[string][]string{}
	for _, blk := range found {
		relevant[blk.Hash] = blk.Transactions
	}
	prev := tip
	for i, hash := range hashes[1:] {
		height := tip.height + 1 + int32(i)
		var blockTime time.Time
		txs := relevant[hash.String()]
		if len(txs) > 0 {
			hdr, err := w.rpc.GetBlockHeader(&hash)
			if err != nil {
				return fmt.Errorf("getblockheader: %w", err)
			}
			blockTime = hdr.Timestamp
		}
		if err := w.connect(ctx, prev, tipState{height, hash.String()}, blockTime, txs, known); err != nil {
			return err
		}
		prev = tipState{height, hash.String()}
	}
	return nil
}

// filtered returns the watched addresses that are in btcd's filter (watched
// and not waiting in fresh).
func (w *watch) filtered() []string {
	w.b.filter.mu.Lock()
	defer w.b.filter.mu.Unlock()
	pending := make(map[string]bool, len(w.b.filter.fresh))
	for _, a := range w.b.filter.fresh {
		pending[a.EncodeAddress()] = true
	}
	out := make([]string, 0, len(w.b.filter.addrs))
	for a := range w.b.filter.addrs {
		if !pending[a] {
			out = append(out, a)
		}
	}
	return out
}

// output is an output of a transaction that pays a watched address.
type output struct {
	outpoint string
	orderID  string
	sats     int64
}

// matchTx returns the outputs of tx that pay watched addresses.
func (w *watch) matchTx(tx *wire.MsgTx) []output {
	var out []output
	txid := tx.TxHash().String()
	w.b.filter.mu.Lock()
	defer w.b.filter.mu.Unlock()
	for i, o := range tx.TxOut {
		_, addrs, _, err := txscript.ExtractPkScriptAddrs(o.PkScript, w.b.cfg.Params)
		if err != nil || len(addrs) != 1 || o.Value <= 0 {
			continue
		}
		if wa, ok := w.b.filter.addrs[addrs[0].EncodeAddress()]; ok {
			out = append(out, output{fmt.Sprintf("%s:%d", txid, i), wa.orderID, o.Value})
		}
	}
	return out
}

func decodeTx(hexOrRaw []byte) (*wire.MsgTx, error) {
	tx := wire.NewMsgTx(wire.TxVersion)
	if err := tx.Deserialize(bytes.NewReader(hexOrRaw)); err != nil {
		return nil, fmt.Errorf("bitcoin: bad transaction from btcd: %w", err)
	}
	return tx, nil
}

// advance moves the chain state from prev to next inside tx, failing with
// errMoved if another watcher moved it first.
func advance(ctx context.Context, tx pgx.Tx, prev, next tipState) error {
	tag, err := tx.Exec(ctx, `update btc_chain set height = $3, hash = $4, updated_at = now() where height = $1 and hash = $2`,
		prev.height, prev.hash, next.height, next.hash)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return errMoved
	}
	return nil
}

// connect records block next (child of prev) with its relevant transactions
// (hex), and re-evaluates the invoices whose confirmations it changes, in
// one transaction.
func (w *watch) connect(ctx context.Context, prev, next tipState, blockTime time.Time, txsHex []string, known []string) error {
	var outs []output
	for _, h := range txsHex {
		raw, err := decodeHex(h)
		if err != nil {
			return err
		}
		tx, err := decodeTx(raw)
		if err != nil {
			return err
		}
		outs = append(outs, w.matchTx(tx)...)
	}
	seen := w.b.cfg.Now()
	if !blockTime.IsZero() && blockTime.Before(seen) {
		seen = blockTime
	}
	return pgx.BeginFunc(ctx, w.b.db, func(tx pgx.Tx) error {
		if err := advance(ctx, tx, prev, next); err != nil {
			return err
		}
		// advance locked the chain row, so no other watcher records a block
		// meanwhile; an invoice committed before the block was read is
		// visible here.
		var unknown bool
		if err := tx.QueryRow(ctx, `select exists(select 1 from btc_invoices where created_at > $1 and not (address = any($2)))`,
			w.b.cfg.Now().Add(-w.b.cfg.WatchFor), known).Scan(&unknown); err != nil {
			return err
		}
		if unknown {
			return errUnknownInvoices
		}
		for _, o := range outs {
			if _, err := tx.Exec(ctx, `insert into btc_payments (outpoint, order_id, amount_sats, seen_at, block_hash, block_height)
				values ($1, $2, $3, $4, $5, $6)
				on conflict (outpoint) do update set block_hash = excluded.block_hash, block_height = excluded.block_height,
					dropped = false, seen_at = least(btc_payments.seen_at, excluded.seen_at), raw_tx = null`,
				o.outpoint, o.orderID, o.sats, seen, next.hash, next.height); err != nil {
				return err
			}
			w.b.paymentsC.WithLabelValues("confirmed").Inc()
		}
		if _, err := tx.Exec(ctx, `insert into btc_blocks (height, hash) values ($1, $2)
			on conflict (height) do update set hash = excluded.hash`, next.height, next.hash); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from btc_blocks where height <= $1`, next.height-keepBlocks); err != nil {
			return err
		}
		// Invoices whose payments gain a confirmation that matters.
		ids, err := collectIDs(ctx, tx, `select distinct order_id from btc_payments
			where not dropped and (block_height is null or block_height >= $1)`, next.height-int32(w.b.cfg.Confirmations))
		if err != nil {
			return err
		}
		return w.evaluate(ctx, tx, ids, next.height, fmt.Sprintf("btc: block %d", next.height))
	})
}

// disconnect undoes the processed tip, which is no longer on btcd's best
// chain: its payments become unconfirmed again.
func (w *watch) disconnect(ctx context.Context, tip tipState) error {
	var prev tipState
	err := w.b.db.QueryRow(ctx, `select height, hash from btc_blocks where height = $1`, tip.height-1).Scan(&prev.height, &prev.hash)
	if errors.Is(err, pgx.ErrNoRows) {
		// Deeper than the blocks kept (or a wiped regtest chain): take the
		// node's block there and compare again from it.
		prev = tipState{tip.height - 1, "unknown"}
		if h, err := w.rpc.GetBlockHash(int64(tip.height - 1)); err == nil {
			prev.hash = h.String()
		}
	} else if err != nil {
		return err
	}
	w.b.log.Warn("bitcoin: block left the best chain (reorg)", "height", tip.height)
	return pgx.BeginFunc(ctx, w.b.db, func(tx pgx.Tx) error {
		if err := advance(ctx, tx, tip, prev); err != nil {
			return err
		}
		ids, err := collectIDs(ctx, tx, `update btc_payments set block_hash = null, block_height = null
			where block_height >= $1 returning order_id`, tip.height)
		if err != nil {
			return err
		}
		w.b.paymentsC.WithLabelValues("unconfirmed").Add(float64(len(ids)))
		if _, err := tx.Exec(ctx, `delete from btc_blocks where height >= $1`, tip.height); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `insert into btc_blocks (height, hash) values ($1, $2)
			on conflict (height) do update set hash = excluded.hash`, prev.height, prev.hash); err != nil {
			return err
		}
		return w.evaluate(ctx, tx, dedupe(ids), prev.height, fmt.Sprintf("btc: reorg, block %d left the best chain", tip.height))
	})
}

// mempoolTx records a transaction btcd accepted into its mempool that pays
// watched addresses.
func (w *watch) mempoolTx(ctx context.Context, raw []byte) error {
	tx, err := decodeTx(raw)
	if err != nil {
		return err
	}
	return w.recordMempool(ctx, tx, raw)
}

// recordMempool records the outputs of the unconfirmed transaction tx (raw
// is its serialisation) that pay watched addresses, and re-decides their
// invoices. Recording a payment again changes nothing but its dropped flag.
func (w *watch) recordMempool(ctx context.Context, tx *wire.MsgTx, raw []byte) error {
	outs := w.matchTx(tx)
	if len(outs) == 0 {
		return nil
	}
	var ids []string
	for _, o := range outs {
		ids = append(ids, o.orderID)
	}
	ids = dedupe(ids)
	// A transaction paying the same invoice may have been replaced by this
	// one: find out before deciding.
	if _, err := w.checkDropped(ctx, ids); err != nil {
		return err
	}
	now := w.b.cfg.Now()
	return pgx.BeginFunc(ctx, w.b.db, func(dbtx pgx.Tx) error {
		for _, o := range outs {
			// A replacement (a fee bump) takes the time the payment it
			// replaces was first seen: paying on time and bumping the fee
			// after the expiry is not a late payment.
			if _, err := dbtx.Exec(ctx, `insert into btc_payments (outpoint, order_id, amount_sats, seen_at, raw_tx)
				values ($1, $2, $3, least($4::timestamptz, (select min(seen_at) from btc_payments
					where order_id = $2 and dropped and block_hash is null)), $5)
				on conflict (outpoint) do update set dropped = false,
					raw_tx = case when btc_payments.block_hash is null then excluded.raw_tx end`,
				o.outpoint, o.orderID, o.sats, now, raw); err != nil {
				return err
			}
			w.b.paymentsC.WithLabelValues("seen").Inc()
		}
		var tip int32
		if err := dbtx.QueryRow(ctx, `select coalesce((select height from btc_chain), 0)`).Scan(&tip); err != nil {
			return err
		}
		return w.evaluate(ctx, dbtx, ids, tip, "btc: payment seen in the mempool")
	})
}

// checkDropped marks as dropped the unconfirmed payments (of the given
// orders, or all when ids is nil) that btcd no longer knows and refuses to
// take again: replaced (BIP125) or double spent. A payment btcd merely forgot
// (its mempool is not kept across a restart, and it may evict) is sent to it
// again from the stored raw transaction and stays a payment. Given orders
// (a new payment of theirs arrived: maybe the replacement) are decided at
// once; the periodic check (ids nil) marks a payment dropped only when it is
// still refused dropGrace after it first was.
func (w *watch) checkDropped(ctx context.Context, ids []string) (dropped []string, err error) {
	q := `select outpoint from btc_payments where block_hash is null and not dropped`
	args := []any{}
	if ids != nil {
		q += ` and order_id = any($1)`
		args = append(args, ids)
	}
	ops, err := collectIDs(ctx, w.b.db, q, args...)
	if err != nil {
		return nil, err
	}
	if ids == nil {
		// Forget payments confirmed or dropped meanwhile.
		for op := range w.refused {
			if !slices.Contains(ops, op) {
				delete(w.refused, op)
			}
		}
	}
	for _, op := range ops {
		txid, _, _ := cutLast(op, ':')
		h, err := chainhash.NewHashFromStr(txid)
		if err != nil {
			continue
		}
		_, err = w.rpc.GetRawTransactionVerbose(h)
		if err == nil {
			delete(w.refused, op)
			continue
		}
		if !isNoTxInfo(err) {
			return nil, fmt.Errorf("getrawtransaction: %w", err)
		}
		gone, err := w.resend(ctx, op, h)
		if err != nil {
			return nil, err
		}
		if !gone {
			delete(w.refused, op)
			continue
		}
		if ids == nil {
			first, ok := w.refused[op]
			if !ok {
				w.refused[op] = w.b.cfg.Now()
				continue
			}
			if w.b.cfg.Now().Sub(first) < dropGrace {
				continue
			}
		}
		delete(w.refused, op)
		var id string
		err = w.b.db.QueryRow(ctx, `update btc_payments set dropped = true where outpoint = $1 and block_hash is null returning order_id`, op).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			continue // confirmed meanwhile
		}
		if err != nil {
			return nil, err
		}
		dropped = append(dropped, id)
		w.b.paymentsC.WithLabelValues("dropped").Inc()
		w.b.log.Info("bitcoin: an unconfirmed payment left the mempool (replaced or double spent)")
	}
	return dedupe(dropped), nil
}

// resend offers btcd again the stored transaction of the unconfirmed payment
// op (transaction h), which btcd does not know. It reports whether the
// payment is gone: btcd refused it (its inputs are spent by another
// transaction, in a block or in the mempool) and does not hold it either.
// A payment without a stored transaction (recorded from a block, then
// unconfirmed by a reorg, and evicted) counts as gone, as before.
func (w *watch) resend(ctx context.Context, op string, h *chainhash.Hash) (gone bool, err error) {
	var raw []byte
	if err := w.b.db.QueryRow(ctx, `select raw_tx from btc_payments where outpoint = $1`, op).Scan(&raw); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return false, nil
		}
		return false, err
	}
	if raw == nil {
		return true, nil
	}
	tx, err := decodeTx(raw)
	if err != nil {
		return false, err
	}
	_, err = w.rpc.SendRawTransaction(tx, true)
	if err == nil {
		w.b.paymentsC.WithLabelValues("resent").Inc()
		w.b.log.Info("bitcoin: btcd had forgotten an unconfirmed payment (restarted or evicted); sent it again")
		return false, nil
	}
	var rpcErr *btcjson.RPCError
	if !errors.As(err, &rpcErr) {
		return false, fmt.Errorf("sendrawtransaction: %w", err)
	}
	if rpcErr.Code == btcjson.ErrRPCTxAlreadyInChain {
		return false, nil // confirmed: the catch-up records its block
	}
	// Refused. btcd may have taken it meanwhile from a peer or a notification.
	if _, err := w.rpc.GetRawTransactionVerbose(h); err == nil {
		return false, nil
	}
	return true, nil
}

// tick picks up invoices made by other processes, notices dropped
// transactions and expires unpaid invoices.
func (w *watch) tick(ctx context.Context) error {
	// Invoices another process made: a block is never recorded while the
	// database holds invoices outside the filter (see connect), so their
	// payments in blocks are not missed; this makes their mempool payments
	// seen sooner.
	if err := w.loadAddresses(ctx); err != nil {
		return err
	}
	if err := w.addFresh(); err != nil {
		return err
	}
	dropped, err := w.checkDropped(ctx, nil)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, w.b.db, func(tx pgx.Tx) error {
		var tip int32
		if err := tx.QueryRow(ctx, `select coalesce((select height from btc_chain), 0)`).Scan(&tip); err != nil {
			return err
		}
		ids, err := collectIDs(ctx, tx, `select i.order_id from btc_invoices i join orders o on o.id = i.order_id
			where (o.state = 'new' and i.expires_at < $1)
			   or (o.state in ('new', 'processing', 'settled') and exists (select 1 from btc_payments p
			       where p.order_id = i.order_id and p.block_hash is null and not p.dropped))`, w.b.cfg.Now())
		if err != nil {
			return err
		}
		if err := w.evaluate(ctx, tx, dedupe(append(ids, dropped...)), tip, "btc: periodic check"); err != nil {
			return err
		}
		if err := w.releaseBuried(ctx, tx, tip); err != nil {
			return err
		}
		var unused int64
		if err := tx.QueryRow(ctx, `select coalesce((select max(address_index) from btc_invoices), -1) -
			coalesce((select max(i.address_index) from btc_invoices i
				where exists (select 1 from btc_payments p where p.order_id = i.order_id)), -1)`).Scan(&unused); err != nil {
			return err
		}
		w.b.unused.Set(float64(unused))
		return nil
	})
}

// releaseBuried lets the retention erase the order → entry links of settled
// orders whose payments all have at least ReorgDepth confirmations at tip:
// until then a reorg could take a payment back, and suspending the license
// needs its ledger index. An order that is not settled keeps its hold (its
// license is suspended or not yet minted).
func (w *watch) releaseBuried(ctx context.Context, tx pgx.Tx, tip int32) error {
	held, err := w.orders.HeldLinks(ctx, tx, 1000)
	if err != nil || len(held) == 0 {
		return err
	}
	buried, err := collectIDs(ctx, tx, `select o.id from orders o where o.id = any($1) and o.state = 'settled'
		and exists (select 1 from btc_payments p where p.order_id = o.id and not p.dropped)
		and not exists (select 1 from btc_payments p where p.order_id = o.id and not p.dropped
			and (p.block_height is null or p.block_height > $2))`, held, tip-int32(w.b.cfg.ReorgDepth)+1)
	if err != nil || len(buried) == 0 {
		return err
	}
	w.b.log.Debug("bitcoin: payments buried, order links released to the retention", "orders", len(buried))
	return w.orders.ReleaseLinks(ctx, tx, buried)
}

// evaluate re-decides each order's state from its invoice's payments and
// moves it through the payments service (which mints on settled).
func (w *watch) evaluate(ctx context.Context, tx pgx.Tx, ids []string, tip int32, reason string) error {
	now := w.b.cfg.Now()
	// All of them first, as the sequencer's round does (see
	// payments.LockOrders): one block's invoices, taken one by one, could
	// deadlock with a round minting some of them.
	if err := payments.LockOrders(ctx, tx, ids); err != nil {
		return err
	}
	for _, id := range ids {
		var amount int64
		var expires time.Time
		if err := tx.QueryRow(ctx, `select amount_sats, expires_at from btc_invoices where order_id = $1`, id).Scan(&amount, &expires); err != nil {
			return err
		}
		pays, err := loadPayments(ctx, tx, id)
		if err != nil {
			return err
		}
		v := decide(amount, expires, pays, tip, w.b.cfg.Confirmations, now)
		if err := w.apply(ctx, tx, id, v, reason); err != nil {
			return err
		}
	}
	return nil
}

// apply moves order id towards the verdict. The state machine allows only
// some moves; the ones a reorg or replacement needs go through processing.
func (w *watch) apply(ctx context.Context, tx pgx.Tx, id string, v Verdict, reason string) error {
	o, err := w.orders.OrderTx(ctx, tx, id)
	if err != nil {
		return err
	}
	// paid_partial and paid_over follow the money: paid in full after a
	// partial payment, the order is no longer partly paid.
	if stale := o.Flags & (payments.FlagPaidPartial | payments.FlagPaidOver) &^ v.Flags; stale != 0 {
		if _, err := w.orders.ClearFlags(ctx, tx, id, stale, reason); err != nil {
			return err
		}
		if o, err = w.orders.OrderTx(ctx, tx, id); err != nil {
			return err
		}
	}
	if o.State == v.State && o.Flags&v.Flags == v.Flags {
		return nil
	}
	to, flags := v.State, v.Flags
	if o.Flags&payments.FlagMarked != 0 && to == payments.StateExpired && flags&payments.FlagPaidLate != 0 {
		// An operator accepted the late payment: it counts as one in time.
		to = payments.StateProcessing
		if v.Confirmed >= v.Amount {
			to = payments.StateSettled
		}
	}
	if o.State == to && o.Flags&flags == flags {
		return nil
	}
	if o.State == payments.StateExpired && (to == payments.StateProcessing || to == payments.StateSettled) {
		// Paid in time, but the order already expired (the watcher was
		// down): only an operator may settle it now.
		to, flags = payments.StateExpired, flags|payments.FlagPaidLate
	}
	if o.State == payments.StateSettled && (to == payments.StateNew || to == payments.StateExpired) {
		if _, err := w.orders.Transition(ctx, tx, id, payments.StateProcessing, 0, reason); err != nil {
			return err
		}
	}
	changed, err := w.orders.Transition(ctx, tx, id, to, flags, reason)
	if err != nil {
		return err
	}
	if changed {
		w.b.log.Info("bitcoin: order moved", "order_id", id, "from", o.State, "to", to, "flags", flags.String(),
			"seen_sats", v.Seen, "confirmed_sats", v.Confirmed)
	}
	return nil
}

type rowsQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func collectIDs(ctx context.Context, q rowsQuerier, sql string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func dedupe(ids []string) []string {
	seen := map[string]bool{}
	out := ids[:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func cutLast(s string, sep byte) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func decodeHex(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bitcoin: bad transaction hex from btcd: %w", err)
	}
	return b, nil
}
