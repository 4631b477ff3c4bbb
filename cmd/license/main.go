// Command license is the customer and relay tool of the license network.
//
//	license account new|show|address    the account file (keys, licenses found)
//	license scan                         find your licenses on the ledger
//	license list                         the licenses found, with their state
//	license prove --scope S --message HEX  a ring proof for a relay
//	license admit PROOF.json             send a proof to the admission endpoint
//	license ledger verify --server URL   audit the public ledger from outside
//
// Run `license VERB -h` for the flags of each verb.
//
// The account verbs keep everything in one encrypted account file (package
// issuer/wallet). They trust the server for nothing they can check: scan and
// prove read the ledger only through C2SP tiles verified against a checkpoint
// signed by the pinned ledger key and consistent with the last one seen;
// prove draws its decoys uniformly (crypto/rand) from the server's list of
// valid licenses after checking that list against the census of the ledger
// the scans took, and records each counter in the account file before it
// prints the proof, so no counter ever signs two messages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// A verb is one command of the tool.
type verb struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// verbs are the commands of license; each lives in its own file.
var verbs = map[string]verb{
	"ledger": {"audit the public ledger: 'license ledger verify --server URL'", runLedger},
	// The account verbs (issue 7) read standard input: see inputVerbs.
	"account": {"make, restore or show the account: 'license account new|show|address'", nil},
	"scan":    {"find your licenses on the ledger, checked against its signed checkpoint", nil},
	"list":    {"list the licenses found, with their state", nil},
	"prove":   {"make a ring proof: 'license prove --scope S --message HEX [--ring 16]'", nil},
	"admit":   {"send a proof to the server's admission endpoint: 'license admit PROOF.json'", nil},
}

// verbOrder is the order of the verbs in the usage text.
var verbOrder = []string{"account", "scan", "list", "prove", "admit", "ledger"}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: license VERB [flags]")
	fmt.Fprintln(w)
	for _, name := range verbOrder {
		fmt.Fprintf(w, "  %-10s %s\n", name, verbs[name].summary)
	}
	fmt.Fprintln(w, "\nGlobal flags, before or after the verb: --server URL (LICENSE_SERVER), --account FILE (LICENSE_ACCOUNT),")
	fmt.Fprintln(w, "--ledger-key KEY (LICENSE_LEDGER_KEY), --passphrase-file FILE (LICENSE_PASSPHRASE_FILE; or LICENSE_PASSPHRASE).")
	fmt.Fprintln(w, "Run 'license VERB --help' for the flags of each verb.")
}

// usageError is a mistake on the command line (exit status 2).
type usageError string

func (e usageError) Error() string { return string(e) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWithInput(ctx, args, os.Stdin, stdout, stderr)
}

// runWithInput is run with the standard input given (tests pass their own).
func runWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	args = hoistGlobalFlags(args) // "license --server URL VERB ..." (verbs.go)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "license: unknown verb %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	var err error
	if in, ok := inputVerbs[args[0]]; ok {
		err = in(ctx, args[1:], stdin, stdout, stderr)
	} else {
		err = v.run(ctx, args[1:], stdout, stderr)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "license %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "license %s: %v\n", args[0], err)
		return 1
	}
}
