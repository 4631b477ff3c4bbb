package anchor_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
	"github.com/gtank/ristretto255"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/internal/btcdtest"
	"github.com/licensed/licensed/internal/launch/regtest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	lanchor "github.com/licensed/licensed/ledger/anchor"
	"github.com/licensed/licensed/ledger/anchor/btcdchain"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/ledger/tlogclient"
	"github.com/licensed/licensed/payments/bitcoin/anchor"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const origin = "licensed.example/ledger"

// testLedger is a ledger on its own database, sequenced by the test.
type testLedger struct {
	db  *pgxpool.Pool
	led *pgledger.Ledger
	// cosigner, if set, adds its signature line to the checkpoint to
	// anchor, as a witness's cosignature follows the ledger's signature.
	cosigner note.Signer
}

func newLedger(t *testing.T, signer note.Signer) *testLedger {
	db := pgtest.Pool(t)
	return &testLedger{db: db, led: pgledger.New(db, pgledger.Config{Signer: signer})}
}

// grow appends n random license entries in one round.
func (l *testLedger) grow(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, l.db, func(tx pgx.Tx) error {
		for range n {
			var seed [64]byte
			rand.Read(seed[:])
			s, _ := ristretto255.NewScalar().SetUniformBytes(seed[:])
			e := &ledger.LicenseEntry{Plan: "basic-30d", NotBefore: ledger.Day(20000), NotAfter: ledger.Day(20030), ViewTag: 7, Sealed: make([]byte, 80)}
			copy(e.P[:], ristretto255.NewIdentityElement().ScalarBaseMult(s).Bytes())
			rand.Read(e.R[:])
			if _, err := pgledger.Enqueue(ctx, tx, fmt.Sprintf("test:%x", e.P[:8]), e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.led.Round(ctx); err != nil {
		t.Fatal(err)
	}
}

func (l *testLedger) latest(ctx context.Context) ([]byte, error) {
	cp, err := l.led.Store().Latest(ctx)
	if err != nil || l.cosigner == nil || cp.Note == nil {
		return cp.Note, err
	}
	body, err := lanchor.Body(cp.Note)
	if err != nil {
		return nil, err
	}
	cosigned, err := note.Sign(&note.Note{Text: string(body)}, l.cosigner)
	if err != nil {
		return nil, err
	}
	return append(cp.Note, cosigned[len(body)+1:]...), nil
}

// serve serves the ledger's checkpoint and tiles at their C2SP paths.
func (l *testLedger) serve(t *testing.T) string {
	store := l.led.Store()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p, ok := strings.CutPrefix(r.URL.Path, "/ledger/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		var b []byte
		var err error
		if p == "checkpoint" {
			var cp ledger.StoredCheckpoint
			cp, err = store.Latest(ctx)
			b = cp.Note
		} else {
			var tile ledger.Tile
			if tile, err = ledger.ParseTilePath(p); err == nil {
				if tile.Level == ledger.EntriesLevel {
					b, err = ledger.ReadBundle(ctx, store, tile)
				} else {
					b, err = store.ReadTile(ctx, tile)
				}
			}
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func newSigner(t *testing.T) (note.Signer, note.Verifier) {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, v
}

// fundedAnchorer is an anchorer of l on node with a fresh key funded with
// sats (confirmed).
func fundedAnchorer(t *testing.T, node *btcdtest.Node, l *testLedger, sats int64) (*anchor.Anchorer, *btcec.PrivateKey) {
	t.Helper()
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	h, err := node.RPC.GetBlockCount()
	if err != nil {
		t.Fatal(err)
	}
	a, err := anchor.New(l.db, anchor.Config{
		Params: node.Params(), RPC: node.ConnConfig(false), Key: key, FeeRate: 2,
		ScanFrom: h + 1, Checkpoint: l.latest,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	addr, err := btcutil.DecodeAddress(a.Address(), node.Params())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Wallet.Pay(regtest.Output{Address: addr, Sats: sats}); err != nil {
		t.Fatal(err)
	}
	node.MustMine(1)
	return a, key
}

func step(t *testing.T, a *anchor.Anchorer) []lanchor.Anchor {
	t.Helper()
	ctx := context.Background()
	if err := a.Step(ctx); err != nil {
		t.Fatal(err)
	}
	list, err := a.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func wantStates(t *testing.T, list []lanchor.Anchor, states ...string) {
	t.Helper()
	var got []string
	for _, a := range list {
		got = append(got, a.State)
	}
	if strings.Join(got, ",") != strings.Join(states, ",") {
		t.Fatalf("anchors %v, want %v", got, states)
	}
}

func rawTx(t *testing.T, node *btcdtest.Node, txid string) *wire.MsgTx {
	t.Helper()
	h, _ := chainhash.NewHashFromStr(txid)
	tx, err := node.RPC.GetRawTransaction(h)
	if err != nil {
		t.Fatal(err)
	}
	return tx.MsgTx()
}

// TestAnchorReorg anchors a ledger, then has a reorg put the anchor back
// into the mempool (it confirms again in the new block), then a reorg in
// which another transaction spends the anchor's input, so the anchor can
// never confirm: the anchorer replaces it with a new anchor.
func TestAnchorReorg(t *testing.T) {
	t.Parallel()
	node := btcdtest.Start(t)
	signer, _ := newSigner(t)
	l := newLedger(t, signer)
	l.grow(t, 3)
	a, key := fundedAnchorer(t, node, l, 100_000)

	list := step(t, a)
	wantStates(t, list, lanchor.StatePending)
	first := list[0]
	tx := rawTx(t, node, first.TxID)
	if vs := anchor.VSize(tx); vs > anchor.AnchorVSize || vs < anchor.AnchorVSize-1 {
		t.Errorf("anchor vsize %d, want %d or one less", vs, anchor.AnchorVSize)
	}
	t.Logf("anchor tx: %d vB, %d bytes, %d outputs", anchor.VSize(tx), tx.SerializeSize(), len(tx.TxOut))
	if d, ok := lanchor.ParseScript(tx.TxOut[0].PkScript); !ok || fmt.Sprintf("%x", d) != first.Digest {
		t.Fatal("the anchor's first output does not carry its digest")
	}

	// Nothing new to anchor: another step makes no second anchor.
	wantStates(t, step(t, a), lanchor.StatePending)
	blocks := node.MustMine(1)
	list = step(t, a)
	wantStates(t, list, lanchor.StateConfirmed)
	if list[0].BlockHash != blocks[0] {
		t.Fatalf("anchor in block %s, want %s", list[0].BlockHash, blocks[0])
	}
	height := *list[0].BlockHeight

	// Reorg 1: the block goes, the anchor returns to the mempool, and
	// confirms again in the block that replaces it.
	bh, _ := chainhash.NewHashFromStr(blocks[0])
	if err := node.RPC.InvalidateBlock(bh); err != nil {
		t.Fatal(err)
	}
	wantStates(t, step(t, a), lanchor.StatePending)
	blocks2 := node.MustMine(1)
	list = step(t, a)
	wantStates(t, list, lanchor.StateConfirmed)
	if list[0].BlockHash != blocks2[0] || *list[0].BlockHeight != height || list[0].TxID != first.TxID {
		t.Fatalf("after the reorg the anchor is %+v, want tx %s in block %s at %d", list[0], first.TxID, blocks2[0], height)
	}

	// Reorg 2: the block goes again, and this time a transaction spending
	// the anchor's input (to the anchor key again) replaces it in the
	// mempool and is mined: the anchor can never confirm.
	bh, _ = chainhash.NewHashFromStr(blocks2[0])
	if err := node.RPC.InvalidateBlock(bh); err != nil {
		t.Fatal(err)
	}
	conflict := spendInput(t, node, key, tx)
	if _, err := node.RPC.SendRawTransaction(conflict, false); err != nil {
		t.Fatal(err)
	}
	node.MustMine(1)
	list = step(t, a)
	wantStates(t, list, lanchor.StatePending, lanchor.StateReplaced)
	if list[0].Checkpoint != first.Checkpoint || list[0].TxID == first.TxID {
		t.Fatal("the replacement anchor is not a new transaction of the same checkpoint")
	}
	if in := rawTx(t, node, list[0].TxID).TxIn[0].PreviousOutPoint; in.Hash != conflict.TxHash() {
		t.Fatalf("the replacement spends %v, want the conflicting transaction's output", in)
	}
	node.MustMine(1)
	wantStates(t, step(t, a), lanchor.StateConfirmed, lanchor.StateReplaced)
}

// spendInput spends the input of tx (an anchor) back to its key with a
// higher fee: a BIP125 replacement of the anchor.
func spendInput(t *testing.T, node *btcdtest.Node, key *btcec.PrivateKey, tx *wire.MsgTx) *wire.MsgTx {
	t.Helper()
	op := tx.TxIn[0].PreviousOutPoint
	prev := rawTx(t, node, op.Hash.String()).TxOut[op.Index]
	c := wire.NewMsgTx(2)
	c.AddTxIn(wire.NewTxIn(&op, nil, nil))
	c.AddTxOut(wire.NewTxOut(prev.Value-5000, prev.PkScript))
	fetcher := txscript.NewCannedPrevOutputFetcher(prev.PkScript, prev.Value)
	wit, err := txscript.WitnessSignature(c, txscript.NewTxSigHashes(c, fetcher), 0, prev.Value, prev.PkScript, txscript.SigHashAll, key, true)
	if err != nil {
		t.Fatal(err)
	}
	c.TxIn[0].Witness = wit
	return c
}

// TestAnchorRebroadcast: a node restart loses its mempool and the pending
// anchor with it; the anchorer broadcasts it again.
func TestAnchorRebroadcast(t *testing.T) {
	t.Parallel()
	node := btcdtest.Start(t, btcdtest.Options{Net: "simnet"})
	signer, _ := newSigner(t)
	l := newLedger(t, signer)
	l.grow(t, 2)
	a, _ := fundedAnchorer(t, node, l, 50_000)
	list := step(t, a)
	wantStates(t, list, lanchor.StatePending)
	node.Restart()
	h, _ := chainhash.NewHashFromStr(list[0].TxID)
	if _, err := node.RPC.GetRawTransaction(h); err == nil {
		t.Fatal("the restarted node still knows the anchor: the test shows nothing")
	}
	wantStates(t, step(t, a), lanchor.StatePending)
	if _, err := node.RPC.GetRawTransaction(h); err != nil {
		t.Fatalf("the anchor was not broadcast again: %v", err)
	}
	node.MustMine(1)
	wantStates(t, step(t, a), lanchor.StateConfirmed)
}

// TestAnchorUnfunded: without coins the anchorer waits, and anchors once
// the key is funded.
func TestAnchorUnfunded(t *testing.T) {
	t.Parallel()
	node := btcdtest.Start(t)
	signer, _ := newSigner(t)
	l := newLedger(t, signer)
	l.grow(t, 1)
	key, _ := btcec.NewPrivateKey()
	a, err := anchor.New(l.db, anchor.Config{Params: node.Params(), RPC: node.ConnConfig(false), Key: key, Checkpoint: l.latest})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	wantStates(t, step(t, a))
	addr, _ := btcutil.DecodeAddress(a.Address(), node.Params())
	if _, err := node.Wallet.Pay(regtest.Output{Address: addr, Sats: 20_000}); err != nil {
		t.Fatal(err)
	}
	node.MustMine(1)
	wantStates(t, step(t, a), lanchor.StatePending)
}

// TestVerify checks an anchor against btcd and the ledger: a ledger that
// grew since the anchor verifies; another history under the same key and
// a larger size is detected.
func TestVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	node := btcdtest.Start(t)
	signer, verifier := newSigner(t)
	l := newLedger(t, signer)
	wkey, _, _ := note.GenerateKey(rand.Reader, "witness.example/w1")
	l.cosigner, _ = note.NewSigner(wkey)
	l.grow(t, 5)
	a, _ := fundedAnchorer(t, node, l, 100_000)
	step(t, a)
	node.MustMine(1)
	list := step(t, a)
	wantStates(t, list, lanchor.StateConfirmed)
	anc := list[0]
	// The anchored note carries the cosignature; the digest is of the body.
	if n := strings.Count(anc.Checkpoint, "\n— "); n != 2 || !strings.Contains(anc.Checkpoint, "— witness.example/w1 ") {
		t.Fatalf("anchored checkpoint has %d signature lines:\n%s", n, anc.Checkpoint)
	}
	chain := &btcdchain.Chain{RPC: node.RPC}

	check := func(server string) error {
		c := &tlogclient.Client{Server: server, Verifier: verifier}
		cur, _, err := c.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return lanchor.Verify(ctx, anc, verifier, chain, c, cur)
	}

	l.grow(t, 300)
	if err := check(l.serve(t)); err != nil {
		t.Fatalf("the grown ledger: %v", err)
	}

	// The operator rewrites history: another ledger, same key, entries
	// 0–4 different, larger than the anchored one.
	rewritten := newLedger(t, signer)
	rewritten.grow(t, 8)
	err := check(rewritten.serve(t))
	if !errors.Is(err, lanchor.ErrInconsistent) {
		t.Fatalf("the rewritten ledger: %v, want ErrInconsistent", err)
	}
	t.Logf("rewritten: %v", err)

	// A listing lying about the block or the checkpoint.
	bad := anc
	other := *anc.BlockHeight - 1
	bad.BlockHeight = &other
	err = lanchor.Verify(ctx, bad, verifier, chain, &tlogclient.Client{}, ledger.Checkpoint{})
	if !errors.Is(err, lanchor.ErrBadAnchor) {
		t.Fatalf("wrong height: %v", err)
	}
	t.Logf("wrong height: %v", err)

	// A listing naming another transaction of the chain (the funding's, in
	// an earlier block) for the anchor's block.
	bad = anc
	tx := rawTx(t, node, anc.TxID)
	bad.TxID = tx.TxIn[0].PreviousOutPoint.Hash.String()
	err = lanchor.Verify(ctx, bad, verifier, chain, &tlogclient.Client{}, ledger.Checkpoint{})
	if !errors.Is(err, lanchor.ErrBadAnchor) || !strings.Contains(err.Error(), "is not in block") {
		t.Fatalf("other tx: %v", err)
	}
	t.Logf("other tx: %v", err)

	// A listing claiming the transaction anchors another checkpoint (a
	// real, signed one of the ledger, with its own digest).
	later, err := l.latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := lanchor.Body(later)
	cp, _ := ledger.ParseCheckpoint(body)
	d := lanchor.Digest(body)
	bad = anc
	bad.Checkpoint, bad.Size, bad.Root, bad.Digest = string(later), cp.Size, base64.StdEncoding.EncodeToString(cp.Root[:]), hex.EncodeToString(d[:])
	err = lanchor.Verify(ctx, bad, verifier, chain, &tlogclient.Client{}, ledger.Checkpoint{})
	if !errors.Is(err, lanchor.ErrBadAnchor) || !strings.Contains(err.Error(), "carries no OP_RETURN with the digest") {
		t.Fatalf("other checkpoint: %v", err)
	}
	t.Logf("other checkpoint: %v", err)
}

// TestTwoProcesses: two server processes on one database anchor once.
func TestTwoProcesses(t *testing.T) {
	t.Parallel()
	node := btcdtest.Start(t)
	signer, _ := newSigner(t)
	l := newLedger(t, signer)
	l.grow(t, 2)
	a1, key := fundedAnchorer(t, node, l, 50_000)
	h, _ := node.RPC.GetBlockCount()
	a2, err := anchor.New(l.db, anchor.Config{Params: node.Params(), RPC: node.ConnConfig(false), Key: key, ScanFrom: h - 1, Checkpoint: l.latest})
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	for range 5 {
		errs := make(chan error, 2)
		for _, a := range []*anchor.Anchorer{a1, a2} {
			go func() { errs <- a.Step(context.Background()) }()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	wantStates(t, step(t, a2), lanchor.StatePending)
}
