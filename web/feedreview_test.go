package web

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/pgledger"
)

// TestReviewSuspensionTilePaths: the feed's routes answer 200 with the
// right cache headers, 404 for a well-formed tile the feed does not hold
// (however large N is: N ≥ 2^40 answers 400 "bad_tile_path", whose message
// says a decimal without leading zeros, which it is), 400 for a malformed
// path. Errors carry no Cache-Control, as the ledger's own tile errors.
func TestReviewSuspensionTilePaths(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Pool(t)
	skey, vkey, _ := note.GenerateKey(rand.Reader, "web.test/ledger")
	signer, _ := note.NewSigner(skey)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	for i := range uint64(3) {
		if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return pgledger.Suspend(ctx, tx, i) }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.FeedRound(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(Config{}, Deps{DB: db, Ledger: &LedgerDeps{Store: l.Store(), VerifierKey: vkey}}, slog.New(slog.DiscardHandler)).Handler())
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		path   string
		status int
		cache  string
	}{
		{"/ledger/suspensions/checkpoint", 200, checkpointCache},
		{"/ledger/suspensions/tile/0.p/3", 200, immutableCache},
		{"/ledger/suspensions/tile/0.p/2", 200, immutableCache},
		{"/ledger/suspensions/tile/0.p/4", 404, ""},
		{"/ledger/suspensions/tile/0", 404, ""},
		{"/ledger/suspensions/tile/1", 404, ""},
		{"/ledger/suspensions/tile/1099511627775", 404, ""},
		{"/ledger/suspensions/tile/1099511627776", 404, ""},       // 2^40: well-formed, just not held
		{"/ledger/suspensions/tile/9223372036854775807", 404, ""}, // max int64
		{"/ledger/suspensions/tile/00", 400, ""},
		{"/ledger/suspensions/tile/0.p/0", 400, ""},
		{"/ledger/suspensions/tile/0.p/256", 400, ""},
		{"/ledger/suspensions/tile/0.p/03", 400, ""},
		{"/ledger/suspensions/tile/-1", 400, ""},
		{"/ledger/suspensions/tile/", 400, ""},
	} {
		resp, _ := get(t, srv.URL+c.path)
		if resp.StatusCode != c.status || resp.Header.Get("Cache-Control") != c.cache {
			t.Errorf("%s: %d %q, want %d %q", c.path, resp.StatusCode, resp.Header.Get("Cache-Control"), c.status, c.cache)
		}
	}
	_ = http.StatusOK
}
