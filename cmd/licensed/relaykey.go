package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/licensed/licensed/web"
)

// runRelayKey is `licensed relay-key new NAME`: it makes a relay key, prints
// it once for the relay, and prints the line for the server's relay keys
// file, which holds only the key's SHA-256. The server never stores the key,
// so a lost key is replaced, not recovered: make a new one and remove the
// old line.
func runRelayKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, err := parseFlags("relay-key", args, stderr, func(*flag.FlagSet) {})
	if err != nil {
		return err
	}
	if rest := fs.Args(); len(rest) != 2 || rest[0] != "new" {
		fmt.Fprint(stderr, relayKeyUsage)
		return usageError("say 'licensed relay-key new NAME'")
	}
	key, line, err := web.NewRelayKey(fs.Arg(1))
	if err != nil {
		return usageError(err.Error())
	}
	fmt.Fprintf(stdout, "relay key (give it to the relay; it is shown only now):\n  %s\nline for the relay keys file (--relay-keys-file):\n  %s\n", key, line)
	return nil
}

const relayKeyUsage = `usage: licensed relay-key new NAME

Makes a relay key for the relay NAME (letters, digits, '.', '_', '-'). Give
the key to the relay (ledger/relay.Client.Key; it is sent as
"Authorization: Bearer KEY") and add the line to the file of
--relay-keys-file (or to LICENSED_RELAY_KEYS), optionally followed by
rate=R burst=B inflight=N for that relay's own limits; restart the server.
`
