package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/licensed/licensed/issuer/wallet"
)

// Environment variables of the global flags.
const (
	envLicenseServer    = "LICENSE_SERVER"
	envLicenseAccount   = "LICENSE_ACCOUNT"
	envLicenseLedgerKey = "LICENSE_LEDGER_KEY"
	envPassphrase       = "LICENSE_PASSPHRASE"
	envPassphraseFile   = "LICENSE_PASSPHRASE_FILE"

	defaultLicenseServer = "http://127.0.0.1:8080"
)

// accountFlags are the flags every account verb accepts.
type accountFlags struct {
	server         string
	account        string
	ledgerKey      string
	passphraseFile string
}

// defaultAccountPath is ~/.config/license/account (the user configuration
// folder of the platform).
func defaultAccountPath() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return filepath.Join(".config", "license", "account")
	}
	return filepath.Join(dir, "license", "account")
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}

// define registers the global flags on fs.
func (g *accountFlags) define(fs *flag.FlagSet) {
	fs.StringVar(&g.server, "server", envOr(envLicenseServer, defaultLicenseServer), "base URL of the license server (env "+envLicenseServer+")")
	fs.StringVar(&g.account, "account", envOr(envLicenseAccount, defaultAccountPath()), "the account file (env "+envLicenseAccount+")")
	fs.StringVar(&g.ledgerKey, "ledger-key", os.Getenv(envLicenseLedgerKey), "the ledger's checkpoint verifier key, pinned in the account file on first use (env "+envLicenseLedgerKey+")")
	fs.StringVar(&g.passphraseFile, "passphrase-file", os.Getenv(envPassphraseFile), "read the account passphrase from this file (env "+envPassphraseFile+"; or set "+envPassphrase+"; otherwise it is asked for)")
	defineWitnessPolicy(fs)
}

// sentenceError is a failure explained in one sentence for the person at the
// keyboard; it is printed as it is.
type sentenceError struct{ msg string }

func (e *sentenceError) Error() string { return e.msg }

func sayf(format string, args ...any) error {
	return &sentenceError{fmt.Sprintf(format, args...)}
}

// parseVerbFlags parses the flags of one verb. name is "license VERB",
// synopsis the line after "usage:", about a few lines of help.
func parseVerbFlags(name, synopsis, about string, args []string, stderr io.Writer, define func(fs *flag.FlagSet)) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(about))
		fs.PrintDefaults()
	}
	define(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, flag.ErrHelp
		}
		return nil, usageError(err.Error()) // flag has printed the usage too
	}
	return fs, nil
}

// passphrase returns the account passphrase: from the passphrase file, the
// environment, or a prompt on the terminal (twice when confirm is set).
func (g *accountFlags) passphrase(stdin io.Reader, stderr io.Writer, confirm bool) ([]byte, error) {
	if g.passphraseFile != "" {
		b, err := os.ReadFile(g.passphraseFile)
		if err != nil {
			return nil, sayf("couldn't read the passphrase file %s (%s).", g.passphraseFile, rootCause(err))
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(b) == 0 {
			return nil, sayf("the passphrase file %s is empty.", g.passphraseFile)
		}
		return b, nil
	}
	if v := os.Getenv(envPassphrase); v != "" {
		return []byte(v), nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, sayf("no passphrase: set %s or %s, pass --passphrase-file, or run the command in a terminal.", envPassphrase, envPassphraseFile)
	}
	fmt.Fprint(stderr, "Account passphrase: ")
	p, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(stderr)
	if err != nil {
		return nil, sayf("couldn't read the passphrase from the terminal.")
	}
	if len(p) == 0 {
		return nil, sayf("the passphrase is empty.")
	}
	if confirm {
		fmt.Fprint(stderr, "Repeat the passphrase: ")
		q, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, sayf("couldn't read the passphrase from the terminal.")
		}
		if !bytes.Equal(p, q) {
			return nil, sayf("the two passphrases differ; nothing was written.")
		}
	}
	return p, nil
}

// openAccount locks the account file and opens it. Call the returned unlock
// when done, after saving.
func (g *accountFlags) openAccount(stdin io.Reader, stderr io.Writer) (*wallet.Contents, *wallet.Key, func(), error) {
	if _, err := os.Stat(g.account); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil, sayf("there is no account file at %s: make one with 'license account new', or give its path with --account.", g.account)
	}
	pass, err := g.passphrase(stdin, stderr, false)
	if err != nil {
		return nil, nil, nil, err
	}
	unlock, err := wallet.Lock(g.account)
	if err != nil {
		return nil, nil, nil, sayf("couldn't lock the account file %s (%s).", g.account, rootCause(err))
	}
	c, k, err := wallet.Load(g.account, pass)
	clear(pass)
	if err != nil {
		unlock()
		switch {
		case errors.Is(err, wallet.ErrWrongPassphrase), errors.Is(err, wallet.ErrNotAccountFile),
			errors.Is(err, wallet.ErrDamaged), errors.Is(err, wallet.ErrContents):
			return nil, nil, nil, sayf("%v (%s).", err, g.account)
		}
		return nil, nil, nil, sayf("couldn't read the account file %s (%s).", g.account, rootCause(err))
	}
	return c, k, unlock, nil
}

// save writes the account file back.
func (g *accountFlags) save(k *wallet.Key, c *wallet.Contents) error {
	if err := k.Save(g.account, c); err != nil {
		return sayf("couldn't save the account file %s (%s).", g.account, rootCause(err))
	}
	return nil
}

// cause returns the innermost message of err, for a one-sentence report
// ("connection refused" rather than a chain of wrapped contexts).
func rootCause(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	return err.Error()
}

// apiClient talks to the license server.
type apiClient struct {
	base string
	http *http.Client
}

func newAPIClient(server string) (*apiClient, error) {
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, sayf("the server URL %q is not an http:// or https:// URL.", server)
	}
	return &apiClient{base: strings.TrimRight(server, "/"), http: &http.Client{Timeout: 60 * time.Second}}, nil
}

// refusal is a refusal by the server: its JSON {code, message}.
type refusal struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *refusal) Error() string {
	return "the server refused the request: " + refusalSentence(e)
}

// do sends a request and returns the body of a 200 answer, a *refusal
// for a 4xx or 5xx answer, or a sentenceError when the server cannot be reached.
func (c *apiClient) do(ctx context.Context, method, path string, body []byte, limit int64) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, sayf("couldn't make a request to %s (%s).", c.base, rootCause(err))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, sayf("couldn't reach the server at %s (%s).", c.base, rootCause(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, sayf("the connection to the server at %s broke (%s).", c.base, rootCause(err))
	}
	if int64(len(b)) > limit {
		return nil, sayf("the server at %s sent an answer larger than %d bytes to %s.", c.base, limit, path)
	}
	if resp.StatusCode != http.StatusOK {
		se := &refusal{Status: resp.StatusCode}
		json.Unmarshal(b, se)
		return nil, se
	}
	return b, nil
}

// getJSON fetches path and decodes its JSON answer into v.
func (c *apiClient) getJSON(ctx context.Context, path string, v any) error {
	b, err := c.do(ctx, http.MethodGet, path, nil, 64<<20)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return sayf("the server at %s sent an answer to %s that is not the expected JSON.", c.base, path)
	}
	return nil
}

// readInputLine reads one line from r, without its line ending.
func readInputLine(r io.Reader) (string, error) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 4096), 1<<16)
	if !s.Scan() {
		if s.Err() != nil {
			return "", s.Err()
		}
		return "", io.EOF
	}
	return strings.TrimRight(s.Text(), "\r"), nil
}
