package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/web"
)

// TestMain is the package's: tests that need Postgres get it from pgtest.
func TestMain(m *testing.M) { pgtest.Main(m) }

// testLog is a ledger served over HTTP by the real server.
type testLog struct {
	db  *pgxpool.Pool
	l   *pgledger.Ledger
	url string
	n   int
}

func newTestLog(t *testing.T, signer note.Signer, vkey string) *testLog {
	t.Helper()
	db := pgtest.Pool(t)
	l := pgledger.New(db, pgledger.Config{Signer: signer})
	s := web.New(web.Config{}, web.Deps{DB: db, Ledger: &web.LedgerDeps{Store: l.Store(), VerifierKey: vkey}}, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &testLog{db: db, l: l, url: srv.URL}
}

func (tl *testLog) round(t *testing.T, n int) {
	t.Helper()
	ctx := context.Background()
	for range n {
		var seed [64]byte
		rand.Read(seed[:])
		s, _ := ristretto255.NewScalar().SetUniformBytes(seed[:])
		e := &ledger.LicenseEntry{Plan: "pro", NotBefore: ledger.Day(20414), NotAfter: ledger.Day(20444), ViewTag: 3, Sealed: []byte("sealed")}
		copy(e.P[:], ristretto255.NewIdentityElement().ScalarBaseMult(s).Bytes())
		rand.Read(e.R[:])
		tl.n++
		err := pgx.BeginFunc(ctx, tl.db, func(tx pgx.Tx) error {
			_, err := pgledger.Enqueue(ctx, tx, fmt.Sprint(tl.n), e)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tl.l.Round(ctx); err != nil {
		t.Fatal(err)
	}
}

// tamper runs SQL as the superuser with the append-only triggers disabled.
func (tl *testLog) tamper(t *testing.T, sql string) {
	t.Helper()
	err := pgx.BeginFunc(context.Background(), tl.db, func(tx pgx.Tx) error {
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

func verify(t *testing.T, server, key, state string, extra ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	args := append([]string{"ledger", "verify", "--server", server, "--key", key, "--state", state}, extra...)
	code := run(context.Background(), args, &out, &errb)
	return code, out.String() + errb.String()
}

func keys(t *testing.T, origin string) (note.Signer, string) {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	return s, vkey
}

func TestLedgerVerify(t *testing.T) {
	signer, vkey := keys(t, "verify.test/ledger")
	tl := newTestLog(t, signer, vkey)
	state := filepath.Join(t.TempDir(), "state")
	tl.round(t, 3)
	tl.round(t, 300)
	code, out := verify(t, tl.url, vkey, state)
	if code != 0 || !strings.Contains(out, "size 303") || !strings.Contains(out, "303 entries checked") {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	saved, _ := os.ReadFile(state)
	if !bytes.HasPrefix(saved, []byte("verify.test/ledger\n303\n")) {
		t.Fatalf("state file holds %q", saved)
	}
	// Incremental: only the new entries are fetched, and the new
	// checkpoint is proven consistent with the saved one.
	tl.round(t, 5)
	tl.round(t, 1)
	code, out = verify(t, tl.url, vkey, state)
	if code != 0 || !strings.Contains(out, "consistent with the checkpoint of size 303") || !strings.Contains(out, "6 entries checked") {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	// Unchanged log.
	if code, out = verify(t, tl.url, vkey, state); code != 0 || !strings.Contains(out, "0 entries checked") {
		t.Fatalf("third run: exit %d\n%s", code, out)
	}
	// Global flags before the verb, and --ledger-key for --key.
	var o, e bytes.Buffer
	if code := run(context.Background(), []string{"--server", tl.url, "--ledger-key", vkey, "ledger", "verify", "--state", state}, &o, &e); code != 0 || !strings.Contains(o.String(), "consistent") {
		t.Fatalf("global flags: exit %d\n%s%s", code, o.String(), e.String())
	}
	// Another key is refused.
	_, other := keys(t, "verify.test/ledger")
	if code, out = verify(t, tl.url, other, filepath.Join(t.TempDir(), "s")); code != 1 || !strings.Contains(out, "does not verify") {
		t.Fatalf("wrong key: exit %d\n%s", code, out)
	}
}

// TestLedgerVerifyDetects tampers with the database behind the server (as a
// superuser, triggers off) and checks the client audit notices.
func TestLedgerVerifyDetects(t *testing.T) {
	cases := []struct {
		name   string
		tamper string
		want   string
	}{
		{"entry row", `update ledger_entries set data = set_byte(data, length(data) - 1, get_byte(data, length(data) - 1) # 1) where idx = 7`, "entry 7 does not match its leaf hash"},
		{"tile row", `update ledger_tiles set data = set_byte(data, 40, get_byte(data, 40) # 1) where level = 0 and n = 0 and width = 256`, "do not verify against the signed root"},
		{"checkpoint row", `update ledger_checkpoints set note = convert_to(replace(convert_from(note, 'UTF8'), E'\n303\n', E'\n302\n'), 'UTF8') where size = 303 and position('\x0a3330330a'::bytea in note) > 0`, "signature does not verify"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			signer, vkey := keys(t, "verify.test/ledger")
			tl := newTestLog(t, signer, vkey)
			tl.round(t, 3)
			tl.round(t, 300)
			tl.tamper(t, tc.tamper)
			code, out := verify(t, tl.url, vkey, filepath.Join(t.TempDir(), "state"), "--full")
			if code != 1 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want 1 and %q:\n%s", code, tc.want, out)
			}
		})
	}
}

// TestLedgerVerifyFork serves two different logs under the same key: a
// client that saw one detects the other as a fork, and a shorter log as a
// rollback.
func TestLedgerVerifyFork(t *testing.T) {
	signer, vkey := keys(t, "verify.test/ledger")
	a := newTestLog(t, signer, vkey)
	b := newTestLog(t, signer, vkey)
	a.round(t, 10)
	b.round(t, 10)
	b.round(t, 20)
	state := filepath.Join(t.TempDir(), "state")
	if code, out := verify(t, a.url, vkey, state); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if code, out := verify(t, b.url, vkey, state); code != 1 || !strings.Contains(out, "fork") {
		t.Fatalf("fork: exit %d\n%s", code, out)
	}
	a.round(t, 30)
	if code, out := verify(t, a.url, vkey, state); code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if code, out := verify(t, b.url, vkey, state); code != 1 || !strings.Contains(out, "rollback") {
		t.Fatalf("rollback: exit %d\n%s", code, out)
	}
	same := newTestLog(t, signer, vkey)
	same.round(t, 10)
	same.round(t, 30)
	if code, out := verify(t, same.url, vkey, state); code != 1 || !strings.Contains(out, "fork") {
		t.Fatalf("same size, other root: exit %d\n%s", code, out)
	}
}

func TestUsage(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"no verb", nil, 0},
		{"unknown verb", []string{"frobnicate"}, 2},
		{"ledger without verify", []string{"ledger"}, 2},
		{"verify without key", []string{"ledger", "verify"}, 2},
		{"ledger help", []string{"ledger", "--help"}, 0},
		{"ledger verify help", []string{"ledger", "verify", "--help"}, 0},
		{"bad key", []string{"ledger", "verify", "--server", "http://127.0.0.1:1", "--key", "nonsense"}, 2},
	}
	t.Setenv("LICENSE_SERVER", "")
	t.Setenv("LICENSE_LEDGER_KEY", "")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tc.args, &out, &errb); code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, out.String(), errb.String())
			}
		})
	}
	// ledger verify has the same default server as the other verbs.
	var out, errb bytes.Buffer
	run(context.Background(), []string{"ledger", "verify", "--help"}, &out, &errb)
	if !strings.Contains(errb.String(), `(default "`+defaultLicenseServer+`")`) {
		t.Fatalf("ledger verify --help shows no default server: %s", errb.String())
	}
}
