package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/licensed/licensed/ledger"
	"golang.org/x/mod/sumdb/note"
)

func runKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	var out string
	if _, err := parseFlags("keygen", args, stderr, func(fs *flag.FlagSet) {
		cfg.register(fs, false)
		fs.StringVar(&out, "out", "", "file to write the signer key to (default: the ledger key file)")
	}); err != nil {
		return err
	}
	if out == "" {
		out = cfg.ledgerKeyFile()
	}
	vkey, err := createLedgerKey(out, cfg.LedgerOrigin)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote the signer key to %s (keep it secret)\nverifier key: %s\n", out, vkey)
	return nil
}

func (cfg *Config) ledgerKeyFile() string {
	if cfg.LedgerKeyFile != "" {
		return cfg.LedgerKeyFile
	}
	return filepath.Join(cfg.DataDir, "ledger.key")
}

// createLedgerKey writes a new Ed25519 note signer key named origin to path
// (mode 0600, never overwriting) and returns its verifier key.
func createLedgerKey(path, origin string) (string, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", fmt.Errorf("couldn't generate a key for origin %q: %w", origin, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return "", err
	}
	err = writeNew(path, skey)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("%s already exists; remove it first if you really mean to replace the ledger key", path)
	}
	return vkey, err
}

// loadLedgerKey reads the signer key at path, once, and returns it with its
// public verifier key; under dev a missing key is created first.
func loadLedgerKey(path, origin string, create bool) (note.Signer, string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && create {
		if _, err := createLedgerKey(path, origin); err != nil {
			return nil, "", err
		}
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, "", fmt.Errorf("couldn't read the ledger key (make one with 'licensed keygen'): %w", err)
	}
	s, err := note.NewSigner(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, "", fmt.Errorf("the ledger key in %s is not a note signer key: %w", path, err)
	}
	if s.Name() != origin {
		return nil, "", fmt.Errorf("the ledger key in %s is for origin %q but the configured origin is %q", path, s.Name(), origin)
	}
	vkey, err := ledger.VerifierKey(string(b))
	if err != nil {
		return nil, "", err
	}
	return s, vkey, nil
}
