package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/licensed/licensed/internal/launch/litewitness"
	"github.com/licensed/licensed/ledger/cosigning"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/ledger/tlogclient"
	"github.com/licensed/licensed/ledger/witness"
	"github.com/licensed/licensed/web"
)

// devWitnesses is how many witnesses `licensed dev` runs, and devQuorum how
// many of them must cosign a checkpoint before it is served.
const (
	devWitnesses = 3
	devQuorum    = 2
)

// openWitnesses gets the ledger's checkpoints cosigned (package
// ledger/cosigning): with --witnesses-file, by the witnesses it lists; under
// dev without one, by three local litewitness processes it starts, whose
// policy it writes to DATA_DIR/witness-policy for clients. Without either,
// checkpoints are served as the ledger signs them.
func (m *Main) openWitnesses(ctx context.Context, deps *web.Deps, led *pgledger.Ledger) error {
	path := m.Config.WitnessesFile
	if path == "" && m.Dev {
		var err error
		if path, err = m.startDevWitnesses(ctx); err != nil {
			m.Log.Warn("no local witnesses: checkpoints are served without cosignatures", "why", err)
			return nil
		}
	}
	if path == "" {
		return nil
	}
	policy, err := tlogclient.LoadPolicy(path)
	if err != nil {
		return usageError(fmt.Sprintf("--witnesses-file: %v", err))
	}
	if !policy.ListsLog(m.LedgerSigner.Name(), m.LedgerSigner.KeyHash()) {
		return usageError(fmt.Sprintf("--witnesses-file %s lists logs, but not this ledger's key %s", path, m.LedgerVerifierKey))
	}
	cos, err := cosigning.New(m.DB, led.Store(), cosigning.Config{Policy: policy, Log: m.Log})
	if err != nil {
		return err
	}
	deps.Ledger.Witnessed = cos
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { cos.Run(ctx) })
	m.closers = append(m.closers, func() { cancel(); wg.Wait() })
	var names []string
	for _, w := range policy.Witnesses {
		names = append(names, w.Name)
	}
	m.Log.Info("ledger witnesses", "policy", path, "witnesses", strings.Join(names, ","), "quorum", policy.Quorum())
	return nil
}

// startDevWitnesses starts dev's local witnesses (state in
// DATA_DIR/witnesses/wN, keys kept across runs) and writes their policy,
// quorum 2 of 3, to DATA_DIR/witness-policy.
func (m *Main) startDevWitnesses(ctx context.Context) (string, error) {
	if err := litewitness.Available(); err != nil {
		return "", err
	}
	var policy strings.Builder
	policy.WriteString("# The witnesses of licensed dev (C2SP tlog-policy). Clients:\n")
	policy.WriteString("#   license ledger verify --witness-policy THIS_FILE ...\n")
	policy.WriteString("log " + m.LedgerVerifierKey + " " + m.URL + "\n")
	var names []string
	for i := range devWitnesses {
		name := fmt.Sprintf("w%d", i+1)
		p, err := litewitness.Start(ctx, litewitness.Config{
			Dir:    filepath.Join(m.Config.DataDir, "witnesses", name),
			Name:   "dev.licensed.local/witness/" + name,
			LogKey: m.LedgerVerifierKey,
		})
		if err != nil {
			return "", err
		}
		m.closers = append(m.closers, p.Stop)
		policy.WriteString(witness.FormatWitnessLine(name, p.VerifierKey, p.URL))
		names = append(names, name)
	}
	policy.WriteString(witness.GroupLine("local", devQuorum, names))
	policy.WriteString("quorum local\n")
	path := filepath.Join(m.Config.DataDir, "witness-policy")
	if err := os.WriteFile(path, []byte(policy.String()), 0o644); err != nil {
		return "", err
	}
	if m.Stdout != nil {
		fmt.Fprintf(m.Stdout, "  witnesses: %d local litewitness processes, quorum %d; their policy for clients: %s\n", devWitnesses, devQuorum, path)
	}
	return path, nil
}

// runWitness is `licensed witness`: it runs a witness of a ledger
// (filippo.io/torchwood's litewitness, with its own ssh-agent) until
// interrupted, and prints the line a policy needs.
func runWitness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var logKey, dir, listen, name string
	if _, err := parseFlags("witness", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&logKey, "log-key", env("LICENSED_WITNESS_LOG_KEY", ""), "the ledger's verifier key to witness, as its server publishes it at /ledger/key (env LICENSED_WITNESS_LOG_KEY)")
		fs.StringVar(&dir, "dir", env("LICENSED_WITNESS_DIR", "witness"), "folder of the witness's key and database (env LICENSED_WITNESS_DIR)")
		fs.StringVar(&listen, "listen", env("LICENSED_WITNESS_LISTEN", "127.0.0.1:7380"), "address to serve add-checkpoint on (env LICENSED_WITNESS_LISTEN)")
		fs.StringVar(&name, "name", env("LICENSED_WITNESS_NAME", ""), "the witness's name, URL-like, e.g. relay.example/witness (env LICENSED_WITNESS_NAME)")
	}); err != nil {
		return err
	}
	if logKey == "" || name == "" {
		return usageError("give --log-key (the ledger's verifier key) and --name (e.g. relay.example/witness)")
	}
	p, err := litewitness.Start(ctx, litewitness.Config{Dir: dir, Name: name, Listen: listen, LogKey: strings.TrimSpace(logKey), Stderr: stderr})
	if err != nil {
		return err
	}
	defer p.Stop()
	fmt.Fprintf(stdout, "witnessing %s at %s (state in %s); its line for a witness policy:\n", strings.SplitN(logKey, "+", 2)[0], p.URL, dir)
	fmt.Fprint(stdout, witness.FormatWitnessLine("NAME", p.VerifierKey, "URL"))
	select {
	case <-ctx.Done():
		return nil
	case <-p.Done():
		return errors.New("litewitness stopped (its log above says why)")
	}
}
