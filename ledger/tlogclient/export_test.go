package tlogclient

import (
	"testing"

	"github.com/licensed/licensed/ledger"
)

// CachedTiles is how many hash tiles c keeps.
func CachedTiles(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.tiles)
}

// Checkpoint is c.Checkpoint, failing t on error.
func Checkpoint(t testing.TB, c *Client) ledger.Checkpoint {
	t.Helper()
	cp, _, err := c.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cp
}
