package web

import (
	"strings"
	"testing"
)

// TestLedgerAnchorsOff: a server that does not anchor its ledger says so.
// The listing itself is tested with a real anchorer and btcd in
// cmd/license and cmd/licensed.
func TestLedgerAnchorsOff(t *testing.T) {
	srv, _, _, _ := ledgerServer(t)
	resp, body := get(t, srv.URL+"/ledger/anchors")
	if resp.StatusCode != 404 || !strings.Contains(string(body), "does not anchor its ledger in Bitcoin") {
		t.Fatalf("anchors off: %d %s", resp.StatusCode, body)
	}
}
