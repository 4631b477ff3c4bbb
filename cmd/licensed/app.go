package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/btcsuite/btcd/rpcclient"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/internal/launch/pgcluster"
	"github.com/licensed/licensed/migrations"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/web"
)

// Main is the running server: the one place where packages are wired
// together. Open starts everything, Run serves until the context ends, Close
// stops everything Open started, in reverse order.
type Main struct {
	Config Config
	// Dev makes Open start the managed Postgres cluster (when DatabaseURL is
	// empty) and generate missing keys.
	Dev    bool
	Stdout io.Writer
	Log    *slog.Logger

	// Set by Open.
	URL               string // base URL the server answers on
	LedgerSigner      note.Signer
	LedgerVerifierKey string // the public key auditors pin
	Cluster           *pgcluster.Cluster
	DB                *pgxpool.Pool
	Server            *web.Server
	MetricsURL        string // where /metrics is served, "" when off
	listener          net.Listener
	metrics           net.Listener
	plans             *payments.Plans       // see loadPlans
	btcdRPC           *rpcclient.ConnConfig // the btcd openBitcoin reaches, for openAnchor
	closers           []func()
}

// Open prepares everything the server needs, in order: the data folder, the
// managed database (dev), the schema, the keys, the components, the listener.
func (m *Main) Open(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	cfg := &m.Config
	// The ports first: a port in use stops everything before a database or
	// a btcd is started and before a password is printed.
	l, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("couldn't listen on %s: %w (choose another with --addr)", cfg.Addr, err)
	}
	m.listener = l
	m.URL = "http://" + l.Addr().String()
	if cfg.MetricsAddr != "off" && cfg.MetricsAddr != "" {
		ml, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("couldn't listen on %s for /metrics: %w (choose another with --metrics-addr, or off)", cfg.MetricsAddr, err)
		}
		m.metrics = ml
		m.MetricsURL = "http://" + ml.Addr().String() + "/metrics"
	}
	if m.Dev {
		if err := os.MkdirAll(cfg.DataDir, 0o711); err != nil {
			return fmt.Errorf("couldn't create the data folder: %w", err)
		}
		if os.Geteuid() == 0 {
			// The managed Postgres runs as the postgres user and must be
			// able to enter (not list) the data folder; keys stay 0600.
			if err := os.Chmod(cfg.DataDir, 0o711); err != nil {
				return err
			}
		}
	}
	if cfg.DatabaseURL == "" {
		if !m.Dev {
			return errors.New("no database: set DATABASE_URL (or DATABASE_URL_FILE, or --database-url), or use 'licensed dev' for a managed one")
		}
		if err := m.startCluster(ctx); err != nil {
			return err
		}
	}
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("bad database URL: %w", err)
	}
	m.DB = pool
	m.closers = append(m.closers, pool.Close)
	if err := m.checkSchema(ctx); err != nil {
		return err
	}

	m.LedgerSigner, m.LedgerVerifierKey, err = loadLedgerKey(cfg.ledgerKeyFile(), cfg.LedgerOrigin, m.Dev)
	if err != nil {
		return err
	}

	deps := web.Deps{DB: m.DB}
	// Payments first: the ledger's sequencer is built with their hook
	// (payments.Service.OnSequenced), and starts only once Open has
	// succeeded.
	onSequenced, err := m.openPayments(ctx, &deps)
	if err != nil {
		return err
	}
	led, err := m.openLedger(ctx, &deps, onSequenced)
	if err != nil {
		return err
	}
	if err := m.openWitnesses(ctx, &deps, led); err != nil {
		return err
	}
	defer func() {
		if err == nil {
			m.startSequencer(led)
		}
	}()
	// -- bitcoin wiring --
	startBitcoin, err := m.openBitcoin(ctx, &deps)
	if err != nil {
		return err
	}
	// The ledger's Bitcoin anchors use the witnesses' checkpoints and btcd.
	startAnchor, err := m.openAnchor(ctx, &deps)
	if err != nil {
		return err
	}
	defer func() {
		if err == nil {
			startBitcoin()
			startAnchor()
		}
	}()
	// -- admission wiring --
	if err := m.openAdmission(ctx, &deps); err != nil {
		return err
	}
	// -- pages wiring --
	if err := m.openPages(ctx, &deps); err != nil {
		return err
	}
	if err := m.openPolls(ctx, &deps); err != nil {
		return err
	}
	admit, err := cfg.admitLimits()
	if err != nil {
		return err
	}
	m.Server = web.New(web.Config{
		BodyLimit:       cfg.BodyLimit,
		ShutdownTimeout: cfg.ShutdownTimeout,
		TrustProxy:      cfg.TrustProxy,
		PublicURL:       cfg.PublicURL,
		PublicMetrics:   cfg.PublicMetrics,
		OrderLimit:      web.RateLimit{PerSecond: cfg.OrderRate, Burst: cfg.OrderBurst},
		AdmitLimit:      web.RateLimit{PerSecond: cfg.AdmitRate, Burst: cfg.AdmitBurst},
		Admit:           admit,
	}, deps, m.Log)
	if plainHTTPOnTheInternet(cfg.Addr, cfg.PublicURL) {
		m.Log.Warn("serving plain http on a non-loopback address: put a TLS proxy in front and set --public-url https://…, or the operator's session and the customers' orders travel in clear",
			"addr", cfg.Addr)
	}
	return nil
}

// plainHTTPOnTheInternet reports whether the server listens beyond loopback
// with no https public URL saying a TLS proxy is in front.
func plainHTTPOnTheInternet(addr, publicURL string) bool {
	if strings.HasPrefix(strings.ToLower(publicURL), "https://") {
		return false
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// loadPlans returns the plans on sale, read once and shared by payments and
// admission: the plans file, under dev the sample plans, otherwise nil (the
// server then runs without orders and admission).
func (m *Main) loadPlans() (*payments.Plans, error) {
	if m.plans != nil || (m.Config.PlansFile == "" && !m.Dev) {
		return m.plans, nil
	}
	var err error
	if m.Config.PlansFile != "" {
		m.plans, err = payments.LoadPlans(m.Config.PlansFile)
	} else {
		m.plans, err = payments.ParsePlans([]byte(payments.SamplePlans))
	}
	if err != nil {
		return nil, usageError(err.Error())
	}
	return m.plans, nil
}

// startCluster starts the managed Postgres in DataDir/postgres (initialised on
// first run), keeps it running (pgcluster.Supervise) and points DatabaseURL
// at its "licensed" database.
func (m *Main) startCluster(ctx context.Context) error {
	dir := filepath.Join(m.Config.DataDir, "postgres")
	logf, err := os.OpenFile(filepath.Join(m.Config.DataDir, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	m.closers = append(m.closers, func() { logf.Close() })
	// The server, even when it runs as the postgres user, writes its log to
	// this file through the descriptor it inherits: no chown needed.
	m.Log.Info("starting the managed Postgres", "dir", dir)
	c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: dir, Fsync: true, Log: logf})
	if err != nil {
		return err
	}
	m.Cluster = c
	// A managed Postgres that dies (a crash, an OOM kill) is started again,
	// so the server recovers by itself: the pool reconnects, and requests
	// meanwhile are 503 database_unavailable.
	supervised, endSupervision := context.WithCancel(context.Background())
	supervisor := make(chan struct{})
	go func() { defer close(supervisor); c.Supervise(supervised, m.Log) }()
	m.closers = append(m.closers, func() {
		endSupervision()
		<-supervisor
		m.Log.Info("stopping the managed Postgres")
		c.Stop()
	})
	if err := c.EnsureDatabase(ctx, "licensed"); err != nil {
		return err
	}
	m.Config.DatabaseURL = c.URL("licensed")
	return nil
}

// checkSchema migrates (when asked) or refuses to run on a database whose
// schema is not the one this binary knows.
func (m *Main) checkSchema(ctx context.Context) error {
	conn, err := m.DB.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("couldn't connect to the database: %w", err)
	}
	defer conn.Release()
	if m.Config.Migrate {
		from, to, err := migrations.Up(ctx, conn.Conn())
		if err != nil {
			return err
		}
		if from != to {
			m.Log.Info("migrated the database", "from", from, "to", to)
		}
		return nil
	}
	v, err := migrations.Version(ctx, conn.Conn())
	if err != nil {
		return err
	}
	switch latest := migrations.Latest(); {
	case v < latest:
		return fmt.Errorf("the database schema is at version %d and this binary needs %d: run 'licensed migrate' (or start with --migrate)", v, latest)
	case v > latest:
		return fmt.Errorf("%w (database at version %d, this binary knows %d)", migrations.ErrNewerDatabase, v, latest)
	}
	return nil
}

// Run serves until ctx is done, then shuts down gracefully. /metrics is
// served on its own listener, apart from the customer port.
func (m *Main) Run(ctx context.Context) error {
	if m.metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Server.MetricsHandler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(m.metrics)
		defer srv.Close()
	}
	return m.Server.Serve(ctx, m.listener)
}

// Close stops everything Open started, newest first.
func (m *Main) Close() {
	if m.listener != nil {
		m.listener.Close()
	}
	if m.metrics != nil {
		m.metrics.Close()
	}
	for i := len(m.closers) - 1; i >= 0; i-- {
		m.closers[i]()
	}
	m.closers = nil
}

func newLogger(cfg Config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, usageError(fmt.Sprintf("bad log level %q: use debug, info, warn or error", cfg.LogLevel))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch strings.ToLower(cfg.LogFormat) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, usageError(fmt.Sprintf("bad log format %q: use text or json", cfg.LogFormat))
}
