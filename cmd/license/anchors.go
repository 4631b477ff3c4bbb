package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/anchor"
	"github.com/licensed/licensed/ledger/anchor/btcdchain"
	"github.com/licensed/licensed/ledger/tlogclient"
)

// anchorFlags are ledger verify's flags for --anchors.
type anchorFlags struct {
	on                         *bool
	host, user, passFile, cert *string
}

func defineAnchorFlags(fs *flag.FlagSet) *anchorFlags {
	return &anchorFlags{
		on:       fs.Bool("anchors", false, "also check every confirmed Bitcoin anchor the server lists against btcd, and that the ledger extends each anchored checkpoint"),
		host:     fs.String("btcd-rpc-host", os.Getenv("LICENSE_BTCD_RPC_HOST"), "with --anchors: btcd's RPC host:port, a node you trust (env LICENSE_BTCD_RPC_HOST)"),
		user:     fs.String("btcd-rpc-user", os.Getenv("LICENSE_BTCD_RPC_USER"), "with --anchors: btcd's RPC user (env LICENSE_BTCD_RPC_USER)"),
		passFile: fs.String("btcd-rpc-pass-file", "", "with --anchors: file holding btcd's RPC password (default: env LICENSE_BTCD_RPC_PASS)"),
		cert:     fs.String("btcd-rpc-cert", os.Getenv("LICENSE_BTCD_RPC_CERT"), "with --anchors: btcd's rpc.cert; empty for no TLS, a node on loopback only (env LICENSE_BTCD_RPC_CERT)"),
	}
}

// verifyAnchors is ledger verify --anchors, after the ledger verified at
// cur: it checks each confirmed anchor of <server>/ledger/anchors with
// anchor.Verify and stops at the first that fails. seenFile (none if "")
// keeps the confirmed anchors of earlier runs: one the server no longer
// lists fails.
func (f *anchorFlags) verify(ctx context.Context, server string, v note.Verifier, c *tlogclient.Client, cur ledger.Checkpoint, seenFile string, stdout io.Writer) error {
	if *f.host == "" {
		return usageError("--anchors needs a Bitcoin node: give --btcd-rpc-host (and --btcd-rpc-user, --btcd-rpc-pass-file)")
	}
	pass := os.Getenv("LICENSE_BTCD_RPC_PASS")
	if *f.passFile != "" {
		b, err := os.ReadFile(*f.passFile)
		if err != nil {
			return fmt.Errorf("couldn't read --btcd-rpc-pass-file: %w", err)
		}
		pass = strings.TrimSpace(string(b))
	}
	var cert []byte
	if *f.cert != "" {
		var err error
		if cert, err = os.ReadFile(*f.cert); err != nil {
			return fmt.Errorf("couldn't read --btcd-rpc-cert: %w", err)
		}
	}
	list, err := fetchAnchors(ctx, server)
	if err != nil {
		return err
	}
	seen, err := readSeenAnchors(seenFile)
	if err != nil {
		return err
	}
	for _, s := range seen {
		if !slices.ContainsFunc(list.Anchors, func(a anchor.Anchor) bool { return a.TxID == s.txid }) {
			return fmt.Errorf("anchor: the server no longer lists the anchor of size %d in tx %s, which it listed as confirmed before (kept in %s): it hides an anchor of its history", s.size, s.txid, seenFile)
		}
	}
	// --anchors asks that the history be anchored: a listing with no
	// confirmed anchor (empty, or pending or replaced for ever) proves
	// nothing of the kind.
	if !slices.ContainsFunc(list.Anchors, func(a anchor.Anchor) bool { return a.State == anchor.StateConfirmed }) {
		return fmt.Errorf("anchor: the server lists %d anchors and none is confirmed in Bitcoin: nothing anchors this ledger's history yet (a new deployment's first anchor confirms within its --anchor-interval and a few blocks)", len(list.Anchors))
	}
	chain, err := btcdchain.Dial(*f.host, *f.user, pass, cert)
	if err != nil {
		return err
	}
	defer chain.Close()
	checked := 0
	for _, a := range list.Anchors {
		if a.State != anchor.StateConfirmed {
			fmt.Fprintf(stdout, "anchor of size %d in tx %s: %s, skipped\n", a.Size, a.TxID, a.State)
			continue
		}
		if err := anchor.Verify(ctx, a, v, chain, c, cur); err != nil {
			return err
		}
		checked++
		fmt.Fprintf(stdout, "anchor of size %d in block %d (tx %s): ok, the ledger extends it\n", a.Size, *a.BlockHeight, a.TxID)
	}
	for _, a := range list.Anchors {
		if a.State == anchor.StateConfirmed && !slices.ContainsFunc(seen, func(s seenAnchor) bool { return s.txid == a.TxID }) {
			seen = append(seen, seenAnchor{a.TxID, a.Size})
		}
	}
	if err := writeSeenAnchors(seenFile, seen); err != nil {
		return fmt.Errorf("couldn't save the anchors seen to %s: %w", seenFile, err)
	}
	fmt.Fprintf(stdout, "ok: %d confirmed Bitcoin anchors checked\n", checked)
	return nil
}

// seenAnchor is a confirmed anchor an earlier run checked: a line
// "<txid> <size>" of the anchors file beside the state file.
type seenAnchor struct {
	txid string
	size int64
}

func readSeenAnchors(path string) ([]seenAnchor, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("couldn't read the anchors seen before: %w", err)
	}
	var out []seenAnchor
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var s seenAnchor
		if n, err := fmt.Sscanf(line, "%64s %d", &s.txid, &s.size); n != 2 || err != nil || len(s.txid) != 64 {
			return nil, fmt.Errorf("%s line %d is not \"<txid> <size>\": delete the file to start again", path, i+1)
		}
		out = append(out, s)
	}
	return out, nil
}

func writeSeenAnchors(path string, seen []seenAnchor) error {
	if path == "" {
		return nil
	}
	var b strings.Builder
	for _, s := range seen {
		fmt.Fprintf(&b, "%s %d\n", s.txid, s.size)
	}
	return writeState(path, []byte(b.String()))
}

// fetchAnchors reads and parses <server>/ledger/anchors.
func fetchAnchors(ctx context.Context, server string) (*anchor.List, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(server, "/")+"/ledger/anchors", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("couldn't fetch the ledger's anchors: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, errors.New("the server lists no Bitcoin anchors of its ledger (GET /ledger/anchors answered 404)")
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /ledger/anchors answered %s", resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20+1))
	if err != nil {
		return nil, fmt.Errorf("couldn't fetch the ledger's anchors: %w", err)
	}
	return anchor.ParseList(b)
}
