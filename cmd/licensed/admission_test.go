package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/relay"
)

// TestServeAdmission runs the real Main (as `licensed serve`) on a database
// holding a ledger of licenses, and admits a customer's proof through it;
// its index follows the ledger, its settings come from the flags.
func TestServeAdmission(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := pgtest.URL(t)
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f := admissiontest.New(t, db, 20)
	dir := t.TempDir()
	plans := filepath.Join(dir, "plans.toml")
	os.WriteFile(plans, []byte("[[plan]]\nid = \"basic\"\nname = \"Basic\"\nprice = 500\ncurrency = \"usd\"\nduration_days = 30\ndaily_quota = 3\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "ledger.key"), []byte(f.SignerKey+"\n"), 0o600)

	m := &Main{Stdout: io.Discard, Log: slog.New(slog.DiscardHandler)}
	if _, err := parseFlags("serve", []string{
		"--database-url", url, "--data-dir", dir, "--addr", "127.0.0.1:0", "--plans-file", plans,
		"--ledger-origin", admissiontest.Origin, "--network", admissiontest.Network, "--ring-min", "11", "--ring-max", "32",
	}, io.Discard, func(fs *flag.FlagSet) { m.Config.register(fs, false) }); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 12) // within the flags' bounds, outside the default 16..16
	req := f.Prove(t, c, ring, pi, admissiontest.Scope(time.Now()), 0, []byte("through the real Main"))
	res, err := (&relay.Client{URL: m.URL}).Admit(ctx, req)
	if err != nil || !res.Admitted || res.Plan != admissiontest.Basic {
		t.Fatalf("admit through Main: %+v, %v", res, err)
	}
	// The quota comes from the plans file: counter 3 is over it.
	req = f.Prove(t, c, ring, pi, admissiontest.Scope(time.Now()), 3, []byte("over the quota"))
	var e *relay.Error
	if _, err := (&relay.Client{URL: m.URL}).Admit(ctx, req); !errors.As(err, &e) || e.Code != "counter_over_quota" {
		t.Fatalf("over the quota through Main: %v", err)
	}
	resp, err := http.Get(m.URL + "/openapi.yaml")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /openapi.yaml: %v %v", resp, err)
	}
	resp.Body.Close()
}
