// Command license is the customer and relay tool of the license network.
//
//	license account new|show|address    the account file (keys, licenses found)
//	license scan                         find your licenses on the ledger
//	license list                         the licenses found, with their state
//	license prove --scope S --message HEX  a ring proof for a relay
//	license admit PROOF.json             send a proof to the admission endpoint
//	license ledger verify --server URL   audit the public ledger from outside
//	license relay --network N            a relay's admission: verify here, register tags with the server
//	license vote --poll ID --option N    vote in a poll, anonymously
//	license poll verify ID               recount a poll from its public log
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
	"io"
	"os"

	"github.com/licensed/licensed/cmd/internal/cli"
)

func main() {
	cli.Main(func(ctx context.Context) int { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) })
}

// program is license and its verbs, in the order of the usage text; each
// verb lives in its own file.
var program = cli.Program{
	Name: "license", Noun: "VERB",
	Commands: []cli.Command{
		cli.Verb("account", "make, restore or show the account: 'license account new|show|address'", runAccount),
		cli.Verb("scan", "find your licenses on the ledger, checked against its signed checkpoint", runScan),
		cli.Verb("list", "list the licenses found, with their state", runList),
		cli.Verb("prove", "make a ring proof: 'license prove --scope S --message HEX [--ring 16]'", runProve),
		cli.Verb("admit", "send a proof to the server's admission endpoint: 'license admit PROOF.json'", runAdmit),
		cli.Verb("ledger", "audit the public ledger: 'license ledger verify --server URL'", cli.NoInput(runLedger)),
		cli.Verb("relay", "run a relay's admission: verify locally, one network-wide quota: 'license relay --network N'", runRelay),
		cli.Verb("vote", "vote in a poll, anonymously: 'license vote --poll ID --option N'", runVote),
		cli.Verb("poll", "recount a poll from its public log: 'license poll verify ID [--receipt FILE]'", runPoll),
	},
	Footer: `Global flags, before or after the verb: --server URL (LICENSE_SERVER), --account FILE (LICENSE_ACCOUNT),
--ledger-key KEY (LICENSE_LEDGER_KEY), --passphrase-file FILE (LICENSE_PASSPHRASE_FILE; or LICENSE_PASSPHRASE).
Run 'license VERB --help' for the flags of each verb.`,
}

// usageError is a mistake on the command line (exit status 2).
type usageError = cli.UsageError

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWithInput(ctx, args, os.Stdin, stdout, stderr)
}

// runWithInput is run with the standard input given (tests pass their own).
func runWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return program.Run(ctx, hoistGlobalFlags(args), stdin, stdout, stderr) // hoist: "license --server URL VERB ..." (verbs.go)
}
