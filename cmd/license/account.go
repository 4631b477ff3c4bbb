package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/issuer/wallet"
)

const accountAbout = `
Manage the account file: the secret keys of your license address, the licenses
found on the ledger and the proofs already made, encrypted with a passphrase.

  license account new [--restore]   make an account (or restore one from its seed phrase)
  license account new --from-wallet derive the account from a wallet signature and the passphrase
  license account show              show the address, the ledger state and the licenses held
  license account address           print the license address only (give it to the shop)
`

// kdfParams are the Argon2id parameters of new account files (tests lower
// them; the file records them, so opening never depends on this).
var kdfParams = wallet.DefaultParams

// runAccount dispatches account new | show | address.
func runAccount(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintf(stdout, "usage: license account new|show|address [flags]\n%s\nRun 'license account VERB --help' for the flags of each.\n", accountAbout)
		if len(args) == 0 {
			return usageError("name a verb: new, show or address.")
		}
		return nil
	}
	switch args[0] {
	case "new":
		return runAccountNew(ctx, args[1:], stdin, stdout, stderr)
	case "show":
		return runAccountShow(ctx, args[1:], stdin, stdout, stderr)
	case "address":
		return runAccountAddress(ctx, args[1:], stdin, stdout, stderr)
	}
	return usageError(fmt.Sprintf("unknown verb %q: use new, show or address.", args[0]))
}

func runAccountNew(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var g accountFlags
	var restore, fromWallet bool
	var walletAddress string
	_, err := parseVerbFlags("license account new", "[--restore | --from-wallet [--address ADDR]] [flags]", `
Make a new account and write it, encrypted with a passphrase, to the account
file. It prints the license address, to give to the shop when you buy a
license, and the seed phrase: 24 words that restore the account on any
machine. Write the phrase down now; it is not shown again.

With --restore, the account is restored from a seed phrase, read from the
terminal or from the first line of standard input.

With --from-wallet, the account is derived from a Bitcoin or Ethereum wallet
you already have and the passphrase: sign the challenge shown with the
wallet's "Sign message" (Bitcoin) or personal_sign (Ethereum), twice, and
paste both signatures. The same wallet address and passphrase make the same
account on any machine, so nothing else needs a backup. The wallet must sign
deterministically (RFC 6979), or each signature would make another account:
the two signatures must be equal. The address and signatures are read from
the terminal or from lines of standard input (address, then the two
signatures; no address line with --address).`, args, stderr, func(fs *flag.FlagSet) {
		g.define(fs)
		fs.BoolVar(&restore, "restore", false, "restore the account from its seed phrase instead of making a new one")
		fs.BoolVar(&fromWallet, "from-wallet", false, "derive the account from a wallet's signature of a challenge and the passphrase")
		fs.StringVar(&walletAddress, "address", "", "with --from-wallet: the wallet address that signs (Bitcoin 1…, 3…, bc1q…, or Ethereum 0x…)")
	})
	if err != nil {
		return err
	}
	if restore && fromWallet {
		return usageError("give --restore or --from-wallet, not both.")
	}
	if _, err := os.Stat(g.account); err == nil {
		return sayf("an account file already exists at %s; it was left as it is (use --account to write another).", g.account)
	}
	var acct *issuer.Account
	var pass []byte
	if fromWallet {
		acct, pass, err = walletAccount(&g, walletAddress, stdin, stdout, stderr)
		if err != nil {
			return err
		}
	} else if restore {
		var phrase string
		if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			// The phrase is the whole secret: do not echo it.
			fmt.Fprint(stderr, "Seed phrase (24 words, not shown): ")
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(stderr)
			if err != nil {
				return sayf("couldn't read the seed phrase from the terminal.")
			}
			phrase = string(b)
		} else if phrase, err = readInputLine(stdin); err != nil {
			return sayf("no seed phrase: type it, or give it on the first line of standard input.")
		}
		acct, err = issuer.NewAccountFromSeedPhrase(phrase)
		if err != nil {
			msg := strings.TrimPrefix(rootCause(err), "issuer: ")
			return sayf("the seed phrase is not valid (%s); check every word.", msg)
		}
	} else {
		acct, err = issuer.NewAccount(rand.Reader)
		if err != nil {
			return sayf("couldn't read randomness from the system (%s).", rootCause(err))
		}
	}
	if pass == nil {
		if pass, err = g.passphrase(stdin, stderr, true); err != nil {
			return err
		}
	}
	k, err := wallet.DeriveKey(pass, kdfParams)
	clear(pass)
	if err != nil {
		return sayf("couldn't derive a key from the passphrase (%s).", rootCause(err))
	}
	c := wallet.New(acct)
	if err := k.Create(g.account, c); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return sayf("an account file already exists at %s; it was left as it is.", g.account)
		}
		return sayf("couldn't write the account file %s (%s).", g.account, rootCause(err))
	}
	fmt.Fprintf(stdout, "License address:\n%s\n\n", acct.Address())
	if fromWallet {
		fmt.Fprintf(stdout, "Derived the account from the wallet signature and the passphrase into %s. The same wallet and passphrase restore it anywhere with 'license account new --from-wallet'; run 'license scan' to find its licenses.\n", g.account)
		return nil
	}
	if restore {
		fmt.Fprintf(stdout, "Restored the account into %s. Run 'license scan' to find its licenses again.\n", g.account)
		return nil
	}
	fmt.Fprintf(stdout, "Seed phrase (write it down now, it is shown only once; anyone who has it can use your licenses):\n%s\n\n", acct.SeedPhrase())
	fmt.Fprintf(stdout, "Wrote the encrypted account to %s.\n", g.account)
	return nil
}

func runAccountShow(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var g accountFlags
	var phrase bool
	_, err := parseVerbFlags("license account show", "[--seed-phrase] [flags]", `
Show the account's license address, the pinned ledger key, how far the ledger
was scanned and how many licenses were found. With --seed-phrase, also print
the seed phrase (for a new backup).`, args, stderr, func(fs *flag.FlagSet) {
		g.define(fs)
		fs.BoolVar(&phrase, "seed-phrase", false, "also print the seed phrase")
	})
	if err != nil {
		return err
	}
	c, _, unlock, err := g.openAccount(stdin, stderr)
	if err != nil {
		return err
	}
	unlock()
	acct, err := c.Account()
	if err != nil {
		return sayf("the account file holds an invalid seed; restore it from the seed phrase.")
	}
	fmt.Fprintf(stdout, "address:     %s\n", acct.Address())
	key := c.Ledger.Key
	if key == "" {
		key = "(none yet: pinned by the first scan)"
	}
	fmt.Fprintf(stdout, "ledger key:  %s\n", key)
	fmt.Fprintf(stdout, "checkpoint:  %d entries\n", c.Ledger.Size)
	fmt.Fprintf(stdout, "scanned:     %d entries\n", c.Ledger.Scanned)
	fmt.Fprintf(stdout, "licenses:    %d\n", len(c.Licenses))
	if phrase {
		fmt.Fprintf(stdout, "seed phrase: %s\n", acct.SeedPhrase())
	}
	return nil
}

func runAccountAddress(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var g accountFlags
	_, err := parseVerbFlags("license account address", "[flags]", `
Print the account's license address, the text you give the shop when you buy
a license. It is public: it lets the issuer mint licenses to you, and does not
let anyone find them.`, args, stderr, g.define)
	if err != nil {
		return err
	}
	c, _, unlock, err := g.openAccount(stdin, stderr)
	if err != nil {
		return err
	}
	unlock()
	acct, err := c.Account()
	if err != nil {
		return sayf("the account file holds an invalid seed; restore it from the seed phrase.")
	}
	fmt.Fprintln(stdout, acct.Address())
	return nil
}
