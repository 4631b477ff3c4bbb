package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/licensed/licensed/internal/launch/stripemock"
	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/internal/pgtest"
)

func TestReconcileCommand(t *testing.T) {
	u := pgtest.URL(t)
	t.Setenv("STRIPE_SECRET_KEY", "")
	t.Setenv("LICENSED_BTCD_RPC_HOST", "")
	day := time.Now().UTC().Format("2006-01-02")
	reconcile := func(args ...string) (int, string, string) {
		var out, errb strings.Builder
		code := run(context.Background(), append([]string{"reconcile", "--database-url", u, "--log-level", "error"}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, stderr := reconcile("--from", day, "--to", day)
	if code != 0 || !strings.Contains(out, "no exceptions") || !strings.Contains(out, "[database ledger]") {
		t.Fatalf("clean books: exit %d\n%s%s", code, out, stderr)
	}
	// A settled order whose license never reached the ledger.
	id := paytest.OrderID(t)
	conn, err := pgx.Connect(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `insert into orders (id, plan, method, amount, currency, state, license_state, settled_at)
		values ($1, 'basic-30d', 'card', 500, 'usd', 'settled', 'active', now() - interval '1 hour')`, id); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"table", []string{"--from", day, "--to", day}, 1, []string{"paid_not_minted", id, "1 exceptions"}},
		{"csv", []string{"--from", day, "--to", day, "--csv"}, 1, []string{"kind,order_id,round,ref,detail\npaid_not_minted," + id + ","}},
		{"another period", []string{"--from", "2020-01-01", "--to", "2020-01-31"}, 0, []string{"no exceptions"}},
		// stripe-mock's one fixture charge is of 2009-02-13 (created 1234567890).
		{"with Stripe", []string{"--from", "2009-02-13", "--to", "2009-02-13", "--stripe-api-url", stripemock.Start(t)}, 1, []string{"[database ledger stripe]", "stripe_unknown", "txn_"}},
		{"bad date", []string{"--from", "yesterday"}, 2, nil},
		{"backwards", []string{"--from", day, "--to", "2020-01-01"}, 2, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "with Stripe" {
				t.Setenv("STRIPE_SECRET_KEY", "sk_test_123")
			}
			code, out, stderr := reconcile(tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestDevOpsPassword(t *testing.T) {
	dir := t.TempDir()
	var out strings.Builder
	h1, err := devOpsPassword(dir, &out)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ops-password")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}
	pw, _ := os.ReadFile(path)
	password := strings.TrimSpace(string(pw))
	if len(password) < 20 || !strings.Contains(out.String(), password) {
		t.Fatalf("first run printed %q; password %q", out.String(), password)
	}
	if bcrypt.CompareHashAndPassword([]byte(h1), []byte(password)) != nil {
		t.Fatal("the hash does not match the stored password")
	}
	// Printed once: the second run says nothing and uses the same password.
	out.Reset()
	h2, err := devOpsPassword(dir, &out)
	if err != nil || out.Len() != 0 || bcrypt.CompareHashAndPassword([]byte(h2), []byte(password)) != nil {
		t.Fatalf("second run: %v, printed %q", err, out.String())
	}
}

func TestOpsHash(t *testing.T) {
	for _, tt := range []struct {
		name, input string
		code        int
	}{
		{"good", "a long enough password\n", 0},
		{"no newline", "a long enough password", 0},
		{"too short", "short\n", 2},
		{"empty", "", 2},
		{"too long for bcrypt", strings.Repeat("x", 73) + "\n", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opsPasswordInput = strings.NewReader(tt.input)
			t.Cleanup(func() { opsPasswordInput = os.Stdin })
			var out, errb strings.Builder
			if code := run(context.Background(), []string{"ops-hash"}, &out, &errb); code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errb.String())
			}
			if tt.code != 0 {
				return
			}
			h := strings.TrimSpace(out.String())
			if err := bcrypt.CompareHashAndPassword([]byte(h), []byte(strings.TrimSpace(tt.input))); err != nil {
				t.Fatalf("%q is not the hash of the password: %v", h, err)
			}
		})
	}
}
