package ledger

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// paramError is a bad proof request; code "bad_proof_request".
type paramError struct{ msg string }

func (e *paramError) Error() string { return "ledger: " + e.msg }
func (e *paramError) Code() string  { return "bad_proof_request" }

func storeHashes(ctx context.Context, s Store) tlog.HashReader {
	return tlog.HashReaderFunc(func(ids []int64) ([]tlog.Hash, error) { return s.ReadHashes(ctx, ids) })
}

// ProveInclusion returns the proof that entry index is in the tree of size
// treeSize (RFC 6962 audit path). treeSize must not exceed the latest
// checkpoint.
func ProveInclusion(ctx context.Context, s Store, index, treeSize int64) (tlog.RecordProof, error) {
	if index < 0 || treeSize <= index {
		return nil, &paramError{fmt.Sprintf("index must be in [0, tree_size); got index %d, tree_size %d", index, treeSize)}
	}
	c, err := s.Latest(ctx)
	if err != nil {
		return nil, err
	}
	if treeSize > c.Size {
		return nil, &notFoundError{fmt.Sprintf("tree_size %d is beyond the latest checkpoint (%d)", treeSize, c.Size)}
	}
	return tlog.ProveRecord(treeSize, index, storeHashes(ctx, s))
}

// ProveConsistency returns the proof that the tree of size oldSize is a
// prefix of the tree of size newSize (RFC 6962). newSize must not exceed the
// latest checkpoint.
func ProveConsistency(ctx context.Context, s Store, oldSize, newSize int64) (tlog.TreeProof, error) {
	if oldSize < 1 || newSize < oldSize {
		return nil, &paramError{fmt.Sprintf("sizes must satisfy 1 ≤ old ≤ new; got old %d, new %d", oldSize, newSize)}
	}
	c, err := s.Latest(ctx)
	if err != nil {
		return nil, err
	}
	if newSize > c.Size {
		return nil, &notFoundError{fmt.Sprintf("new %d is beyond the latest checkpoint (%d)", newSize, c.Size)}
	}
	return tlog.ProveTree(newSize, oldSize, storeHashes(ctx, s))
}

// ReadBundle returns the C2SP entry bundle of tile t (t.Level must be
// EntriesLevel), provided the latest checkpoint covers it.
func ReadBundle(ctx context.Context, s Store, t Tile) ([]byte, error) {
	if t.Level != EntriesLevel {
		return nil, fmt.Errorf("ledger: %s is not an entry bundle", t.Path())
	}
	c, err := s.Latest(ctx)
	if err != nil {
		return nil, err
	}
	start := t.N * TileWidth
	end := start + int64(t.Width)
	if end > c.Size {
		return nil, &notFoundError{fmt.Sprintf("no entry bundle %s at log size %d", t.Path(), c.Size)}
	}
	// Any width within the latest checkpoint is served: entries never
	// change, so every bundle is immutable (C2SP clients ask only for the
	// widths of checkpoints).
	es, err := s.ReadEntries(ctx, start, t.Width)
	if err != nil {
		return nil, err
	}
	if len(es) != t.Width {
		return nil, fmt.Errorf("ledger: entries %d–%d are missing", start, end-1)
	}
	b := make([]byte, 0, t.Width*200)
	for _, e := range es {
		b = AppendBundleEntry(b, e)
	}
	return b, nil
}

// VerifierKey returns the note verifier key (name+id+key) of a note signer
// key (PRIVATE+KEY+name+id+key) as written by `licensed keygen`.
func VerifierKey(skey string) (string, error) {
	f := strings.SplitN(strings.TrimSpace(skey), "+", 5) // base64 may hold "+"
	if len(f) != 5 || f[0] != "PRIVATE" || f[1] != "KEY" {
		return "", fmt.Errorf("ledger: not a note signer key")
	}
	raw, err := base64.StdEncoding.DecodeString(f[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", fmt.Errorf("ledger: not an Ed25519 note signer key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(f[2], pub)
	if err != nil {
		return "", fmt.Errorf("ledger: %w", err)
	}
	s, err := note.NewSigner(strings.TrimSpace(skey))
	if err != nil {
		return "", fmt.Errorf("ledger: %w", err)
	}
	if v, err := note.NewVerifier(vkey); err != nil || v.KeyHash() != s.KeyHash() {
		return "", fmt.Errorf("ledger: the signer key's id does not match its key")
	}
	return vkey, nil
}
