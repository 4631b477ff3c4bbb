package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/licensed/licensed/ledger"
)

// fetchFeed returns the suspension feed's checkpoint and its entries from
// st's size to the checkpoint's, checked: signed by the ledger's key, an
// extension of st (ErrFork otherwise), every entry on the chain to the
// signed head. It returns the new state; st is not changed.
func (m *Mirror) fetchFeed(ctx context.Context, st *ledger.SuspensionState) (*ledger.SuspensionState, error) {
	msg, err := m.get(ctx, "/ledger/suspensions/checkpoint", 16<<10)
	if err != nil {
		return nil, err
	}
	cp, err := ledger.OpenSuspensionCheckpoint(msg, m.verifier)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	var entries []byte
	if cp.Size > st.Size {
		for n := st.Size / ledger.SuspensionTileSize; n*ledger.SuspensionTileSize < cp.Size; n++ {
			w := min(cp.Size-n*ledger.SuspensionTileSize, ledger.SuspensionTileSize)
			path := "/ledger/suspensions/tile/" + strconv.FormatInt(n, 10)
			if w < ledger.SuspensionTileSize {
				path += ".p/" + strconv.FormatInt(w, 10)
			}
			b, err := m.get(ctx, path, ledger.SuspensionTileSize*ledger.SuspensionEntrySize)
			if err != nil {
				return nil, err
			}
			if int64(len(b)) != w*ledger.SuspensionEntrySize {
				return nil, fmt.Errorf("relay: suspension feed tile %s has %d bytes, want %d", path, len(b), w*ledger.SuspensionEntrySize)
			}
			skip := max(st.Size-n*ledger.SuspensionTileSize, 0) * ledger.SuspensionEntrySize
			entries = append(entries, b[skip:]...)
		}
	}
	next := *st
	if err := next.Extend(cp, entries); err != nil {
		if errors.Is(err, ledger.ErrSuspensionFork) {
			return nil, fmt.Errorf("%w: %w", ErrFork, err)
		}
		return nil, fmt.Errorf("relay: %w", err)
	}
	return &next, nil
}

// get fetches path from the server, at most limit bytes; a status other
// than 200 is an *Error.
func (m *Mirror) get(ctx context.Context, path string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(m.c.URL, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.c.http().Do(req)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, &Error{Status: resp.StatusCode, Code: fmt.Sprint("http_", resp.StatusCode), Message: "couldn't fetch " + path}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("relay: couldn't read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("relay: %s is longer than %d bytes", path, limit)
	}
	return b, nil
}

// Suspensions returns the suspension feed's size the mirror verified and
// applied, and the licenses it holds suspended.
func (m *Mirror) Suspensions() (size int64, suspended []uint64) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.feed.Size, m.feed.Indices()
}
