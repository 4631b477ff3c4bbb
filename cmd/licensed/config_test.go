package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// table registers a Config on a fresh flag set and returns its flag table.
func table(t *testing.T, cfg *Config, dev bool) (*flag.FlagSet, *flagTable) {
	t.Helper()
	fs := flag.NewFlagSet("licensed test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.register(fs, dev)
	var ft *flagTable
	fs.VisitAll(func(f *flag.Flag) {
		if s, ok := f.Value.(*setting); ok {
			ft = s.table
		}
	})
	if ft == nil {
		t.Fatal("register defined no table")
	}
	return fs, ft
}

// clearEnv unsets every variable of the table for the test.
func clearEnv(t *testing.T, ft *flagTable) {
	for _, s := range ft.rows {
		t.Setenv(s.env, "")
		t.Setenv(s.env+"_FILE", "")
	}
}

// samples are a good value for a row, what it reads back as, and a value
// that does not parse ("" for a plain string, which takes anything).
func samples(t *testing.T, s *setting) (good, want, bad string) {
	t.Helper()
	if c, ok := s.Value.(*choice); ok {
		for _, x := range c.choices {
			if x != s.String() {
				return strings.ToUpper(x), x, "nope"
			}
		}
	}
	switch s.kind {
	case "int":
		return "7", "7", "4OO"
	case "number":
		return "2.5", "2.5", "1,5"
	case "duration":
		return "42s", "42s", "30d"
	case "days":
		return "30d", "30d", "30x"
	case "string":
		return "some-value", "some-value", ""
	case "":
		if s.String() == "true" {
			return "false", "false", "maybe"
		}
		return "1", "true", "maybe"
	}
	t.Fatalf("no samples for %s's kind %q", s.env, s.kind)
	return
}

// TestEveryVariable walks the flag table: each flag's environment variable
// is taken when good and is one clear usage error naming it when bad.
func TestEveryVariable(t *testing.T) {
	var probe Config
	_, ft := table(t, &probe, false)
	flags := 0
	for _, row := range ft.rows {
		if row.name == "" {
			continue
		}
		flags++
		t.Run(row.env, func(t *testing.T) {
			clearEnv(t, ft)
			good, want, bad := samples(t, row)
			if want == row.String() {
				t.Fatalf("the sample %q is %s's default: the test could not tell it was taken", want, row.env)
			}

			t.Setenv(row.env, good)
			var cfg Config
			fs, err := parseFlags("test", nil, io.Discard, func(fs *flag.FlagSet) { cfg.register(fs, false) })
			if err != nil {
				t.Fatalf("%s=%s: %v", row.env, good, err)
			}
			if got := fs.Lookup(row.name).Value.String(); got != want {
				t.Fatalf("%s=%s: flag reads %q, want %q", row.env, good, got, want)
			}

			// The command line wins, even over a value that does not parse.
			t.Setenv(row.env, "4OO")
			var cfg2 Config
			if _, err := parseFlags("test", []string{"-" + row.name + "=" + good}, io.Discard, func(fs *flag.FlagSet) { cfg2.register(fs, false) }); err != nil {
				t.Fatalf("flag given, bad %s: %v", row.env, err)
			}

			if bad == "" {
				return
			}
			t.Setenv(row.env, bad)
			var cfg3 Config
			_, err = parseFlags("test", nil, io.Discard, func(fs *flag.FlagSet) { cfg3.register(fs, false) })
			if !errors.As(err, new(usageError)) {
				t.Fatalf("%s=%s: %v, want a usage error", row.env, bad, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, row.env+"=") || !strings.Contains(msg, row.form) || strings.Contains(msg, "\n") {
				t.Fatalf("%s=%s: %q, want one line naming the variable and %q", row.env, bad, msg, row.form)
			}
		})
	}
	if flags < 35 {
		t.Fatalf("only %d flags in the table", flags)
	}
}

// TestBadVariableStopsTheProgram: exit status 2 and one line on stderr,
// before anything starts.
func TestBadVariableStopsTheProgram(t *testing.T) {
	for _, tt := range []struct {
		name, env, value, want string
	}{
		{"burst", "LICENSED_ADMIT_BURST", "4OO", `licensed serve: LICENSED_ADMIT_BURST="4OO": want a whole number such as 400`},
		{"retention", "LICENSED_CARD_RETENTION", "30 days", `licensed serve: LICENSED_CARD_RETENTION="30 days": want a number of days such as 30d, or a duration such as 720h (0: not kept)`},
		{"negative retention", "LICENSED_BTC_RETENTION", "-1h", `licensed serve: LICENSED_BTC_RETENTION="-1h": want a number of days`},
		{"log format", "LICENSED_LOG_FORMAT", "xml", `licensed serve: LICENSED_LOG_FORMAT="xml": want one of text or json`},
		{"secret file", "STRIPE_SECRET_KEY_FILE", "/nonexistent/key", `licensed serve: couldn't read STRIPE_SECRET_KEY_FILE: open /nonexistent/key`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.env, tt.value)
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"serve"}, &out, &errOut)
			if code != 2 || !strings.HasPrefix(errOut.String(), tt.want) || strings.Count(errOut.String(), "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want 2 and one line starting %q", code, errOut.String(), tt.want)
			}
		})
	}
}

func TestRetention(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30d", 30 * 24 * time.Hour, true},
		{"120d", 120 * 24 * time.Hour, true},
		{"0", 0, true},
		{"0d", 0, true},
		{"720h", 30 * 24 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"1.5d", 0, false},
		{"d", 0, false},
		{"-3d", 0, false},
		{"-1h", 0, false},
		{"30", 0, false},
		{"99999999d", 0, false},
	} {
		t.Run(tt.in, func(t *testing.T) {
			var r retention
			err := r.Set(tt.in)
			if (err == nil) != tt.ok || (tt.ok && time.Duration(r) != tt.want) {
				t.Fatalf("Set(%q) = %v, %v; want %v, ok %v", tt.in, time.Duration(r), err, tt.want, tt.ok)
			}
			if tt.ok { // it prints as something it parses back to
				var back retention
				if err := back.Set(r.String()); err != nil || back != r {
					t.Fatalf("%q prints as %q, which reads back as %v, %v", tt.in, r.String(), time.Duration(back), err)
				}
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	var probe Config
	_, ft := table(t, &probe, false)
	dir := t.TempDir()
	for _, row := range ft.rows {
		if !row.file {
			continue
		}
		t.Run(row.env, func(t *testing.T) {
			if row.name == "" {
				// A secret has no flag.
				if f := ft.fs.Lookup(strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(row.env, "LICENSED_"), "_", "-"))); f != nil {
					t.Fatalf("secret %s has a flag -%s", row.env, f.Name)
				}
			}
			read := func() string {
				t.Helper()
				var cfg Config
				if _, err := parseFlags("test", nil, io.Discard, func(fs *flag.FlagSet) { cfg.register(fs, false) }); err != nil {
					t.Fatal(err)
				}
				for _, v := range []struct {
					env string
					p   *string
				}{
					{"DATABASE_URL", &cfg.DatabaseURL}, {"LICENSED_OPS_PASSWORD_HASH", &cfg.OpsPasswordHash},
					{"STRIPE_SECRET_KEY", &cfg.StripeSecretKey}, {"STRIPE_WEBHOOK_SECRET", &cfg.StripeWebhookSecret},
					{"LICENSED_BTC_XPUB", &cfg.Bitcoin.Xpub}, {"LICENSED_BTCD_RPC_USER", &cfg.Bitcoin.RPCUser},
					{"LICENSED_BTCD_RPC_PASS", &cfg.Bitcoin.RPCPass}, {"LICENSED_ANCHOR_KEY", &cfg.Anchor.Key},
				} {
					if v.env == row.env {
						return *v.p
					}
				}
				t.Fatalf("the test does not know the field of %s", row.env)
				return ""
			}
			clearEnv(t, ft)
			t.Setenv(row.env, "from-env")
			if got := read(); got != "from-env" {
				t.Fatalf("%s: read %q", row.env, got)
			}
			file := filepath.Join(dir, row.env)
			os.WriteFile(file, []byte("from-file\n"), 0o600)
			t.Setenv(row.env+"_FILE", file)
			if got := read(); got != "from-env" {
				t.Fatalf("%s and its _FILE: read %q, want the variable's", row.env, got)
			}
			t.Setenv(row.env, "")
			if got := read(); got != "from-file" {
				t.Fatalf("%s_FILE: read %q, want the file's trimmed", row.env, got)
			}
		})
	}
}

// TestHelpNamesEveryVariable: -h shows each flag's environment variable and
// lists the secrets, without their values.
func TestHelpNamesEveryVariable(t *testing.T) {
	var probe Config
	_, ft := table(t, &probe, false)
	clearEnv(t, ft)
	t.Setenv("STRIPE_SECRET_KEY", "sk_test_do_not_print")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"serve", "-h"}, &out, &errOut); code != 0 {
		t.Fatalf("serve -h: exit %d", code)
	}
	help := out.String() + errOut.String()
	for _, row := range ft.rows {
		if !strings.Contains(help, row.envNames()) {
			t.Errorf("-h does not name %s", row.envNames())
		}
		if row.name != "" && !strings.Contains(help, "  -"+row.name+" ") && !strings.Contains(help, "  -"+row.name+"\n") {
			t.Errorf("-h does not show -%s", row.name)
		}
	}
	if strings.Contains(help, "sk_test_do_not_print") {
		t.Fatal("-h printed a secret")
	}
}

// TestStripeMockDefault: under dev, stripe-mock is on unless a Stripe key is
// set or it is turned off.
func TestStripeMockDefault(t *testing.T) {
	for _, tt := range []struct {
		name      string
		dev       bool
		key, mock string
		want      bool
	}{
		{"dev without a key", true, "", "", true},
		{"dev with a key", true, "sk_test_1", "", false},
		{"dev turned off", true, "", "false", false},
		{"dev with a key, asked for", true, "sk_test_1", "true", true},
		{"serve", false, "", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var probe Config
			_, ft := table(t, &probe, tt.dev)
			clearEnv(t, ft)
			t.Setenv("STRIPE_SECRET_KEY", tt.key)
			t.Setenv("LICENSED_STRIPE_MOCK", tt.mock)
			var cfg Config
			if _, err := parseFlags("test", nil, io.Discard, func(fs *flag.FlagSet) { cfg.register(fs, tt.dev) }); err != nil {
				t.Fatal(err)
			}
			if cfg.StripeMock != tt.want {
				t.Fatalf("StripeMock = %v, want %v", cfg.StripeMock, tt.want)
			}
		})
	}
}
