package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/btcsuite/btcd/rpcclient"
	"golang.org/x/term"

	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/payments/reconcile"
	"github.com/licensed/licensed/web"
)

// openPages wires the storefront, the invoice pages and the operator
// dashboard into deps.
func (m *Main) openPages(ctx context.Context, deps *web.Deps) error {
	cfg := &m.Config
	books := reconcile.NewBooks(m.DB)
	p := &web.Pages{
		Books: books,
		// The explorer reads the ledger's tables.
		Explorer:  pgledger.NewStore(m.DB),
		PublicURL: cfg.PublicURL,
		Contact:   cfg.OperatorContact,
	}
	hash := cfg.OpsPasswordHash
	if hash == "" && m.Dev {
		h, err := devOpsPassword(cfg.DataDir, m.Stdout)
		if err != nil {
			return err
		}
		hash = h
	}
	if hash != "" {
		ops, err := web.NewOps(web.OpsConfig{PasswordHash: hash})
		if err != nil {
			return err
		}
		p.Ops = ops
		// Only the dashboard reconciles (with a btcd client of its own).
		if p.Reconciler, err = m.reconciler(books); err != nil {
			return err
		}
	} else {
		m.Log.Info("operator dashboard off: set LICENSED_OPS_PASSWORD_HASH to turn it on")
	}
	// -- pages: invoices, minter --
	deps.Pages = p
	return nil
}

// reconciler compares the database with what this configuration can reach:
// the ledger always, Stripe when a secret key is set, btcd when its RPC host
// is set (the dev btcd of `licensed dev` is not compared).
func (m *Main) reconciler(books *reconcile.Books) (*reconcile.Reconciler, error) {
	cfg := &m.Config
	r := &reconcile.Reconciler{Books: books, Ledger: reconcile.LedgerStore(pgledger.NewStore(books.DB()))}
	if cfg.StripeSecretKey != "" {
		st := reconcile.NewStripe(cfg.StripeSecretKey, cfg.StripeAPIURL, nil)
		st.Books = books
		r.Processors = append(r.Processors, st)
	}
	if bc := cfg.Bitcoin; bc.RPCHost != "" {
		cc, err := bc.rpcConfig()
		if err != nil {
			return nil, err
		}
		rpc, err := rpcclient.New(cc, nil)
		if err != nil {
			return nil, fmt.Errorf("couldn't set up btcd's RPC client: %w", err)
		}
		m.closers = append(m.closers, rpc.Shutdown)
		r.Processors = append(r.Processors, &reconcile.Chain{RPC: rpc, MinConf: int64(bc.Confirmations), Payments: books.BTCPayments})
	}
	return r, nil
}

// devOpsPassword returns the bcrypt hash of the dev operator password kept
// in DATA_DIR/ops-password (mode 0600), making and printing the password
// on first run only.
func devOpsPassword(dataDir string, stdout interface{ Write([]byte) (int, error) }) (string, error) {
	path := filepath.Join(dataDir, "ops-password")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var r [18]byte
		if _, err := rand.Read(r[:]); err != nil {
			return "", err
		}
		pw := base64.RawURLEncoding.EncodeToString(r[:])
		if err := writeNew(path, pw); err != nil {
			return "", fmt.Errorf("couldn't create the dev operator password file: %w", err)
		}
		fmt.Fprintf(stdout, "operator dashboard: /ops, password %s (shown once; kept in %s)\n", pw, path)
		b = []byte(pw)
	} else if err != nil {
		return "", fmt.Errorf("couldn't read the dev operator password: %w", err)
	}
	pw := strings.TrimSpace(string(b))
	if pw == "" {
		return "", fmt.Errorf("%s is empty: remove it to make a new dev operator password", path)
	}
	return web.HashPassword(pw)
}

// opsPasswordInput is where `licensed ops-hash` reads the password
// (tests replace it).
var opsPasswordInput io.Reader = os.Stdin

// MinOpsPassword is the shortest operator password ops-hash accepts.
const MinOpsPassword = 12

// runOpsPassword is `licensed ops-hash`: it reads the operator password
// (twice, without echo, from a terminal; else the first line of standard
// input) and prints its bcrypt hash for LICENSED_OPS_PASSWORD_HASH.
func runOpsPassword(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if _, err := parseFlags("ops-hash", args, stderr, func(fs *flag.FlagSet) {
		fs.Usage = func() {
			fmt.Fprintln(stderr, "usage: licensed ops-hash < password\n\nPrints the bcrypt hash of the operator password for LICENSED_OPS_PASSWORD_HASH.")
		}
	}); err != nil {
		return err
	}
	var pw string
	if f, ok := opsPasswordInput.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Operator password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return err
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return err
		}
		if string(a) != string(b) {
			return usageError("the two passwords differ")
		}
		pw = string(a)
	} else {
		line, err := bufio.NewReader(opsPasswordInput).ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if len(pw) < MinOpsPassword || len(pw) > 72 {
		return usageError(fmt.Sprintf("the operator password must be %d to 72 characters long", MinOpsPassword))
	}
	h, err := web.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}
