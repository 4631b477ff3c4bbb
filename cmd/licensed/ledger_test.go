package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
)

func fsckLicense() *ledger.LicenseEntry {
	var seed [64]byte
	rand.Read(seed[:])
	s, _ := ristretto255.NewScalar().SetUniformBytes(seed[:])
	e := &ledger.LicenseEntry{Plan: "pro", NotBefore: ledger.Day(20414), NotAfter: ledger.Day(20444), ViewTag: 1, Sealed: []byte("sealed")}
	copy(e.P[:], ristretto255.NewIdentityElement().ScalarBaseMult(s).Bytes())
	rand.Read(e.R[:])
	return e
}

// tamper runs SQL as the superuser with the append-only triggers disabled.
func tamper(t *testing.T, db *pgxpool.Pool, sql string) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), `set local session_replication_role = replica`); err != nil {
			return err
		}
		tag, err := tx.Exec(context.Background(), sql)
		if err == nil && tag.RowsAffected() != 1 {
			err = fmt.Errorf("%d rows changed", tag.RowsAffected())
		}
		return err
	})
	if err != nil {
		t.Fatalf("tampering: %v", err)
	}
}

func TestLedgerFsck(t *testing.T) {
	const origin = "fsck.test/ledger"
	keyFile := filepath.Join(t.TempDir(), "ledger.key")
	if _, err := createLedgerKey(keyFile, origin); err != nil {
		t.Fatal(err)
	}
	signer, _, err := loadLedgerKey(keyFile, origin, false)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		tamper string
		want   string // in the output
	}{
		{"sound", "", "ok: every tile and root matches the entries, and the suspension feed its checkpoints"},
		{"entry row", `update ledger_entries set data = set_byte(data, length(data) - 1, get_byte(data, length(data) - 1) # 1) where idx = 7`, "does not match the entries"},
		{"tile row", `update ledger_tiles set data = set_byte(data, 0, get_byte(data, 0) # 1) where level = 0 and n = 0 and width = 256`, "tile tile/0/000 does not match the entries"},
		{"checkpoint row", `update ledger_checkpoints set note = convert_to(replace(convert_from(note, 'UTF8'), E'\n265\n', E'\n264\n'), 'UTF8') where size = 265 and position('\x0a3236350a'::bytea in note) > 0`, "checkpoint of size 265"},
		{"hash row", `update ledger_hashes set hash = sha256(hash) where id = 3`, "stored hash 3"},
		{"deleted entry", `delete from ledger_entries where idx = 267`, "entries from 267 on are missing"},
		{"suspension feed entry", `update suspension_feed set entry = set_byte(entry, 8, get_byte(entry, 8) # 1) where seq = 1`, "suspension feed checkpoint of size 2 does not match the entries"},
		{"suspension feed checkpoint", `delete from suspension_feed where seq = 2`, "suspension feed checkpoint of size 3: the feed holds 2 entries"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			u := pgtest.URL(t)
			db, err := pgxpool.New(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			l := pgledger.New(db, pgledger.Config{Signer: signer})
			for r, n := range []int{5, 260, 3} {
				for i := range n {
					pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
						_, err := pgledger.Enqueue(ctx, tx, fmt.Sprintf("%d/%d", r, i), fsckLicense())
						return err
					})
				}
				if _, err := l.Round(ctx); err != nil {
					t.Fatal(err)
				}
			}
			// The suspension feed: one change per feed round, so that it has
			// checkpoints of sizes 1, 2 and 3.
			for _, c := range []struct {
				f func(context.Context, pgx.Tx, uint64) error
				i uint64
			}{{pgledger.Suspend, 3}, {pgledger.Suspend, 9}, {pgledger.Unsuspend, 3}} {
				if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return c.f(ctx, tx, c.i) }); err != nil {
					t.Fatal(err)
				}
				if _, err := l.FeedRound(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if tc.tamper != "" {
				tamper(t, db, tc.tamper)
			}
			var out, errb bytes.Buffer
			code := run(ctx, []string{"ledger", "fsck", "--database-url", u, "--ledger-key-file", keyFile, "--ledger-origin", origin}, &out, &errb)
			wantCode := 1
			if tc.tamper == "" {
				wantCode = 0
			}
			if code != wantCode || !strings.Contains(out.String(), tc.want) {
				t.Fatalf("exit %d (want %d), output:\n%s%s\nwant %q", code, wantCode, out.String(), errb.String(), tc.want)
			}
			if !strings.Contains(out.String(), "checked 268 entries") {
				if tc.name != "deleted entry" {
					t.Fatalf("output: %s", out.String())
				}
			}
		})
	}
}

func TestLedgerFsckUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"ledger", "check"}, &out, &errb); code != 2 {
		t.Fatalf("unknown ledger verb: exit %d", code)
	}
	if code := run(context.Background(), []string{"ledger", "fsck", "--database-url", ""}, &out, &errb); code != 2 {
		t.Fatalf("no database: exit %d", code)
	}
}
