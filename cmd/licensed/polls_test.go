package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/ledger/poll/pgpoll"
)

// appendLicenses puts n licenses on the ledger of the database at u.
func appendLicenses(t *testing.T, u, keyFile, origin string, n int) {
	t.Helper()
	ctx := t.Context()
	signer, _, err := loadLedgerKey(keyFile, origin, false)
	if err != nil {
		t.Fatal(err)
	}
	db, err := pgxpool.New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range n {
		if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			_, err := pgledger.Enqueue(ctx, tx, fmt.Sprint(i), fsckLicense())
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pgledger.New(db, pgledger.Config{Signer: signer}).Round(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPollNew(t *testing.T) {
	ctx := context.Background()
	const origin = "poll.test/ledger"
	keyFile := filepath.Join(t.TempDir(), "ledger.key")
	if _, err := createLedgerKey(keyFile, origin); err != nil {
		t.Fatal(err)
	}
	u := pgtest.URL(t)
	var out, errb bytes.Buffer
	empty := []string{"poll", "new", "--database-url", u, "--ledger-key-file", keyFile, "--ledger-origin", origin,
		"--id", "early", "--question", "Q", "--option", "a", "--option", "b", "--plan", "basic", "--closes-in", "1h"}
	if code := run(ctx, empty, &out, &errb); code != 2 || !strings.Contains(errb.String(), "the ledger is empty") {
		t.Fatalf("poll new on an empty ledger: %d %s", code, errb.String())
	}
	appendLicenses(t, u, keyFile, origin, 12)
	base := []string{"poll", "new", "--database-url", u, "--ledger-key-file", keyFile, "--ledger-origin", origin}
	args := append(base, "--id", "colour", "--question", "Which colour?", "--option", "blue", "--option", "green",
		"--plan", "basic", "--plan", "pro", "--opens", "2026-12-01T12:00:00Z", "--closes-in", "72h", "--hidden-tally")
	out.Reset()
	errb.Reset()
	if code := run(ctx, args, &out, &errb); code != 0 {
		t.Fatalf("poll new: %d %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "poll colour created") || !strings.Contains(out.String(), origin+"/poll/colour\n1\n") {
		t.Fatalf("poll new printed %q", out.String())
	}
	db, err := pgxpool.New(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	signer, _, err := loadLedgerKey(keyFile, origin, false)
	if err != nil {
		t.Fatal(err)
	}
	store, _ := pgpoll.New(db, signer, nil)
	st, err := store.Get(ctx, "colour")
	if err != nil {
		t.Fatal(err)
	}
	if p := st.Poll; !p.HiddenTally || p.Closes.Sub(p.Opens).Hours() != 72 || len(p.Plans) != 2 || p.MinRing != 16 || p.Electorate != 12 {
		t.Fatalf("stored poll %+v", p)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"again", args, "exists already"},
		{"one option", append(base, "--id", "x", "--question", "Q", "--option", "a", "--plan", "basic", "--closes-in", "1h"), "options"},
		{"no close", append(base, "--id", "y", "--question", "Q", "--option", "a", "--option", "b", "--plan", "basic"), "closes"},
		{"bad id", append(base, "--id", "Bad", "--question", "Q", "--option", "a", "--option", "b", "--plan", "basic", "--closes-in", "1h"), "poll id"},
		{"no verb", []string{"poll"}, "poll new"},
		{"electorate beyond the ledger", append(base, "--id", "z", "--question", "Q", "--option", "a", "--option", "b", "--plan", "basic", "--closes-in", "1h", "--electorate", "13"), "beyond the ledger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(ctx, tc.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("%d %s", code, errb.String())
			}
		})
	}
}

// TestServePolls: the server started by Main serves the polls created by
// `licensed poll new` (API and page).
func TestServePolls(t *testing.T) {
	m := &Main{Log: slog.New(slog.DiscardHandler)}
	m.Config = Config{Addr: "127.0.0.1:0", DatabaseURL: pgtest.URL(t), DataDir: t.TempDir(), LedgerOrigin: "test.example/ledger", MetricsAddr: "off"}
	keyFile := filepath.Join(m.Config.DataDir, "ledger.key")
	if _, err := createLedgerKey(keyFile, m.Config.LedgerOrigin); err != nil {
		t.Fatal(err)
	}
	appendLicenses(t, m.Config.DatabaseURL, keyFile, m.Config.LedgerOrigin, 3)
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"poll", "new", "--database-url", m.Config.DatabaseURL, "--ledger-key-file", keyFile, "--ledger-origin", m.Config.LedgerOrigin,
		"--id", "served", "--question", "Served?", "--option", "yes", "--option", "no", "--plan", "basic", "--closes-in", "1h"}, &out, &errb); code != 0 {
		t.Fatal(errb.String())
	}
	serveMain(t, m)
	for _, path := range []string{"/v1/polls", "/v1/polls/served", "/polls"} {
		res, err := http.Get(m.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), "Served?") {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
		}
	}
}
