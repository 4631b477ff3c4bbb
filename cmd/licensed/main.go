// Command licensed is the license and payment issuance server.
//
//	licensed serve       run the server against DATABASE_URL
//	licensed dev         run everything on embedded defaults: a managed
//	                     Postgres cluster, generated keys, a loopback URL
//	licensed migrate     apply pending database migrations
//	licensed keygen      make the ledger's checkpoint signing key
//
// Run `licensed COMMAND -h` for each command's flags. Every flag also has an
// environment variable, shown in its help.
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

// commands are the verbs of licensed.
var commands = map[string]struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}{
	"serve":   {"run the server against DATABASE_URL", runServe},
	"dev":     {"run everything on embedded defaults (managed Postgres, generated keys)", runDev},
	"migrate": {"apply pending database migrations", runMigrate},
	"keygen":  {"make the ledger's checkpoint signing key", runKeygen},

	"reconcile": {"compare orders, payments, the ledger and the processors; exit 1 on exceptions", runReconcile},
	"ledger":    {"ledger tools: 'ledger fsck' rebuilds and checks every tile, root and checkpoint", runLedger},

	"ops-hash": {"print the bcrypt hash of an operator password (for LICENSED_OPS_PASSWORD_HASH)", runOpsPassword},
}

// order of the verbs in the usage text.
var commandOrder = []string{"serve", "dev", "migrate", "keygen", "reconcile", "ledger", "ops-hash"}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: licensed COMMAND [flags]")
	fmt.Fprintln(w)
	for _, name := range commandOrder {
		fmt.Fprintf(w, "  %-10s %s\n", name, commands[name].summary)
	}
	fmt.Fprintln(w, "\nRun 'licensed COMMAND -h' for the flags of a command.")
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "licensed: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	var exit exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "licensed %s: %v\n", args[0], err)
		return 2
	case errors.As(err, &exit):
		return int(exit)
	default:
		fmt.Fprintf(stderr, "licensed %s: %v\n", args[0], err)
		return 1
	}
}

// usageError is a mistake on the command line (exit status 2).
type usageError string

func (e usageError) Error() string { return string(e) }

// exitError ends the program with a status and nothing more to say (the
// command has already printed its findings).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// parseFlags parses args into a fresh flag set named name.
func parseFlags(name string, args []string, stderr io.Writer, define func(fs *flag.FlagSet)) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet("licensed "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	define(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, exitError(2) // flag has printed the mistake and the usage
	}
	return fs, nil
}
