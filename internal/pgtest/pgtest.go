// Package pgtest gives each test its own migrated PostgreSQL database.
//
// When TEST_DATABASE_URL is unset, the first call starts a throwaway cluster
// (package pgcluster: initdb + postgres from the installed server binaries,
// private socket folder, fsync off) shared by the tests of one test binary,
// migrates a template database once, and clones a fresh database from the
// template for every test (CREATE DATABASE … TEMPLATE, about 30 ms). When
// TEST_DATABASE_URL is set, that server is used instead; it must allow
// CREATE DATABASE.
//
// Every package whose tests use it declares
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// so the cluster is stopped when the tests end. When no PostgreSQL can be had,
// tests are skipped on a developer machine but fail when CI=true: in CI a
// missing database is a broken set-up, never a reason to pass.
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/internal/launch/pgcluster"
	"github.com/licensed/licensed/migrations"
)

const template = "licensed_template"

var (
	once     sync.Once
	setupErr error
	baseURL  string // URL of the maintenance database
	cluster  *pgcluster.Cluster
	tmpDir   string
	counter  atomic.Int64
)

// Main runs the tests and stops the cluster pgtest started, if any.
func Main(m *testing.M) {
	code := m.Run()
	Shutdown()
	os.Exit(code)
}

// Shutdown stops the cluster started by this package and removes its files.
func Shutdown() {
	if cluster != nil {
		cluster.Stop()
		cluster = nil
	}
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
		tmpDir = ""
	}
}

func setup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		baseURL = u
	} else {
		dir, err := os.MkdirTemp("", "pgtest-")
		if err != nil {
			setupErr = err
			return
		}
		tmpDir = dir
		c, err := pgcluster.Start(ctx, pgcluster.Config{Dir: dir})
		if err != nil {
			setupErr = err
			return
		}
		cluster = c
		baseURL = c.URL("postgres")
	}
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		setupErr = fmt.Errorf("pgtest: couldn't connect to %s: %w", redact(baseURL), err)
		return
	}
	defer conn.Close(ctx)
	// A template left by an interrupted run (TEST_DATABASE_URL only) is rebuilt.
	conn.Exec(ctx, `update pg_database set datistemplate = false where datname = '`+template+`'`)
	conn.Exec(ctx, `drop database if exists `+template+` with (force)`)
	if _, err := conn.Exec(ctx, `create database `+template); err != nil {
		setupErr = fmt.Errorf("pgtest: couldn't create the template database: %w", err)
		return
	}
	tconn, err := pgx.Connect(ctx, withDB(baseURL, template))
	if err != nil {
		setupErr = err
		return
	}
	defer tconn.Close(ctx)
	if _, _, err := migrations.Up(ctx, tconn); err != nil {
		setupErr = err
		migrationsFailed = true
		return
	}
}

// migrationsFailed: PostgreSQL ran but the migrations did not apply, a bug
// in the tree, not a missing server: every test fails, in CI or not.
var migrationsFailed bool

func withDB(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	u.Path = "/" + db
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

func require(tb testing.TB) {
	tb.Helper()
	once.Do(setup)
	if setupErr != nil {
		if os.Getenv("CI") == "true" || migrationsFailed {
			tb.Fatalf("pgtest: PostgreSQL is required in CI: %v", setupErr)
		}
		tb.Skipf("pgtest: no PostgreSQL (install the 'postgresql' package or set TEST_DATABASE_URL): %v", setupErr)
	}
}

// URL creates a fresh migrated database for this test and returns its URL.
// The database is dropped when the test ends.
func URL(tb testing.TB) string {
	tb.Helper()
	require(tb)
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), counter.Add(1))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		tb.Fatalf("pgtest: couldn't connect: %v", err)
	}
	defer conn.Close(ctx)
	// CREATE DATABASE … TEMPLATE fails if someone else is connected to the
	// template at that moment; retry briefly.
	for i := 0; ; i++ {
		_, err = conn.Exec(ctx, `create database `+name+` template `+template)
		if err == nil || i == 50 || !strings.Contains(err.Error(), "being accessed") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("pgtest: couldn't create test database: %v", err)
	}
	tb.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), baseURL)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), `drop database if exists `+name+` with (force)`)
	})
	return withDB(baseURL, name)
}

// Pool creates a fresh migrated database for this test and returns a pool on
// it, closed when the test ends.
func Pool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	u := URL(tb)
	pool, err := pgxpool.New(context.Background(), u)
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// Cluster returns the cluster pgtest started, or nil when TEST_DATABASE_URL
// is in use. Tests that stop the database (readiness checks) need their own
// cluster instead: see StartCluster.
func Cluster(tb testing.TB) *pgcluster.Cluster {
	tb.Helper()
	require(tb)
	return cluster
}

// StartCluster starts a separate throwaway cluster for this test alone (for
// tests that stop or kill the database), stopped when the test ends.
func StartCluster(tb testing.TB, fsync bool) *pgcluster.Cluster {
	tb.Helper()
	// Not tb.TempDir: its parent is private to the test's user, and the
	// server may run as the postgres user.
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	c, err := pgcluster.Start(context.Background(), pgcluster.Config{Dir: dir, Fsync: fsync})
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("pgtest: PostgreSQL is required in CI: %v", err)
		}
		tb.Skipf("pgtest: no PostgreSQL: %v", err)
	}
	tb.Cleanup(func() { c.Stop() })
	return c
}

// DurablePool starts a private cluster with fsync on (as production runs)
// and returns a pool of at most 16 connections on a migrated database
// there, closed when the test ends: for benchmarks whose figure depends on
// the cost of a durable commit.
func DurablePool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	ctx := context.Background()
	c := StartCluster(tb, true)
	if err := c.EnsureDatabase(ctx, "bench"); err != nil {
		tb.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.URL("bench"))
	if err != nil {
		tb.Fatal(err)
	}
	if _, _, err := migrations.Up(ctx, conn); err != nil {
		tb.Fatal(err)
	}
	conn.Close(ctx)
	cfg, err := pgxpool.ParseConfig(c.URL("bench"))
	if err != nil {
		tb.Fatal(err)
	}
	cfg.MaxConns = 16
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(db.Close)
	return db
}
