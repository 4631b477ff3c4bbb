package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/licensed/licensed/migrations"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runServer(ctx, "serve", false, args, stdout, stderr)
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runServer(ctx, "dev", true, args, stdout, stderr)
}

func runServer(ctx context.Context, name string, dev bool, args []string, stdout, stderr io.Writer) error {
	m := &Main{Dev: dev, Stdout: stdout}
	if _, err := parseFlags(name, args, stderr, func(fs *flag.FlagSet) { m.Config.register(fs, dev) }); err != nil {
		return err
	}
	log, err := newLogger(m.Config, stderr)
	if err != nil {
		return err
	}
	m.Log = log
	if err := m.Open(ctx); err != nil {
		return err
	}
	defer m.Close()
	if dev {
		fmt.Fprintf(stdout, "licensed dev is running at %s/ (data in %s); press Ctrl-C to stop\n", m.URL, m.Config.DataDir)
		if m.Cluster != nil {
			fmt.Fprintf(stdout, "  database: %s\n", m.Config.DatabaseURL)
			fmt.Fprintf(stdout, "  from this folder, `licensed reconcile` and `licensed ledger fsck` find it by themselves (or give --data-dir %s)\n", m.Config.DataDir)
		}
		if m.MetricsURL != "" {
			fmt.Fprintf(stdout, "  metrics: %s\n", m.MetricsURL)
		}
	}
	log.Info("listening", "url", m.URL, "metrics", m.MetricsURL)
	err = m.Run(ctx)
	log.Info("shutting down")
	return err
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	if _, err := parseFlags("migrate", args, stderr, func(fs *flag.FlagSet) { cfg.register(fs, false) }); err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return usageError("no database: set DATABASE_URL (or DATABASE_URL_FILE, or --database-url)")
	}
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("couldn't connect to the database: %w", err)
	}
	defer conn.Close(context.Background())
	from, to, err := migrations.Up(ctx, conn)
	if err != nil {
		return err
	}
	if from == to {
		fmt.Fprintf(stdout, "the database is up to date (version %d)\n", to)
	} else {
		fmt.Fprintf(stdout, "migrated the database from version %d to %d\n", from, to)
	}
	return nil
}
