// Package migrations owns the database schema: numbered SQL files embedded in
// the binary, applied in order by jackc/tern (pgx-native, takes a Postgres
// advisory lock so concurrent runs are safe, and refuses a database whose
// version is newer than the files it knows). Use Up from `licensed migrate`
// and wherever a database must be brought to the current schema.
// internal/launch/pgcluster runs a private Postgres cluster from the
// installed server binaries, and internal/pgtest gives each test its own
// migrated database on such a cluster.
//
// Files are named NNN_what.sql and numbered without gaps (tern applies
// version N from the file numbered N; TestFilesContiguous checks it). A new
// migration takes the next free number. A migration is never edited once it
// has landed; changes come as a new file.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed *.sql
var files embed.FS

// VersionTable is the table tern keeps the schema version in.
const VersionTable = "schema_version"

// ErrNewerDatabase is returned when the database was migrated by a newer
// version of the server than this one.
var ErrNewerDatabase = errors.New("migrations: the database was migrated by a newer version of licensed; upgrade this binary before using it")

// Latest is the number of migrations this binary knows.
func Latest() int32 {
	names, err := migrate.FindMigrations(files)
	if err != nil {
		panic(err)
	}
	return int32(len(names))
}

// FS returns the embedded migration files.
func FS() fs.FS { return files }

// Up applies every pending migration on conn and returns the versions before
// and after. Running it on an up-to-date database changes nothing.
func Up(ctx context.Context, conn *pgx.Conn) (from, to int32, err error) {
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: couldn't prepare: %w", err)
	}
	if err := m.LoadMigrations(files); err != nil {
		return 0, 0, fmt.Errorf("migrations: couldn't load embedded files: %w", err)
	}
	from, err = Version(ctx, conn)
	if err != nil {
		return 0, 0, err
	}
	if from > int32(len(m.Migrations)) {
		return from, from, fmt.Errorf("%w (database at version %d, this binary knows %d)", ErrNewerDatabase, from, len(m.Migrations))
	}
	if err := m.Migrate(ctx); err != nil {
		var bad migrate.BadVersionError
		if errors.As(err, &bad) {
			return from, from, fmt.Errorf("%w (%s)", ErrNewerDatabase, string(bad))
		}
		return from, 0, fmt.Errorf("migrations: couldn't apply: %w", err)
	}
	to, err = Version(ctx, conn)
	return from, to, err
}

// Version returns the schema version of the database, 0 when it has never been
// migrated.
func Version(ctx context.Context, conn *pgx.Conn) (int32, error) {
	var exists bool
	if err := conn.QueryRow(ctx, `select to_regclass($1) is not null`, VersionTable).Scan(&exists); err != nil {
		return 0, fmt.Errorf("migrations: couldn't read the schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int32
	if err := conn.QueryRow(ctx, `select version from `+VersionTable).Scan(&v); err != nil {
		return 0, fmt.Errorf("migrations: couldn't read the schema version: %w", err)
	}
	return v, nil
}
