package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/issuer/wallet"
)

// Cheap key derivation keeps the tests fast; TestAccountDefaultKDF checks
// the default.
func init() { kdfParams = wallet.Params{Time: 1, MemoryKiB: 256, Threads: 1} }

// TestAccountDefaultKDF checks that account new writes files with RFC 9106's
// parameters (64 MiB, 3 passes, 4 lanes) and that they open.
func TestAccountDefaultKDF(t *testing.T) {
	path := useAccount(t)
	saved := kdfParams
	kdfParams = wallet.DefaultParams
	defer func() { kdfParams = saved }()
	if code, _, errs := runLicense(t, "", "account", "new"); code != 0 {
		t.Fatal(errs)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Header: magic(7) version(1) kdf(1) time(4) memory(4) threads(1).
	if !bytes.Equal(b[7:18], []byte{1, 1, 0, 0, 0, 3, 0, 1, 0, 0, 4}) {
		t.Fatalf("header %x, want version 1, Argon2id, t=3, m=65536 KiB, p=4", b[7:18])
	}
	if code, _, errs := runLicense(t, "", "account", "address"); code != 0 {
		t.Fatal(errs)
	}
}

// runLicense runs the license tool in-process and returns its exit status,
// standard output and standard error.
func runLicense(t testing.TB, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runWithInput(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// useAccount points the tool at a fresh account path with a passphrase in
// the environment.
func useAccount(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "license", "account")
	t.Setenv(envLicenseAccount, path)
	t.Setenv(envPassphrase, "test passphrase")
	t.Setenv(envPassphraseFile, "")
	t.Setenv(envLicenseLedgerKey, "")
	t.Setenv(envLicenseServer, "")
	return path
}

// oneSentence checks that a failure message is one line, one sentence.
func oneSentence(t *testing.T, stderr string) {
	t.Helper()
	s := strings.TrimSpace(stderr)
	if s == "" || strings.Contains(s, "\n") || !strings.HasSuffix(s, ".") {
		t.Fatalf("error is not one sentence on one line: %q", stderr)
	}
}

func TestAccountNewShowAddress(t *testing.T) {
	path := useAccount(t)
	code, out, errs := runLicense(t, "", "account", "new")
	if code != 0 {
		t.Fatalf("account new: %d %s", code, errs)
	}
	lines := strings.Split(out, "\n")
	addr, err := issuer.ParseAddress(lines[1])
	if err != nil {
		t.Fatalf("account new printed no address: %q", out)
	}
	var phrase string
	for i, l := range lines {
		if strings.HasPrefix(l, "Seed phrase") {
			phrase = lines[i+1]
		}
	}
	restored, err := issuer.NewAccountFromSeedPhrase(phrase)
	if err != nil || !restored.Address().Equal(addr) {
		t.Fatalf("the printed seed phrase does not restore the printed address: %v", err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("account file: %v %v", st, err)
	}
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte(addr.String())) || bytes.Contains(raw, []byte(strings.Fields(phrase)[0]+" ")) {
		t.Fatal("the account file holds the address or the phrase in clear")
	}

	code, out, errs = runLicense(t, "", "account", "address")
	if code != 0 || strings.TrimSpace(out) != addr.String() {
		t.Fatalf("account address: %d %q %s", code, out, errs)
	}
	code, out, errs = runLicense(t, "", "account", "show", "--seed-phrase")
	if code != 0 || !strings.Contains(out, addr.String()) || !strings.Contains(out, phrase) || !strings.Contains(out, "scanned:     0 entries") {
		t.Fatalf("account show: %d %q %s", code, out, errs)
	}
	code, out, _ = runLicense(t, "", "account", "show")
	if code != 0 || strings.Contains(out, phrase) {
		t.Fatal("account show prints the seed phrase without --seed-phrase")
	}

	// A second account new leaves the file alone.
	before, _ := os.ReadFile(path)
	code, _, errs = runLicense(t, "", "account", "new")
	if code != 1 || !strings.Contains(errs, "already exists") {
		t.Fatalf("account new over an existing file: %d %s", code, errs)
	}
	oneSentence(t, errs)
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("account new changed an existing file")
	}

	// Restore into another file gives the same address.
	t.Setenv(envLicenseAccount, filepath.Join(t.TempDir(), "restored"))
	code, out, errs = runLicense(t, phrase+"\n", "account", "new", "--restore")
	if code != 0 || !strings.Contains(out, addr.String()) || strings.Contains(out, phrase) {
		t.Fatalf("account new --restore: %d %q %s", code, out, errs)
	}
}

func TestAccountErrors(t *testing.T) {
	path := useAccount(t)
	if code, _, errs := runLicense(t, "", "account", "new"); code != 0 {
		t.Fatal(errs)
	}
	passFile := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(passFile, []byte("test passphrase\n"), 0o600)
	wrongFile := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrongFile, []byte("another one\n"), 0o600)

	tests := []struct {
		name   string
		setup  func(t *testing.T)
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"wrong passphrase", func(t *testing.T) { t.Setenv(envPassphrase, "wrong") }, "", []string{"account", "address"}, 1, "passphrase is wrong"},
		{"passphrase file", func(t *testing.T) { t.Setenv(envPassphrase, "") }, "", []string{"account", "address", "--passphrase-file", passFile}, 0, ""},
		{"passphrase file from env", func(t *testing.T) { t.Setenv(envPassphrase, ""); t.Setenv(envPassphraseFile, passFile) }, "", []string{"account", "address"}, 0, ""},
		{"passphrase file wins over env", func(t *testing.T) { t.Setenv(envPassphrase, "test passphrase") }, "", []string{"account", "address", "--passphrase-file", wrongFile}, 1, "passphrase is wrong"},
		{"missing passphrase file", nil, "", []string{"account", "address", "--passphrase-file", "/nonexistent/pass"}, 1, "couldn't read the passphrase file"},
		{"no passphrase and no terminal", func(t *testing.T) { t.Setenv(envPassphrase, "") }, "", []string{"account", "address"}, 1, "no passphrase"},
		{"no account file", nil, "", []string{"account", "show", "--account", "/nonexistent/account"}, 1, "license account new"},
		{"not an account file", nil, "", []string{"account", "show", "--account", passFile}, 1, "not a license account file"},
		{"tampered file", func(t *testing.T) {
			b, _ := os.ReadFile(path)
			b[len(b)-5] ^= 1
			bad := filepath.Join(t.TempDir(), "bad")
			os.WriteFile(bad, b, 0o600)
			t.Setenv(envLicenseAccount, bad)
		}, "", []string{"account", "show"}, 1, "damaged"},
		{"bad seed phrase", func(t *testing.T) { t.Setenv(envLicenseAccount, filepath.Join(t.TempDir(), "r")) }, "abandon abandon zebra\n", []string{"account", "new", "--restore"}, 1, "seed phrase is not valid"},
		{"unknown account verb", nil, "", []string{"account", "delete"}, 2, "unknown verb"},
		{"unknown flag", nil, "", []string{"account", "show", "--nope"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envLicenseAccount, path)
			t.Setenv(envPassphrase, "test passphrase")
			t.Setenv(envPassphraseFile, "")
			if tt.setup != nil {
				tt.setup(t)
			}
			code, _, errs := runLicense(t, tt.stdin, tt.args...)
			if code != tt.code || !strings.Contains(errs, tt.stderr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errs, tt.code, tt.stderr)
			}
			if code == 1 {
				oneSentence(t, errs)
			}
		})
	}
}

func TestHelpOnEveryVerb(t *testing.T) {
	useAccount(t)
	for _, args := range [][]string{
		{"account", "--help"}, {"account", "new", "--help"}, {"account", "show", "--help"}, {"account", "address", "--help"},
		{"scan", "--help"}, {"list", "--help"}, {"prove", "--help"}, {"admit", "--help"},
		{"ledger", "--help"}, {"ledger", "verify", "--help"}, {"admit", "proof.json", "--help"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errs := runLicense(t, "", args...)
			if code != 0 || !strings.Contains(out+errs, "usage: license") {
				t.Fatalf("exit %d, output %q %q", code, out, errs)
			}
		})
	}
}
