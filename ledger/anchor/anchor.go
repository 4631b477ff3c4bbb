// Package anchor is the format of the ledger's Bitcoin timestamps: which
// hash of a checkpoint goes into a transaction's OP_RETURN output, how the
// server lists its anchors at GET /ledger/anchors, and how a client checks
// an anchor against a Bitcoin node and against the ledger it reads now.
//
// Use it as
//
//	list, err := anchor.ParseList(body)   // GET <server>/ledger/anchors
//	for _, a := range list.Anchors {
//		err := anchor.Verify(ctx, a, verifier, chain, client, current)
//	}
//
// It does no I/O of its own: the chain (a Bitcoin node, see package
// ledger/anchor/btcdchain) and the ledger client (package ledger/tlogclient)
// are the caller's, and it imports no Bitcoin library.
//
// # Payload
//
// An anchor commits to a checkpoint body (C2SP tlog-checkpoint: origin,
// size, base64 root and any extension lines, each ending in "\n"; not the
// signature lines, so the same checkpoint has the same digest whoever
// cosigned it):
//
//	digest  = SHA-256("lic/v1/anchor" ‖ body)
//	payload = "licA" ‖ digest                  (36 bytes)
//	script  = OP_RETURN (0x6a) ‖ 0x24 ‖ payload (38 bytes)
//
// The transaction carrying the anchor has exactly one output with that
// script (value 0), and usually a change output back to the anchor key.
//
// # Listing
//
// GET /ledger/anchors answers JSON, newest first:
//
//	{"anchors": [{
//	  "checkpoint": "<the signed checkpoint note, with its cosignatures>",
//	  "size": 42, "root": "<base64>", "digest": "<hex>",
//	  "txid": "<hex, as block explorers show it>",
//	  "state": "confirmed",            // pending, confirmed or replaced
//	  "block_hash": "<hex>", "block_height": 871234   // when confirmed
//	}]}
//
// A pending anchor is broadcast and not yet in a block; a replaced one was
// dropped by a reorg and could not be rebroadcast (its input was spent
// otherwise), and a newer anchor took its place.
//
// # What an anchor proves
//
// A confirmed anchor proves that the checkpoint existed, signed, no later
// than the block's time; Verify also proves the ledger served now extends
// it, so the history up to that size was not rewritten since. It does not
// prove that the server showed everyone that checkpoint (the witnesses'
// cosignatures do that), nor anything about entries after it, and a server
// could leave an anchor out of its listing: a client that keeps the anchors
// it saw notices that.
package anchor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/tlogclient"
)

// Sizes of the payload and of the OP_RETURN script that carries it.
const (
	DigestSize  = sha256.Size
	PayloadSize = len(Magic) + DigestSize
	ScriptSize  = 2 + PayloadSize
)

// Magic starts every anchor payload, so anchors can be found on the chain.
const Magic = "licA"

// label separates the anchor digest from every other hash of the project.
const label = "lic/v1/anchor"

const (
	opReturn = 0x6a
)

// Digest is the hash an anchor carries for a checkpoint body (the note text
// without signatures).
func Digest(body []byte) [DigestSize]byte {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write(body)
	var d [DigestSize]byte
	h.Sum(d[:0])
	return d
}

// Script is the OP_RETURN output script carrying digest.
func Script(digest [DigestSize]byte) []byte {
	s := make([]byte, 0, ScriptSize)
	s = append(s, opReturn, byte(PayloadSize))
	s = append(s, Magic...)
	return append(s, digest[:]...)
}

// ParseScript returns the digest an output script carries, and false when
// the script is not exactly an anchor script.
func ParseScript(script []byte) ([DigestSize]byte, bool) {
	var d [DigestSize]byte
	if len(script) != ScriptSize || script[0] != opReturn || int(script[1]) != PayloadSize ||
		string(script[2:2+len(Magic)]) != Magic {
		return d, false
	}
	copy(d[:], script[2+len(Magic):])
	return d, true
}

// Body returns the text of a signed note: everything up to the blank line
// before its signatures.
func Body(signed []byte) ([]byte, error) {
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		return nil, errors.New("anchor: the checkpoint is not a signed note")
	}
	return signed[:i+1], nil
}

// States of an anchor.
const (
	StatePending   = "pending"
	StateConfirmed = "confirmed"
	StateReplaced  = "replaced"
)

// An Anchor is one entry of the listing (see the package documentation).
type Anchor struct {
	Checkpoint  string `json:"checkpoint"`
	Size        int64  `json:"size"`
	Root        string `json:"root"`
	Digest      string `json:"digest"`
	TxID        string `json:"txid"`
	State       string `json:"state"`
	BlockHash   string `json:"block_hash,omitempty"`
	BlockHeight *int64 `json:"block_height,omitempty"`
}

// A List is the body of GET /ledger/anchors.
type List struct {
	Anchors []Anchor `json:"anchors"`
}

// maxList bounds a listing (a daily anchor for decades fits).
const maxList = 64 << 20

// ParseList parses and checks a listing: each anchor's checkpoint parses,
// its size, root and digest are the checkpoint's, its txid and block hash
// are 32-byte hex, and a confirmed anchor has a block. Signatures and the
// chain are Verify's business.
func ParseList(b []byte) (*List, error) {
	if len(b) > maxList {
		return nil, errors.New("anchor: the listing is too large")
	}
	var l List
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("anchor: the listing is not JSON of the documented form: %w", err)
	}
	for i, a := range l.Anchors {
		if err := a.check(); err != nil {
			return nil, fmt.Errorf("anchor: listing entry %d: %w", i, err)
		}
	}
	return &l, nil
}

func (a *Anchor) check() error {
	body, err := Body([]byte(a.Checkpoint))
	if err != nil {
		return err
	}
	cp, err := ledger.ParseCheckpoint(body)
	if err != nil {
		return err
	}
	if cp.Size != a.Size || ledgerRoot(cp) != a.Root {
		return errors.New("its size or root is not its checkpoint's")
	}
	d := Digest(body)
	if hex.EncodeToString(d[:]) != a.Digest {
		return errors.New("its digest is not its checkpoint's")
	}
	if !isHash(a.TxID) {
		return errors.New("its txid is not 64 lower-case hex digits")
	}
	switch a.State {
	case StateConfirmed:
		if !isHash(a.BlockHash) || a.BlockHeight == nil || *a.BlockHeight < 0 {
			return errors.New("it is confirmed but names no block")
		}
	case StatePending, StateReplaced:
		if a.BlockHash != "" || a.BlockHeight != nil {
			return errors.New("it names a block but is not confirmed")
		}
	default:
		return fmt.Errorf("unknown state %q", a.State)
	}
	return nil
}

func ledgerRoot(cp ledger.Checkpoint) string {
	return base64.StdEncoding.EncodeToString(cp.Root[:])
}

func isHash(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32 && hex.EncodeToString(b) == s
}

// Chain is a view of the Bitcoin block chain, as a node the client trusts
// sees it (package ledger/anchor/btcdchain reads it from btcd).
type Chain interface {
	// BlockHash returns the hash (hex, as block explorers show it) of the
	// block at height on the node's best chain.
	BlockHash(ctx context.Context, height int64) (string, error)
	// OutputScripts returns the output scripts of transaction txid in
	// block blockHash, and ErrNotInBlock when the block does not hold it.
	OutputScripts(ctx context.Context, blockHash, txid string) ([][]byte, error)
}

// ErrNotInBlock is a transaction the block does not hold.
var ErrNotInBlock = errors.New("anchor: the transaction is not in the block")

// Consistency checks that the ledger under cur extends old (both verified
// checkpoints), failing with an error wrapping tlogclient.ErrFork when it
// does not; *tlogclient.Client is one.
type Consistency interface {
	Consistent(ctx context.Context, old, cur ledger.Checkpoint) error
}

// ErrInconsistent is an anchored checkpoint the current ledger does not
// extend: the history was rewritten after the anchor.
var ErrInconsistent = errors.New("anchor: the ledger was rewritten after an anchor")

// inconsistentError is ErrInconsistent with its sentence, wrapping the
// log's ErrFork.
type inconsistentError struct {
	msg string
	err error
}

func (e *inconsistentError) Error() string        { return e.msg }
func (e *inconsistentError) Unwrap() error        { return e.err }
func (e *inconsistentError) Is(target error) bool { return target == ErrInconsistent }

// ErrBadAnchor is an anchor that does not check out against the chain or
// the ledger's key.
var ErrBadAnchor = errors.New("anchor: bad anchor")

// Verify checks one confirmed anchor: its checkpoint is signed by the
// ledger's key v; the block it names is on chain's best chain at its height
// and holds its transaction; that transaction has an output carrying the
// checkpoint's digest; and the ledger under cur (a verified checkpoint)
// extends the anchored checkpoint, checked by log. A pending or replaced
// anchor proves nothing and is an error too. Errors are one sentence and
// wrap ErrBadAnchor, ErrInconsistent, or the chain's or log's error.
func Verify(ctx context.Context, a Anchor, v note.Verifier, chain Chain, log Consistency, cur ledger.Checkpoint) error {
	if err := a.check(); err != nil {
		return fmt.Errorf("%w: the anchor in tx %s is malformed: %v", ErrBadAnchor, a.TxID, err)
	}
	if a.State != StateConfirmed {
		return fmt.Errorf("%w: the anchor in tx %s is %s, not in a block", ErrBadAnchor, a.TxID, a.State)
	}
	cp, err := ledger.OpenCheckpoint([]byte(a.Checkpoint), v)
	if err != nil {
		return fmt.Errorf("%w: the checkpoint anchored in tx %s is not signed by the ledger's key: %v", ErrBadAnchor, a.TxID, err)
	}
	h, err := chain.BlockHash(ctx, *a.BlockHeight)
	if err != nil {
		return fmt.Errorf("anchor: couldn't read block %d from the Bitcoin node: %w", *a.BlockHeight, err)
	}
	if h != a.BlockHash {
		return fmt.Errorf("%w: block %s named by the anchor in tx %s is not at height %d of the node's best chain", ErrBadAnchor, a.BlockHash, a.TxID, *a.BlockHeight)
	}
	scripts, err := chain.OutputScripts(ctx, a.BlockHash, a.TxID)
	if errors.Is(err, ErrNotInBlock) {
		return fmt.Errorf("%w: tx %s is not in block %d as the listing says", ErrBadAnchor, a.TxID, *a.BlockHeight)
	}
	if err != nil {
		return fmt.Errorf("anchor: couldn't read tx %s from the Bitcoin node: %w", a.TxID, err)
	}
	body, _ := Body([]byte(a.Checkpoint))
	want := Digest(body)
	found := false
	for _, s := range scripts {
		if d, ok := ParseScript(s); ok && d == want {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%w: tx %s carries no OP_RETURN with the digest of the checkpoint of size %d", ErrBadAnchor, a.TxID, cp.Size)
	}
	if err := log.Consistent(ctx, cp, cur); err != nil {
		if !errors.Is(err, tlogclient.ErrFork) {
			return fmt.Errorf("anchor: couldn't check the ledger against the checkpoint anchored in tx %s: %w", a.TxID, err)
		}
		return &inconsistentError{fmt.Sprintf("anchor: the ledger of size %d does not extend the checkpoint of size %d anchored in block %d (tx %s): its history was rewritten after the anchor",
			cur.Size, cp.Size, *a.BlockHeight, a.TxID), err}
	}
	return nil
}
