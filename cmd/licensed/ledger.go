package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/web"
)

// openLedger builds the ledger: the sequencer, with onSequenced (payments'
// hook, or nil) as its round hook, started by startSequencer once Open has
// succeeded; and the public endpoints.
func (m *Main) openLedger(ctx context.Context, deps *web.Deps, onSequenced func(ctx context.Context, tx pgx.Tx, round int64, seq []pgledger.Sequenced) error) (*pgledger.Ledger, error) {
	vkey := m.LedgerVerifierKey
	led := pgledger.New(m.DB, pgledger.Config{Signer: m.LedgerSigner, OnSequenced: onSequenced, Log: m.Log})
	deps.Ledger = &web.LedgerDeps{Store: led.Store(), VerifierKey: vkey}
	m.Log.Info("ledger", "origin", m.LedgerSigner.Name(), "verifier_key", vkey)
	return led, nil
}

// startSequencer runs the sequencer until Close. Every server process runs
// one; the Postgres advisory lock lets one sequence and keeps the others as
// standbys.
func (m *Main) startSequencer(led *pgledger.Ledger) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			err := led.RunSequencer(ctx)
			if ctx.Err() != nil {
				return
			}
			m.Log.Error("ledger: the sequencer stopped; restarting", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	})
	m.closers = append(m.closers, func() { cancel(); wg.Wait() })
}

// runLedger is `licensed ledger VERB`.
func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "fsck" {
		return usageError("usage: licensed ledger fsck [flags]")
	}
	return runLedgerFsck(ctx, args[1:], stdout, stderr)
}

// runLedgerFsck is `licensed ledger fsck`: it rebuilds every hash, tile and
// root from the entries, checks every checkpoint's signature and the
// consistency between checkpoints, prints what it found, and exits 1 on any
// mismatch.
func runLedgerFsck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	var vkey string
	if _, err := parseFlags("ledger fsck", args, stderr, func(fs *flag.FlagSet) {
		cfg.register(fs, false)
		fs.StringVar(&vkey, "verifier-key", env("LICENSED_LEDGER_VERIFIER_KEY", ""), "the ledger's verifier key; default: derived from the signer key file (env LICENSED_LEDGER_VERIFIER_KEY)")
	}); err != nil {
		return err
	}
	stopDev, err := cfg.useDevDatabase(ctx)
	if err != nil {
		return err
	}
	defer stopDev()
	if vkey == "" {
		b, err := os.ReadFile(cfg.ledgerKeyFile())
		if err != nil {
			return usageError(fmt.Sprintf("no verifier key: give --verifier-key or make the signer key file readable (%v)", err))
		}
		if vkey, err = ledger.VerifierKey(string(b)); err != nil {
			return err
		}
	}
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		return usageError(fmt.Sprintf("bad verifier key: %v", err))
	}
	db, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("bad database URL: %w", err)
	}
	defer db.Close()
	start := time.Now()
	store := pgledger.NewStore(db)
	rep, err := ledger.Fsck(ctx, store, v)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checked %d entries, %d stored hashes, %d tiles, %d checkpoints (%d consistency proofs), %d rounds in %v\n",
		rep.Entries, rep.Hashes, rep.Tiles, rep.Checkpoints, rep.ConsistencyProofs, rep.Rounds, time.Since(start).Round(time.Millisecond))
	// The suspension feed: every checkpoint against the chain of entries.
	notes, err := store.SuspensionCheckpoints(ctx)
	if err != nil {
		return err
	}
	entries, err := store.SuspensionEntries(ctx, 0, math.MaxInt64)
	if err != nil {
		return err
	}
	feed, feedProblems := ledger.CheckSuspensionFeed(notes, entries, v)
	fmt.Fprintf(stdout, "checked the suspension feed: %d entries, %d checkpoints, %d licenses suspended\n", len(entries)/ledger.SuspensionEntrySize, len(notes), len(feed.Suspended))
	rep.Problems = append(rep.Problems, feedProblems...)
	if rep.OK() {
		fmt.Fprintln(stdout, "ok: every tile and root matches the entries, and the suspension feed its checkpoints")
		return nil
	}
	for _, p := range rep.Problems {
		fmt.Fprintln(stdout, "MISMATCH:", p)
	}
	fmt.Fprintf(stdout, "%d problems\n", len(rep.Problems))
	return exitError(1)
}
