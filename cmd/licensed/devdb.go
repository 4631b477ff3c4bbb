package main

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/licensed/licensed/internal/launch/pgcluster"
)

// devDataDir and serveDataDir are the default data folders of `licensed
// dev` and of the other commands.
const (
	devDataDir   = ".licensed"
	serveDataDir = "/var/lib/licensed"
)

// useDevDatabase lets the tools (reconcile, ledger fsck) run beside
// `licensed dev` with no database URL. When none is set it looks for dev's
// managed cluster in DataDir/postgres, then in ./.licensed/postgres (dev's
// default folder, for a command run where dev runs, when no --data-dir is
// given), points DatabaseURL at
// it and DataDir at its folder (so the ledger key is found too), and starts
// the cluster for the command's length when dev is not running. stop undoes
// that start. Without a cluster it is the usual "no database" usage error.
func (cfg *Config) useDevDatabase(ctx context.Context) (stop func(), err error) {
	stop = func() {}
	if cfg.DatabaseURL != "" {
		return stop, nil
	}
	dirs := []string{cfg.DataDir}
	if filepath.Clean(cfg.DataDir) == serveDataDir {
		// No --data-dir given: dev's default folder, if run beside it.
		dirs = append(dirs, devDataDir)
	}
	for _, d := range dirs {
		pg := filepath.Join(d, "postgres")
		if !pgcluster.Exists(pg) {
			continue
		}
		if !pgcluster.Running(pg) {
			c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: pg, Fsync: true})
			if err != nil {
				return stop, fmt.Errorf("couldn't start the dev database in %s: %w", pg, err)
			}
			stop = func() { c.Stop() }
		}
		u, err := pgcluster.URLAt(pg, "licensed")
		if err != nil {
			stop()
			return func() {}, err
		}
		cfg.DataDir, cfg.DatabaseURL = d, u
		return stop, nil
	}
	return stop, usageError(fmt.Sprintf("no database: set DATABASE_URL (or DATABASE_URL_FILE, or --database-url), or run beside `licensed dev` (no managed database in %s)",
		filepath.Join(dirs[len(dirs)-1], "postgres")))
}
