package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gtank/ristretto255"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/issuer/wallet"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/poll"
	"github.com/licensed/licensed/ringverify"
)

// A poll as the tool reads it: the definition from the server, checked
// against the hash the server gives (and, in every ballot, signs).
type fetchedPoll struct {
	p    *poll.Poll
	hash poll.Hash
	view poll.View
}

// fetchPoll reads GET /v1/polls/{id} and checks its definition.
func fetchPoll(ctx context.Context, api *apiClient, id string) (*fetchedPoll, error) {
	if !poll.ValidID(id) {
		return nil, usageError(fmt.Sprintf("%q is not a poll id (a-z, 0-9 and '-').", id))
	}
	var v poll.View
	if err := api.getJSON(ctx, "/v1/polls/"+id, &v); err != nil {
		var r *refusal
		if errors.As(err, &r) && r.Status == http.StatusNotFound {
			return nil, sayf("the server at %s has no poll %q; see its /polls page.", api.base, id)
		}
		return nil, err
	}
	p, err := poll.ParseDefinition(v.Definition)
	if err != nil || p.ID != id {
		return nil, sayf("the server's definition of poll %q does not parse or names another poll; it is broken.", id)
	}
	h := poll.HashDefinition(v.Definition)
	if hex.EncodeToString(h[:]) != v.Hash {
		return nil, sayf("the server's hash of poll %q is not its definition's hash; it is broken.", id)
	}
	return &fetchedPoll{p: p, hash: h, view: v}, nil
}

// readElectorate reads every ledger entry under the audited checkpoint,
// each checked against it, into a poll.Electorate.
func readElectorate(ctx context.Context, l *auditedLedger) (*poll.Electorate, error) {
	var entries [][]byte
	if l.cp.Size > 0 {
		tiles, err := fetchEntryTiles(ctx, l, 0, (l.cp.Size-1)/ledger.TileWidth)
		if err != nil {
			return nil, err
		}
		for _, t := range tiles {
			entries = append(entries, t...)
		}
	}
	if int64(len(entries)) != l.cp.Size {
		return nil, sayf("the server served %d ledger entries under a checkpoint of %d; it is broken.", len(entries), l.cp.Size)
	}
	e, err := poll.NewElectorate(entries)
	if err != nil {
		return nil, sayf("%v: the ledger is broken.", err)
	}
	return e, nil
}

// ledgerVerifier returns the note verifier of the ledger key given or
// pinned in the account file.
func ledgerVerifier(key string) (note.Verifier, error) {
	if key == "" {
		return nil, sayf("no ledger key: pass the ledger's verifier key with --ledger-key or %s (the server operator publishes it).", envLicenseLedgerKey)
	}
	v, err := note.NewVerifier(strings.TrimSpace(key))
	if err != nil {
		return nil, sayf("the ledger key %q is not a note verifier key (origin+hash+base64).", key)
	}
	return v, nil
}

// pollLog is a poll's log as downloaded: every leaf's view, each checked
// against the signed checkpoint of its page, and those checkpoints.
type pollLog struct {
	leaves      []poll.LeafView
	checkpoints []poll.Checkpoint
	tree        *poll.Tree // of every leaf
	latest      []byte     // the last page's signed checkpoint
}

// extends reports whether the log, as downloaded, extends the log of
// checkpoint old (seen earlier: in a receipt, or by an earlier run): its
// first old.Size leaves make old's root. The leaves are all here, so no
// consistency proof is needed.
func (lg *pollLog) extends(old poll.Checkpoint) bool {
	if old.Size > lg.tree.Size() {
		return false
	}
	root, err := lg.tree.Root(old.Size)
	return err == nil && root == old.Root
}

// downloadLog downloads poll id's whole log, page by page, checking each
// signed checkpoint with v, each leaf's inclusion proof in it, and that
// every leaf given whole hashes to its leaf hash.
func downloadLog(ctx context.Context, api *apiClient, id string, v note.Verifier) (*pollLog, error) {
	out := &pollLog{}
	for start := int64(0); ; {
		var pg poll.Page
		if err := api.getJSON(ctx, fmt.Sprintf("/v1/polls/%s/ballots?start=%d", id, start), &pg); err != nil {
			return nil, err
		}
		cp, err := poll.OpenCheckpoint([]byte(pg.Checkpoint), v, id)
		if err != nil {
			return nil, sayf("the checkpoint of poll %q's log does not check (%s): do not trust this server's poll.", id, strings.TrimPrefix(err.Error(), "poll: "))
		}
		out.checkpoints = append(out.checkpoints, cp)
		out.latest = []byte(pg.Checkpoint)
		for _, lv := range pg.Ballots {
			if lv.Index != int64(len(out.leaves)) || len(lv.LeafHash) != tlog.HashSize {
				return nil, sayf("the server sent leaf %d of poll %q's log out of order or without its hash; it is broken.", lv.Index, id)
			}
			if lv.Leaf != nil && tlog.RecordHash(lv.Leaf) != tlog.Hash(lv.LeafHash) {
				return nil, sayf("leaf %d of poll %q's log does not hash to its leaf hash: the log is tampered.", lv.Index, id)
			}
			proof := make(tlog.RecordProof, len(lv.Proof))
			for i, h := range lv.Proof {
				if len(h) != tlog.HashSize {
					return nil, sayf("the inclusion proof of leaf %d of poll %q is malformed.", lv.Index, id)
				}
				proof[i] = tlog.Hash(h)
			}
			if err := tlog.CheckRecord(proof, cp.Size, cp.Root, lv.Index, tlog.Hash(lv.LeafHash)); err != nil {
				return nil, sayf("leaf %d of poll %q's log is not in its signed checkpoint of size %d: the log is tampered.", lv.Index, id, cp.Size)
			}
			out.leaves = append(out.leaves, lv)
		}
		if pg.Next == 0 || len(pg.Ballots) == 0 {
			break
		}
		start = pg.Next
	}
	// The leaves make every checkpoint seen, and the last covers them all.
	tree := &poll.Tree{}
	out.tree = tree
	for _, lv := range out.leaves {
		if err := tree.AddHash(tlog.Hash(lv.LeafHash)); err != nil {
			return nil, err
		}
	}
	last := out.checkpoints[len(out.checkpoints)-1]
	if last.Size != tree.Size() {
		return nil, sayf("poll %q's log has %d leaves but its latest checkpoint says %d: the log is tampered.", id, tree.Size(), last.Size)
	}
	for _, cp := range out.checkpoints {
		if root, err := tree.Root(cp.Size); err != nil || root != cp.Root {
			return nil, sayf("poll %q's leaves do not make the root of its signed checkpoint of size %d: the log is tampered.", id, cp.Size)
		}
	}
	return out, nil
}

// runPoll is `license poll verify ID`.
func runPoll(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var g accountFlags
	var receiptFile, state string
	fs, err := parseVerbFlags("license poll verify", "ID [--receipt FILE] [--state FILE] [flags]", `
Recount a poll from its public log, trusting the server for nothing: check
the poll's definition against its hash, download every leaf of the poll's
log with its inclusion proof in a checkpoint signed by the ledger key (under
the origin "<ledger key name>/poll/<id>"), check that the leaves make that
root (a changed, removed or inserted ballot is detected), then read the
whole ledger through its signed checkpoint and check every ballot's ring
proof against the ledger as it was when the server took the ballot (members
of an eligible plan, valid at the poll's opening, not revoked), every tag
used once, and recompute the tally and compare it with the published one.

With --receipt FILE (what 'license vote' wrote), also check that your own
ballot is in the log and that the log extends the one the receipt was signed
in. The latest checkpoint verified is kept in a state file (--state; by
default in the user config folder, per ledger key and poll): the next run
checks that the log extends it, so a server that forks or rolls back a
poll's log is caught. While a hidden tally is hidden, ballots are published
as hashes only: then only the log and your ballot's inclusion are checked.
The exit status is 0 when everything checks, 1 otherwise.`, args, stderr, func(fs *flag.FlagSet) {
		g.define(fs)
		fs.StringVar(&receiptFile, "receipt", "", "a ballot receipt written by 'license vote': check that this ballot is in the log")
		fs.StringVar(&state, "state", "", "file keeping the poll's last verified checkpoint (default in the user config folder)")
	})
	if err != nil {
		return err
	}
	rest, err := interspersed(fs)
	if err != nil {
		return err
	}
	if len(rest) != 2 || rest[0] != "verify" {
		return usageError("say 'license poll verify ID'.")
	}
	id := rest[1]
	api, err := newAPIClient(g.server)
	if err != nil {
		return err
	}
	fp, err := fetchPoll(ctx, api, id)
	if err != nil {
		return err
	}
	v, err := ledgerVerifier(g.ledgerKey)
	if err != nil {
		return err
	}
	lg, err := downloadLog(ctx, api, id, v)
	if err != nil {
		return err
	}
	if !bytes.Equal(lg.leaves[0].Leaf, fp.view.Definition) {
		return sayf("leaf 0 of poll %q's log is not the poll's definition: the log is tampered.", id)
	}
	if state == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return usageError("no --state and no user config folder: give --state FILE")
		}
		name := base64.RawURLEncoding.EncodeToString([]byte(v.Name()))
		state = filepath.Join(dir, "license", fmt.Sprintf("poll-%s-%08x-%s.checkpoint", name, v.KeyHash(), id))
	}
	if last, err := os.ReadFile(state); err == nil {
		old, err := poll.OpenCheckpoint(last, v, id)
		if err != nil {
			return sayf("the state file %s does not hold a checkpoint of poll %q signed by %s; remove it to start afresh.", state, id, v.Name())
		}
		if !lg.extends(old) {
			return sayf("poll %q's log as the server shows it now does not extend the log of %d leaves verified before: the server forked or rolled it back; do not trust it.", id, old.Size)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return sayf("couldn't read the state file %s (%s).", state, rootCause(err))
	}
	size := len(lg.leaves)
	fmt.Fprintf(stdout, "poll %s: %q, %s; log of %d ballot(s) under a checkpoint signed by %s\n", id, fp.p.Question, fp.view.State, size-1, v.Name())
	if receiptFile != "" {
		if err := checkReceipt(receiptFile, lg, id, v, stdout); err != nil {
			return err
		}
	}
	// The log checks: remember it, whatever the recount says.
	if err := writeState(state, lg.latest); err != nil {
		return sayf("couldn't save the checkpoint to %s (%s).", state, rootCause(err))
	}
	// Whether the ballots must be public follows from the poll's own
	// definition and the clock (this machine's, or the server's when it
	// says the poll closed), not from what the server chose to send.
	if fp.p.HiddenTally && time.Now().Before(fp.p.Closes) && fp.view.State != "closed" {
		if fp.view.Counts != nil {
			return sayf("poll %q hides its tally until %s, yet the server publishes counts %v it does not let anyone recount: do not trust them.", id, fp.p.Closes.Format("2006-01-02 15:04:05 UTC"), fp.view.Counts)
		}
		fmt.Fprintln(stdout, "the tally is hidden until the close: the log checks; recount after", fp.p.Closes.Format("2006-01-02 15:04:05 UTC"))
		return nil
	}
	for _, lv := range lg.leaves[1:] {
		if lv.Leaf == nil {
			return sayf("poll %q's ballots must be public now, but the server withholds ballot %d (its hash only): the tally cannot be recounted; do not trust it.", id, lv.Index)
		}
	}
	l, err := auditLedger(ctx, api, &wallet.LedgerState{}, strings.TrimSpace(g.ledgerKey))
	if err != nil {
		return err
	}
	e, err := readElectorate(ctx, l)
	if err != nil {
		return err
	}
	vf, err := poll.NewVerifier(e)
	if err != nil {
		return err
	}
	rc, err := poll.NewRecount(fp.p, vf)
	if err != nil {
		return err
	}
	var problems []string
	for _, lv := range lg.leaves[1:] {
		b, err := poll.ParseBallot(lv.Leaf)
		if err == nil {
			err = e.SetSize(b.LedgerSize)
		}
		if err == nil {
			err = rc.Add(lv.Index, b)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("ballot %d does not count (%s): %s", lv.Index, codeOfPollErr(err), strings.TrimPrefix(strings.TrimPrefix(err.Error(), "poll: "), "ringverify: ")))
		}
	}
	counts := rc.Counts()
	for i, o := range fp.p.Options {
		fmt.Fprintf(stdout, "  %d. %s: %d\n", i, o, counts[i])
	}
	if fp.view.Counts != nil && !slices.Equal(fp.view.Counts, counts) {
		problems = append(problems, fmt.Sprintf("the published tally %v differs from the recount %v", fp.view.Counts, counts))
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stdout, "FAILED:", p)
		}
		return sayf("poll %q does not recount: %d problem(s); its log or its tally is tampered.", id, len(problems))
	}
	what := "the recount matches the published tally"
	if fp.view.Counts == nil {
		what = "no tally is published yet"
	}
	fmt.Fprintf(stdout, "ok: every ballot checks against the ledger of %d entries, every license voted at most once; %s\n", e.Total(), what)
	return nil
}

func codeOfPollErr(err error) string {
	var c interface{ Code() string }
	if errors.As(err, &c) {
		return c.Code()
	}
	return ringverify.Code(err)
}

// receipt is what 'license vote' writes: the server's answer.
type receipt struct {
	Poll       string           `json:"poll"`
	Index      int64            `json:"index"`
	Leaf       []byte           `json:"leaf"`
	Checkpoint string           `json:"checkpoint"`
	Proof      tlog.RecordProof `json:"proof"`
}

// checkReceipt checks that the ballot of a receipt is in the downloaded log.
func checkReceipt(file string, lg *pollLog, id string, v note.Verifier, stdout io.Writer) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return sayf("couldn't read the receipt %s (%s).", file, rootCause(err))
	}
	var r receipt
	if err := json.Unmarshal(b, &r); err != nil || r.Poll != id || r.Index < 1 {
		return sayf("%s is not a receipt of poll %q written by 'license vote'.", file, id)
	}
	cp, err := poll.OpenCheckpoint([]byte(r.Checkpoint), v, id)
	if err != nil || poll.CheckInclusion(cp, r.Index, r.Leaf, r.Proof) != nil {
		return sayf("the receipt %s does not check against its own signed checkpoint.", file)
	}
	if r.Index >= int64(len(lg.leaves)) || tlog.Hash(lg.leaves[r.Index].LeafHash) != tlog.RecordHash(r.Leaf) {
		return sayf("your ballot (leaf %d) is NOT in poll %q's log as the server shows it now: the log is tampered.", r.Index, id)
	}
	if !lg.extends(cp) {
		return sayf("poll %q's log as the server shows it now does not extend the log your receipt was signed in (size %d): the server forked or rewrote it.", id, cp.Size)
	}
	fmt.Fprintf(stdout, "your ballot is leaf %d of the log, included in the checkpoint of size %d\n", r.Index, len(lg.leaves))
	return nil
}

// runVote is `license vote --poll ID --option N`.
func runVote(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var g accountFlags
	var id, receiptFile string
	var option, ringSize int
	var licenseIndex int64
	_, err := parseVerbFlags("license vote", "--poll ID --option N [--receipt FILE] [flags]", `
Vote in a poll, anonymously: sign the option with a ring proof in scope
"poll/<id>" at counter 0, your license hidden among decoys drawn uniformly
from the poll's electorate (the licenses of its plan in the ledger's first
entries the poll names, valid at the poll's opening, not revoked), read from
the ledger through its signed checkpoint. A license votes once per poll: its
tag in the poll's scope is always the same, and the server refuses a second
ballot with it (already_voted; a ballot is never replaced). The tool picks
a license of the account that is eligible and has not voted (per the
account file and the tags in the poll's public log); --license INDEX picks
one yourself. The receipt (the ballot, its index in the poll's log, the
signed checkpoint and the inclusion proof) is written to --receipt or
standard output; check it later with 'license poll verify ID --receipt FILE'.`, args, stderr, func(fs *flag.FlagSet) {
		g.define(fs)
		fs.StringVar(&id, "poll", "", "the poll's id (required)")
		fs.IntVar(&option, "option", -1, "the option's number, from 0 (required)")
		fs.IntVar(&ringSize, "ring", 0, "the ring size (default: 16, or the poll's minimum if larger)")
		fs.Int64Var(&licenseIndex, "license", -1, "vote with the license at this ledger index (default: the first that may vote)")
		fs.StringVar(&receiptFile, "receipt", "", "write the receipt to this file instead of standard output")
	})
	if err != nil {
		return err
	}
	if id == "" || option < 0 {
		return usageError("give the poll with --poll ID and your choice with --option N (see the server's /polls page).")
	}
	api, err := newAPIClient(g.server)
	if err != nil {
		return err
	}
	fp, err := fetchPoll(ctx, api, id)
	if err != nil {
		return err
	}
	p := fp.p
	if option >= len(p.Options) {
		return usageError(fmt.Sprintf("poll %s has options 0 to %d.", id, len(p.Options)-1))
	}
	if ringSize == 0 {
		ringSize = max(ringverify.DefaultRingSize, p.MinRing)
	}
	if ringSize < p.MinRing || ringSize > ringverify.MaxRingSize {
		return usageError(fmt.Sprintf("poll %s takes rings of %d to %d members.", id, p.MinRing, ringverify.MaxRingSize))
	}
	c, k, unlock, err := g.openAccount(stdin, stderr)
	if err != nil {
		return err
	}
	defer unlock()
	l, err := auditLedger(ctx, api, &c.Ledger, g.ledgerKey)
	if err != nil {
		return err
	}
	v, err := ledgerVerifier(c.Ledger.Key)
	if err != nil {
		return err
	}
	lg, err := downloadLog(ctx, api, id, v)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, lv := range lg.leaves[1:] {
		used[string(lv.Tag)] = true
	}
	e, err := readElectorate(ctx, l)
	if err != nil {
		return err
	}
	scope := p.Scope()
	// The license: eligible (plan, valid at the opening, not revoked, as
	// the ledger says) and, unless chosen, not yet voted.
	var lic *wallet.License
	var why string
	for i := range c.Licenses {
		cand := &c.Licenses[i]
		if licenseIndex >= 0 && cand.Index != uint64(licenseIndex) {
			continue
		}
		m, err := e.Member(cand.Index)
		switch {
		case cand.Index >= p.Electorate:
			why = fmt.Sprintf("license %d was minted after the poll was made (its electorate is the ledger's first %d entries)", cand.Index, p.Electorate)
			continue
		case err != nil:
			why = fmt.Sprintf("license %d is not on the ledger the server signed", cand.Index)
			continue
		case !p.Eligible(m.Plan):
			why = fmt.Sprintf("license %d is of plan %q; this poll lets %s vote", cand.Index, m.Plan, strings.Join(p.Plans, ", "))
			continue
		case m.State != ringverify.Active:
			why = fmt.Sprintf("license %d is revoked", cand.Index)
			continue
		case p.Opens.Before(m.NotBefore) || !p.Opens.Before(m.NotAfter):
			why = fmt.Sprintf("license %d was not valid when the poll opened (%s)", cand.Index, p.Opens.Format("2006-01-02 15:04 UTC"))
			continue
		}
		if licenseIndex < 0 {
			tag, err := tagOf(cand, scope, 0)
			if err != nil {
				return sayf("the account file holds an invalid license secret; restore it from the seed phrase and scan again.")
			}
			if c.NextCounter(cand.Index, scope) > 0 || used[string(tag)] {
				why = fmt.Sprintf("license %d has voted in this poll", cand.Index)
				continue
			}
		}
		lic = cand
		break
	}
	if lic == nil {
		switch {
		case licenseIndex >= 0 && why == "":
			return sayf("the account holds no license at ledger index %d; see 'license list'.", licenseIndex)
		case len(c.Licenses) == 0:
			return sayf("the account holds no license; buy one, then run 'license scan'.")
		}
		return sayf("no license of this account may vote in poll %s (the last reason: %s).", id, why)
	}
	m, _ := e.Member(lic.Index)
	eligible := e.Eligible(p, m.Plan)
	ring, pi, err := ringFor(lic.Secret, scope, 0, eligible, lic.Index, ringSize)
	if err != nil {
		return sayf("only %d licenses may vote in poll %s with your plan, too few for a ring of %d; use a smaller --ring (at least %d).", len(eligible), id, ringSize, p.MinRing)
	}
	keys := make([]*ristretto255.Element, len(ring))
	for i, idx := range ring {
		m, _ := e.Member(idx)
		if keys[i], err = ristretto255.NewIdentityElement().SetCanonicalBytes(m.Key[:]); err != nil {
			return sayf("ledger entry %d holds an invalid key; the ledger is broken.", idx)
		}
	}
	if !bytes.Equal(keys[pi].Bytes(), lic.Key) {
		return sayf("your license's key differs from the ledger's entry %d; run 'license scan' again.", lic.Index)
	}
	x, err := ristretto255.NewScalar().SetCanonicalBytes(lic.Secret)
	if err != nil {
		return sayf("the account file holds an invalid license secret; restore it from the seed phrase and scan again.")
	}
	msg := poll.Message(fp.hash, option)
	proof, err := ringverify.Sign(rand.Reader, x, keys, pi, scope, 0, msg)
	if err != nil {
		return sayf("couldn't sign (%s).", ringverify.Code(err))
	}
	body, _ := json.Marshal(poll.NewRequest(option, ring, proof))
	answer, code, err := postBallot(ctx, api, id, body)
	// Once the server holds a ballot of this license, its vote in this poll
	// is spent: the account file says so, so the license is not picked
	// again. (A refused ballot, say before the opening, spends nothing: a
	// second signature with the same tag reveals nothing more than the tag.)
	if err == nil || code == "already_voted" {
		c.SetNextCounter(lic.Index, scope, 1)
		if serr := g.save(k, c); serr != nil && err == nil {
			err = serr
		}
	}
	if err != nil {
		return err
	}
	var r receipt
	if err := json.Unmarshal(answer, &r); err != nil {
		return sayf("the server's answer to the ballot is not a receipt.")
	}
	r.Poll = id
	cp, err := poll.OpenCheckpoint([]byte(r.Checkpoint), v, id)
	if err != nil || poll.CheckInclusion(cp, r.Index, r.Leaf, r.Proof) != nil {
		return sayf("the server took the ballot but its receipt does not check against the ledger key: keep this output and ask the operator.")
	}
	b, err := poll.ParseBallot(r.Leaf)
	if err != nil || b.Option != option || !bytes.Equal(b.Proof, proof.Bytes()) || b.PollHash != fp.hash {
		return sayf("the server's receipt holds another ballot than the one sent: do not trust this server's poll.")
	}
	js, _ := json.MarshalIndent(&r, "", "  ")
	js = append(js, '\n')
	if receiptFile != "" {
		if err := os.WriteFile(receiptFile, js, 0o600); err != nil {
			return sayf("couldn't write the receipt to %s (%s).", receiptFile, rootCause(err))
		}
	} else if _, err := stdout.Write(js); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "Voted %d (%s) in poll %s with a ring of %d; the ballot is leaf %d of the poll's log.\n", option, p.Options[option], id, ringSize, r.Index)
	return nil
}

// postBallot sends a ballot; 201 gives the receipt, anything else is a
// refusal explained in a sentence, with the server's code.
func postBallot(ctx context.Context, api *apiClient, id string, body []byte) (receipt []byte, code string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api.base+"/v1/polls/"+id+"/ballots", bytes.NewReader(body))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := api.http.Do(req)
	if err != nil {
		return nil, "", sayf("couldn't reach the server at %s (%s).", api.base, rootCause(err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, "", sayf("the connection to the server at %s broke (%s).", api.base, rootCause(err))
	}
	if resp.StatusCode != http.StatusCreated {
		r := &refusal{Status: resp.StatusCode}
		json.Unmarshal(b, r)
		return nil, r.Code, sayf("the ballot was refused: %s", refusalSentence(r))
	}
	return b, "", nil
}
