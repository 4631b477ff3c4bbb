package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/issuer/walletsig"
)

// walletAccount derives an account from a wallet: it shows the challenge,
// reads the wallet address (unless given) and two signatures of the
// challenge, checks both against the address and that they are equal, then
// derives the seed from the signature and the passphrase (asked twice on a
// terminal). It returns the account and the passphrase, which also
// encrypts the account file.
func walletAccount(g *accountFlags, address string, stdin io.Reader, stdout, stderr io.Writer) (*issuer.Account, []byte, error) {
	in := bufio.NewReader(stdin)
	tty := false
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
	}
	line := func(prompt, what string) (string, error) {
		if tty {
			fmt.Fprint(stderr, prompt)
		}
		s, err := in.ReadString('\n')
		s = strings.TrimSpace(s)
		if s == "" && err != nil {
			return "", sayf("no %s: type it, or give it on its own line of standard input.", what)
		}
		return s, nil
	}
	if address == "" {
		var err error
		if address, err = line("Wallet address (Bitcoin or Ethereum): ", "wallet address"); err != nil {
			return nil, nil, err
		}
	}
	addr, err := walletsig.ParseAddress(address)
	if err != nil {
		return nil, nil, sayf("%v", err)
	}
	how := `"Sign message" (Bitcoin Core: signmessage; Electrum and Sparrow: Sign/verify message)`
	if addr.Kind() == walletsig.Ethereum {
		how = "personal_sign (MetaMask and most wallets: Sign message)"
	}
	fmt.Fprintf(stdout, "Sign this message with %s, with the key of %s, exactly as it is (one line):\n\n%s\n\n", how, addr, walletsig.Challenge)
	first, err := line("Signature: ", "signature")
	if err != nil {
		return nil, nil, err
	}
	sig, err := walletsig.Verify(addr, first)
	if err != nil {
		return nil, nil, sayf("%v", err)
	}
	fmt.Fprintln(stdout, "Sign the same message again, to check that the wallet signs it the same way each time.")
	second, err := line("Signature again: ", "second signature")
	if err != nil {
		return nil, nil, err
	}
	again, err := walletsig.Verify(addr, second)
	if err != nil {
		return nil, nil, sayf("%v", err)
	}
	if !sig.Equal(again) {
		return nil, nil, sayf("the two signatures differ: this wallet does not sign deterministically, so each signature would make another account and none could be restored; nothing was written (use 'license account new' and keep its seed phrase instead).")
	}
	// On a terminal the passphrase is read from it without echo; otherwise
	// it comes from the environment or a file, never from standard input.
	pass, err := g.passphrase(stdin, stderr, true)
	if err != nil {
		return nil, nil, err
	}
	seed, err := walletsig.DeriveSeed(addr, sig, pass)
	if err != nil {
		return nil, nil, sayf("%v", err)
	}
	acct, err := issuer.NewAccountFromSeed(seed[:])
	clear(seed[:])
	if err != nil {
		return nil, nil, sayf("couldn't make an account from the derived seed (%s).", rootCause(err))
	}
	return acct, pass, nil
}
