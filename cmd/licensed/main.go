// Command licensed is the license and payment issuance server.
//
//	licensed serve       run the server against DATABASE_URL
//	licensed dev         run everything on embedded defaults: a managed
//	                     Postgres cluster, generated keys, a loopback URL
//	licensed migrate     apply pending database migrations
//	licensed keygen      make the ledger's checkpoint signing key
//	licensed reconcile   list every exception between orders, payments,
//	                     the ledger and the processors (exit 1 on any)
//	licensed ledger fsck rebuild and check every tile, root and checkpoint
//	licensed ops-hash    print the bcrypt hash of an operator password
//	licensed poll new    create a poll (one anonymous vote per license)
//	licensed relay-key new NAME
//	                     make a relay's admission key; print the line for
//	                     --relay-keys-file
//
// Run `licensed COMMAND -h` for each command's flags. Every setting of the
// server is a row of one flag table (see Config): a flag and its environment
// variable, both read by the flag's parser, or a secret read from the
// environment only; -h shows each flag's variable and lists the secrets.
package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/licensed/licensed/cmd/internal/cli"
)

func main() {
	cli.Main(func(ctx context.Context) int { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) })
}

// program is licensed and its verbs, in the order of the usage text.
var program = cli.Program{
	Name: "licensed", Noun: "COMMAND",
	Commands: []cli.Command{
		cli.Verb("serve", "run the server against DATABASE_URL", cli.NoInput(runServe)),
		cli.Verb("dev", "run everything on embedded defaults (managed Postgres, generated keys)", cli.NoInput(runDev)),
		cli.Verb("migrate", "apply pending database migrations", cli.NoInput(runMigrate)),
		cli.Verb("keygen", "make the ledger's checkpoint signing key", cli.NoInput(runKeygen)),
		cli.Verb("reconcile", "compare orders, payments, the ledger and the processors; exit 1 on exceptions", cli.NoInput(runReconcile)),
		cli.Verb("ledger", "ledger tools: 'ledger fsck' rebuilds and checks every tile, root and checkpoint", cli.NoInput(runLedger)),
		cli.Verb("witness", "run a witness that cosigns a ledger's checkpoints (litewitness); prints its line for a witness policy", cli.NoInput(runWitness)),
		cli.Verb("ops-hash", "print the bcrypt hash of an operator password (for LICENSED_OPS_PASSWORD_HASH)", cli.NoInput(runOpsPassword)),
		cli.Verb("poll", "'poll new --id ID --question Q --option A --option B --plan P --closes T' creates a poll", cli.NoInput(runPoll)),
		cli.Verb("relay-key", "'relay-key new NAME' makes a relay's admission key and prints the line for --relay-keys-file", cli.NoInput(runRelayKey)),
	},
	Footer: "Run 'licensed COMMAND -h' for the flags of a command.",
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return program.Run(ctx, args, os.Stdin, stdout, stderr)
}

// usageError is a mistake on the command line (exit status 2).
type usageError = cli.UsageError

// exitError ends the program with a status and nothing more to say.
type exitError = cli.ExitError

// parseFlags parses args into a fresh flag set named "licensed NAME", then
// gives every flag of a Config's table that the command line left alone the
// value of its environment variable. A value that does not parse, on the
// command line or in the environment, is a usage error (exit status 2).
func parseFlags(name string, args []string, stderr io.Writer, define func(fs *flag.FlagSet)) (*flag.FlagSet, error) {
	fs, err := cli.ParseFlags("licensed "+name, args, stderr, func(fs *flag.FlagSet) {
		define(fs)
		fs.Usage = func() { printDefaults(fs) }
	})
	if err != nil {
		return nil, err
	}
	if err := loadEnv(fs); err != nil {
		return nil, err
	}
	return fs, nil
}
