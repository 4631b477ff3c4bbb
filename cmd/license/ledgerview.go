package main

import (
	"context"
	"errors"
	"net/http"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/issuer/wallet"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/tlogclient"
)

// auditedLedger reads the ledger through its C2SP tiles with package
// tlogclient, trusting nothing the server says that it cannot check against
// a checkpoint signed with the pinned key: every hash tile is verified up
// to the checkpoint's root, and every entry fetched is hashed and compared
// with its verified leaf hash.
type auditedLedger struct {
	log  *tlogclient.Client
	base string
	cp   ledger.Checkpoint
}

// auditLedger fetches the current checkpoint, checks its signature with the
// ledger key (the one given, or the one pinned in st) and its consistency
// with the checkpoint recorded in st, then records the key and the new
// checkpoint in st. The caller saves st.
func auditLedger(ctx context.Context, api *apiClient, st *wallet.LedgerState, key string) (*auditedLedger, error) {
	switch {
	case key == "" && st.Key == "":
		return nil, sayf("no ledger key: pass the ledger's verifier key with --ledger-key or %s (the server operator publishes it); it is then pinned in the account file.", envLicenseLedgerKey)
	case key == "":
		key = st.Key
	case st.Key != "" && key != st.Key:
		return nil, sayf("the ledger key given differs from the key pinned in the account file (%s); if the operator really changed it, make a new account file with 'license account new --restore'.", st.Key)
	}
	verifier, err := note.NewVerifier(key)
	if err != nil {
		return nil, sayf("the ledger key %q is not a note verifier key (origin+hash+base64).", key)
	}
	log, err := withWitnessPolicy(&tlogclient.Client{Server: api.base, Verifier: verifier, HTTP: api.http})
	if err != nil {
		return nil, err
	}
	l := &auditedLedger{log: log, base: api.base}
	cp, _, err := l.log.Checkpoint(ctx)
	var he *tlogclient.HTTPError
	switch {
	case errors.As(err, &he) && he.Status == http.StatusNotFound:
		return nil, sayf("the server at %s has no ledger checkpoint: its ledger is empty, or it serves no ledger.", api.base)
	case errors.Is(err, tlogclient.ErrMismatch):
		return nil, sayf("the ledger checkpoint from %s is not signed by the pinned ledger key %s; do not trust this server's ledger.", api.base, verifier.Name())
	case err != nil:
		return nil, l.failure(err)
	}
	l.cp = cp
	if st.Size > cp.Size {
		return nil, sayf("the ledger shrank from %d entries to %d: the server is showing a forked or rolled back ledger; do not trust it.", st.Size, cp.Size)
	}
	if len(st.Root) == len(tlog.Hash{}) && st.Size > 0 {
		old := ledger.Checkpoint{Origin: cp.Origin, Size: st.Size, Root: tlog.Hash(st.Root)}
		err := l.log.Consistent(ctx, old, cp)
		if errors.Is(err, tlogclient.ErrFork) {
			return nil, sayf("the ledger at %d entries is not consistent with the one seen before: the server is showing a forked ledger; do not trust it.", cp.Size)
		}
		if err != nil {
			return nil, l.failure(err)
		}
	}
	st.Key = key
	st.Size = cp.Size
	st.Root = cp.Root[:]
	return l, nil
}

// failure turns an error from reading the ledger into a sentence.
func (l *auditedLedger) failure(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ee *tlogclient.EntryError
	var he *tlogclient.HTTPError
	switch {
	case errors.As(err, &ee):
		return sayf("ledger entry %d from %s is not the one the signed checkpoint commits to: the server is showing a tampered ledger; do not trust it.", ee.Index, l.base)
	case errors.Is(err, tlogclient.ErrMismatch):
		return sayf("a ledger tile from %s does not match the signed checkpoint: the server is showing a tampered ledger; do not trust it.", l.base)
	case errors.As(err, &he):
		return sayf("the server at %s did not serve a ledger tile (HTTP %d %s).", l.base, he.Status, http.StatusText(he.Status))
	}
	return sayf("couldn't read the ledger from the server at %s (%s).", l.base, rootCause(err))
}

// entryTile returns the entries of entry tile n under the checkpoint, each
// checked against its verified leaf hash. Entry i of the result has ledger
// index n·256 + i.
func (l *auditedLedger) entryTile(ctx context.Context, n int64) ([][]byte, error) {
	b, err := l.log.Bundle(ctx, l.cp, n)
	if err != nil {
		return nil, l.failure(err)
	}
	return b.Entries, nil
}

// entriesAt returns the verified, parsed entries at the given indexes,
// fetching each entry tile once.
func (l *auditedLedger) entriesAt(ctx context.Context, indexes []uint64) (map[uint64]ledger.Entry, error) {
	tiles := map[int64][][]byte{}
	out := make(map[uint64]ledger.Entry, len(indexes))
	for _, idx := range indexes {
		if idx >= uint64(l.cp.Size) {
			return nil, sayf("ledger index %d is beyond the ledger's signed checkpoint of %d entries.", idx, l.cp.Size)
		}
		n := int64(idx / ledger.TileWidth)
		bundle, ok := tiles[n]
		if !ok {
			var err error
			if bundle, err = l.entryTile(ctx, n); err != nil {
				return nil, err
			}
			tiles[n] = bundle
		}
		e, err := ledger.ParseEntry(bundle[idx%ledger.TileWidth])
		if err != nil {
			return nil, sayf("ledger entry %d is not a valid entry: the ledger is broken.", idx)
		}
		out[idx] = e
	}
	return out, nil
}
