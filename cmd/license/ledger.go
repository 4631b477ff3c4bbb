package main

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/tlogclient"
)

const ledgerUsage = `usage: license ledger verify [--server URL] --key VERIFIER_KEY [--state FILE] [--full] [--anchors --btcd-rpc-host HOST:PORT]

Audit the public ledger from outside: check the server's signed checkpoint
against the pinned verifier key and its consistency with the checkpoint seen
last time, then every entry added since (or every entry, with --full).
With --anchors, also check each Bitcoin anchor the server lists against a
btcd node you trust, and that the ledger extends every anchored checkpoint:
a history rewritten after an anchor fails.
Run 'license ledger verify --help' for the flags.
`

// runLedger is `license ledger verify`.
func runLedger(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// The sub-verb may follow global flags hoisted before it
	// ("license --server URL ledger verify").
	at := slices.Index(args, "verify")
	if at < 0 {
		for _, a := range args {
			if a == "-h" || a == "-help" || a == "--help" || a == "help" {
				fmt.Fprint(stdout, ledgerUsage)
				return nil
			}
		}
		return usageError("name the verb: license ledger verify [--server URL] --key VERIFIER_KEY [--state FILE] [--full]")
	}
	args = slices.Delete(slices.Clone(args), at, at+1)
	fs := flag.NewFlagSet("license ledger verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\nFlags:\n", ledgerUsage)
		fs.PrintDefaults()
	}
	server := fs.String("server", envOr(envLicenseServer, defaultLicenseServer), "base URL of the license server (env "+envLicenseServer+")")
	key := fs.String("key", os.Getenv("LICENSE_LEDGER_KEY"), "the ledger's verifier key to pin, as the server's README shows it (env LICENSE_LEDGER_KEY)")
	fs.StringVar(key, "ledger-key", *key, "the same as --key (the global flag's name)")
	state := fs.String("state", os.Getenv("LICENSE_LEDGER_STATE"), "file keeping the last verified checkpoint; default in the user config folder (env LICENSE_LEDGER_STATE)")
	full := fs.Bool("full", false, "check every entry, not only those added since the last verified checkpoint")
	defineWitnessPolicy(fs)
	anchors := defineAnchorFlags(fs)
	// The other global flags are accepted and not used.
	fs.String("account", "", "not used by ledger verify")
	fs.String("passphrase-file", "", "not used by ledger verify")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError(err.Error())
	}
	if *key == "" {
		return usageError("give --key, the ledger's verifier key to pin (the server's operator publishes it)")
	}
	v, err := note.NewVerifier(strings.TrimSpace(*key))
	if err != nil {
		return usageError(fmt.Sprintf("bad verifier key: %v", err))
	}
	if *state == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return usageError("no --state and no user config folder: give --state FILE")
		}
		name := base64.RawURLEncoding.EncodeToString([]byte(v.Name()))
		*state = filepath.Join(dir, "license", fmt.Sprintf("ledger-%s-%08x.checkpoint", name, v.KeyHash()))
	}
	last, err := os.ReadFile(*state)
	if errors.Is(err, os.ErrNotExist) {
		last = nil
	} else if err != nil {
		return fmt.Errorf("couldn't read the state file: %w", err)
	}
	c, err := withWitnessPolicy(&tlogclient.Client{Server: *server, Verifier: v})
	if err != nil {
		return err
	}
	res, err := c.Verify(ctx, last, *full)
	if err != nil {
		fmt.Fprintf(stdout, "FAILED: %v\n", err)
		return err
	}
	if *anchors.on {
		cur := ledger.Checkpoint{Origin: v.Name(), Size: res.Size, Root: res.Root}
		if err := anchors.verify(ctx, *server, v, c, cur, *state+".anchors", stdout); err != nil {
			fmt.Fprintf(stdout, "FAILED: %v\n", err)
			return err
		}
	}
	if err := writeState(*state, res.Checkpoint); err != nil {
		return fmt.Errorf("couldn't save the checkpoint: %w", err)
	}
	if res.PreviousSize > 0 {
		fmt.Fprintf(stdout, "consistent with the checkpoint of size %d seen before\n", res.PreviousSize)
	} else {
		fmt.Fprintln(stdout, "no checkpoint seen before: trusting this one from now on")
	}
	fmt.Fprintf(stdout, "ok: %s size %d root %s; %d entries checked (%d licenses, %d revocations)\n",
		v.Name(), res.Size, base64.StdEncoding.EncodeToString(res.Root[:]), res.Entries, res.Licenses, res.Revocations)
	return nil
}

// writeState replaces the state file atomically.
func writeState(path string, checkpoint []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, checkpoint, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
