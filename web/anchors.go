package web

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/licensed/licensed/ledger/anchor"
)

// AnchorList is the ledger's Bitcoin anchors (a
// *payments/bitcoin/anchor.Anchorer), for GET /ledger/anchors.
type AnchorList interface {
	// List returns every anchor, newest first.
	List(ctx context.Context) ([]anchor.Anchor, error)
}

// ledgerAnchors is GET /ledger/anchors: the ledger's Bitcoin timestamps in
// the JSON form package ledger/anchor documents (anchor.List), newest
// first; 404 when this server does not anchor its ledger.
func (s *Server) ledgerAnchors(c echo.Context) error {
	if s.deps.Ledger.Anchors == nil {
		return Errorf(http.StatusNotFound, "not_found", "This server does not anchor its ledger in Bitcoin.")
	}
	list, err := s.deps.Ledger.Anchors.List(c.Request().Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []anchor.Anchor{}
	}
	c.Response().Header().Set("Cache-Control", checkpointCache)
	return c.JSON(http.StatusOK, anchor.List{Anchors: list})
}
