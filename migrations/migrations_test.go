package migrations_test

import (
	"context"
	"errors"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fresh returns a connection to a brand-new, unmigrated database.
func fresh(t *testing.T) string {
	t.Helper()
	u := pgtest.URL(t) // migrated clone; wipe it back to empty
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `drop schema public cascade; create schema public`); err != nil {
		t.Fatal(err)
	}
	return u
}

func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestFilesContiguous checks the numbering rule tern relies on: the files are
// numbered 1…N without a gap or a duplicate.
func TestFilesContiguous(t *testing.T) {
	names, err := fs.Glob(migrations.FS(), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	for i, name := range names {
		n, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil || n != i+1 {
			t.Errorf("migration %q is at position %d: files must be numbered 1…N without gaps; rename it %03d_…", name, i+1, i+1)
		}
	}
	if int32(len(names)) != migrations.Latest() {
		t.Errorf("%d files but Latest() = %d", len(names), migrations.Latest())
	}
}

func TestUpTwiceIsNoop(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, fresh(t))
	from, to, err := migrations.Up(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if from != 0 || to != migrations.Latest() {
		t.Fatalf("first run: from %d to %d, want 0 to %d", from, to, migrations.Latest())
	}
	var created1 string
	conn.QueryRow(ctx, `select created_at::text from instance`).Scan(&created1)
	from, to, err = migrations.Up(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	if from != to || to != migrations.Latest() {
		t.Fatalf("second run: from %d to %d, want a no-op at %d", from, to, migrations.Latest())
	}
	var n int
	var created2 string
	conn.QueryRow(ctx, `select count(*), min(created_at::text) from instance`).Scan(&n, &created2)
	if n != 1 || created1 != created2 {
		t.Fatalf("second run changed data: %d instance rows, created %q then %q", n, created1, created2)
	}
}

func TestConcurrentUp(t *testing.T) {
	ctx := context.Background()
	u := fresh(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, u)
			if err != nil {
				errs[i] = err
				return
			}
			defer conn.Close(ctx)
			_, _, errs[i] = migrations.Up(ctx, conn)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
	}
	conn := connect(t, u)
	v, err := migrations.Version(ctx, conn)
	if err != nil || v != migrations.Latest() {
		t.Fatalf("version %d, %v; want %d", v, err, migrations.Latest())
	}
	var n int
	conn.QueryRow(ctx, `select count(*) from instance`).Scan(&n)
	if n != 1 {
		t.Fatalf("%d instance rows after concurrent migrations, want 1", n)
	}
}

func TestRefusesNewerDatabase(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, pgtest.URL(t))
	if _, err := conn.Exec(ctx, `update `+migrations.VersionTable+` set version = version + 1`); err != nil {
		t.Fatal(err)
	}
	_, _, err := migrations.Up(ctx, conn)
	if !errors.Is(err, migrations.ErrNewerDatabase) {
		t.Fatalf("Up on a newer database: %v, want ErrNewerDatabase", err)
	}
}
