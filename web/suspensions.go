package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/licensed/licensed/ledger"
)

// suspensionFeed is what the suspension feed's routes read (package
// pgledger's Store has it).
type suspensionFeed interface {
	LatestSuspensions(ctx context.Context) (note []byte, size int64, err error)
	SuspensionEntries(ctx context.Context, from, to int64) ([]byte, error)
}

func (s *Server) feed() (suspensionFeed, error) {
	f, ok := s.deps.Ledger.Store.(suspensionFeed)
	if !ok {
		return nil, Errorf(http.StatusNotFound, "not_found", "This server publishes no suspension feed.")
	}
	return f, nil
}

// suspensionCheckpoint is GET /ledger/suspensions/checkpoint: the feed's
// latest signed checkpoint (package ledger, suspension.go).
func (s *Server) suspensionCheckpoint(c echo.Context) error {
	f, err := s.feed()
	if err != nil {
		return err
	}
	n, _, err := f.LatestSuspensions(c.Request().Context())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", checkpointCache)
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", n)
}

// suspensionTile is GET /ledger/suspensions/tile/<N> (entries 256N to
// 256N+255, once the feed holds them all) and /ledger/suspensions/tile/<N>.p/<W>
// (the first W of them, 1 ≤ W < 256): a tile's bytes never change, so both
// are immutable.
func (s *Server) suspensionTile(c echo.Context) error {
	f, err := s.feed()
	if err != nil {
		return err
	}
	n, w, ok := parseFeedTile(c.Param("*"))
	if !ok {
		return Errorf(http.StatusBadRequest, "bad_tile_path", "A suspension feed tile is /ledger/suspensions/tile/<N> or /ledger/suspensions/tile/<N>.p/<W>, N a decimal without leading zeros and 1 ≤ W ≤ 255.")
	}
	if n >= 1<<40 { // beyond any feed: 256 × 2^40 entries
		return Errorf(http.StatusNotFound, "not_found", "The suspension feed does not hold this tile's entries yet.")
	}
	from := n * ledger.SuspensionTileSize
	data, err := f.SuspensionEntries(c.Request().Context(), from, from+w)
	if err != nil {
		return err
	}
	if int64(len(data)) != w*ledger.SuspensionEntrySize {
		return Errorf(http.StatusNotFound, "not_found", "The suspension feed does not hold this tile's entries yet.")
	}
	c.Response().Header().Set("Cache-Control", immutableCache)
	return c.Blob(http.StatusOK, "application/octet-stream", data)
}

// parseFeedTile parses "<N>" or "<N>.p/<W>", canonically.
func parseFeedTile(p string) (n, w int64, ok bool) {
	num := func(s string) (int64, bool) {
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil && v >= 0 && strconv.FormatInt(v, 10) == s
	}
	head, width, partial := strings.Cut(p, ".p/")
	if n, ok = num(head); !ok {
		return 0, 0, false
	}
	if !partial {
		return n, ledger.SuspensionTileSize, true
	}
	if w, ok = num(width); !ok || w < 1 || w >= ledger.SuspensionTileSize {
		return 0, 0, false
	}
	return n, w, true
}
