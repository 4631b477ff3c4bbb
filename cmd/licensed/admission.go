package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/pgadmission"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/web"
)

// openAdmission wires the admission service: the ledger's license
// index, kept current by following the store, the plans' daily quotas, and
// the tag store in Postgres, plus a background pruning of past scopes'
// tags. Without plans (serve without a plans file) admission stays off.
func (m *Main) openAdmission(ctx context.Context, deps *web.Deps) error {
	cfg := &m.Config
	plans, err := m.loadPlans()
	if err != nil {
		return err
	}
	if plans == nil {
		m.Log.Info("admission is off: no plans file (--plans-file)")
		return nil
	}
	index := ledger.NewIndex()
	store := pgledger.NewStore(m.DB)
	if err := index.Sync(ctx, store); err != nil {
		return fmt.Errorf("couldn't load the license index: %w", err)
	}
	tags := pgadmission.NewPostgresTags(m.DB)
	// Under load, a tag round trip waits a little for company: fewer
	// statements per admission, for that much more latency only when busy.
	tags.Linger = cfg.AdmitLinger
	svc, err := admission.New(index, tags, admission.Config{
		Network:        cfg.Network,
		ClockSkew:      cfg.ClockSkew,
		MinRingSize:    cfg.RingMin,
		MaxRingSize:    cfg.RingMax,
		PoWDifficulty:  cfg.PoWDifficulty,
		PoWWindow:      cfg.PoWWindow,
		FreeDifficulty: cfg.FreeDifficulty,
		Quota: func(plan string) (uint32, bool) {
			p, ok := plans.Get(plan)
			return p.DailyQuota, ok
		},
		Log: m.Log,
	})
	if err != nil {
		return usageError(err.Error())
	}
	bg, stop := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { index.Follow(bg, store, 500*time.Millisecond, m.Log); done <- struct{}{} }()
	go func() {
		defer func() { done <- struct{}{} }()
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			if n, err := svc.Prune(bg); err != nil && bg.Err() == nil {
				m.Log.Warn("couldn't prune past admission tags", "err", err)
			} else if n > 0 {
				m.Log.Info("pruned past admission tags", "rows", n)
			}
			select {
			case <-bg.Done():
				return
			case <-t.C:
			}
		}
	}()
	m.closers = append(m.closers, func() { stop(); <-done; <-done })
	deps.Admission = svc
	return nil
}

// admitLimits are the admission endpoints' cost-based limits and the relay
// keys, from --relay-keys-file and --relay-keys (LICENSED_RELAY_KEYS_FILE,
// LICENSED_RELAY_KEYS). A keys file or line that does not parse stops the
// server: a relay whose key was dropped would otherwise silently fall to
// the anonymous limits.
func (cfg *Config) admitLimits() (web.AdmitLimits, error) {
	var text []byte
	if cfg.RelayKeysFile != "" {
		b, err := os.ReadFile(cfg.RelayKeysFile)
		if err != nil {
			return web.AdmitLimits{}, fmt.Errorf("couldn't read the relay keys: %w", err)
		}
		text = append(b, '\n')
	}
	text = append(text, strings.ReplaceAll(cfg.RelayKeys, ";", "\n")...)
	keys, err := web.ParseRelayKeys(text)
	if err != nil {
		return web.AdmitLimits{}, usageError(err.Error() + " (lines of --relay-keys-file, then of --relay-keys)")
	}
	return web.AdmitLimits{
		InFlight:      cfg.AdmitInFlight,
		Total:         cfg.AdmitTotalInFlight,
		Relay:         web.RateLimit{PerSecond: cfg.RelayRate, Burst: cfg.RelayBurst},
		RelayInFlight: cfg.RelayInFlight,
		Keys:          keys,
	}, nil
}
