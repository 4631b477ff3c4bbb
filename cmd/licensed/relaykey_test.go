package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRelayKeyNew: the verb prints a key and the line that holds its
// SHA-256 (never the key), and the server's settings read that line back.
func TestRelayKeyNew(t *testing.T) {
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"relay-key", "new", "relay-1"}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("output %q", out.String())
	}
	key, line := strings.TrimSpace(lines[1]), strings.TrimSpace(lines[3])
	h := sha256.Sum256([]byte(key))
	if !strings.HasPrefix(key, "lrk_") || line != "relay-1 sha256:"+hex.EncodeToString(h[:]) {
		t.Fatalf("key %q, line %q", key, line)
	}
	if strings.Contains(line, key) {
		t.Fatal("the line holds the key")
	}

	file := filepath.Join(t.TempDir(), "relay-keys")
	if err := os.WriteFile(file, []byte("# relays\n"+line+" rate=900\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, line2, _ := strings.Cut(mustRelayKey(t, "relay-2"), "\n")
	_, line3, _ := strings.Cut(mustRelayKey(t, "relay-3"), "\n")
	cfg := Config{RelayKeysFile: file, RelayKeys: line2 + ";" + line3, AdmitInFlight: 4, AdmitTotalInFlight: 1024, RelayRate: 5000, RelayBurst: 2048, RelayInFlight: 1024}
	lim, err := cfg.admitLimits()
	if err != nil {
		t.Fatal(err)
	}
	if lim.Keys.Len() != 3 || lim.InFlight != 4 || lim.Total != 1024 || lim.Relay.PerSecond != 5000 || lim.Relay.Burst != 2048 || lim.RelayInFlight != 1024 {
		t.Fatalf("limits %+v with %d keys", lim, lim.Keys.Len())
	}

	cases := []struct {
		name string
		cfg  Config
		says string
	}{
		{"bad line in the environment", Config{RelayKeys: "relay-9 sha256:abc"}, "line 1"},
		{"a name twice", Config{RelayKeysFile: file, RelayKeys: line}, "used twice"},
		{"missing file", Config{RelayKeysFile: file + ".missing"}, "couldn't read the relay keys"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.cfg.admitLimits(); err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err %v, want one saying %q", err, tc.says)
			}
		})
	}

	for _, args := range [][]string{{"relay-key"}, {"relay-key", "new"}, {"relay-key", "old", "x"}, {"relay-key", "new", "a b"}} {
		out.Reset()
		errs.Reset()
		if code := run(context.Background(), args, &out, &errs); code != 2 || out.Len() != 0 {
			t.Fatalf("%q: exit %d, output %q, want 2 and nothing", args, code, out.String())
		}
	}
}

// mustRelayKey returns "KEY\nLINE" of a new key.
func mustRelayKey(t *testing.T, name string) string {
	t.Helper()
	var out, errs bytes.Buffer
	if code := run(context.Background(), []string{"relay-key", "new", name}, &out, &errs); code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return strings.TrimSpace(lines[1]) + "\n" + strings.TrimSpace(lines[3])
}
