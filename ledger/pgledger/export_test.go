package pgledger

import "context"

// SetBeforeCommit installs a hook that runs at the end of every round just
// before its commit (tests kill or fail the sequencer there).
func SetBeforeCommit(cfg *Config, f func(ctx context.Context) error) { cfg.beforeCommit = f }
