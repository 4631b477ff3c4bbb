package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gtank/ristretto255"

	"github.com/licensed/licensed/issuer/wallet"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/relay"
	"github.com/licensed/licensed/ringverify"
)

// The wire format is the server's own (package admission): one definition
// of the request and of the proof-of-work hash for both sides.
type (
	admitRequest = admission.Request
	powStamp     = admission.PoW
	validList    = relay.ValidList
)

// maxMessage is the longest message the admission endpoint takes.
const maxMessage = admission.MaxMessageSize

// solvePoW finds a nonce whose hash has at least difficulty leading zero
// bits, counting up from a random nonce. The work is bound to scope (network
// and day): the server refuses it in any other.
func solvePoW(ctx context.Context, scope string, message, tag []byte, timestamp int64, difficulty int) (*powStamp, error) {
	var start [8]byte
	if _, err := rand.Read(start[:]); err != nil {
		return nil, err
	}
	return admission.SolvePoW(ctx, scope, message, tag, timestamp, difficulty, binary.BigEndian.Uint64(start[:]))
}

// checkValidList refuses a list of valid licenses much shorter than the
// census of the ledger says it should be. A server could otherwise hand one
// client a short list of its choosing, so that the client's rings stand out
// or are made of licenses whose owners the issuer still knows. Suspensions
// and revocations legitimately shorten the list, hence the margin (a tenth,
// plus a ring's worth).
func checkValidList(plan string, listed int, census uint64) error {
	const slack = ringverify.DefaultRingSize
	if census > slack && uint64(listed) < census-census/10-slack {
		return sayf("the server lists only %d valid %q licenses where the ledger holds %d: the list may be made up for you, so no proof was made; try again later or ask the operator.", listed, plan, census)
	}
	return nil
}

// chooseLicense returns the license to prove with and its counter: valid
// at now, not revoked, of plan (if set), with a counter left in scope; the
// one with the most counters left, then the lowest index. next returns the
// first unused counter of a license in scope.
func chooseLicense(c *wallet.Contents, plan, scope string, now time.Time, next func(l *wallet.License) (uint32, error)) (*wallet.License, uint32, error) {
	var best *wallet.License
	var bestLeft int64
	var bestNext uint32
	var sawPlan, sawValid bool
	for i := range c.Licenses {
		l := &c.Licenses[i]
		if plan != "" && l.Plan != plan {
			continue
		}
		sawPlan = true
		if licenseState(l, now) != "valid" {
			continue
		}
		sawValid = true
		j, err := next(l)
		if err != nil {
			return nil, 0, err
		}
		left := int64(l.DailyQuota) - int64(j)
		if left > bestLeft {
			best, bestLeft, bestNext = l, left, j
		}
	}
	switch {
	case best != nil:
		return best, bestNext, nil
	case len(c.Licenses) == 0:
		return nil, 0, sayf("the account holds no license; buy one, then run 'license scan'.")
	case !sawPlan:
		return nil, 0, sayf("the account holds no license of plan %q; see 'license list'.", plan)
	case !sawValid:
		return nil, 0, sayf("none of the account's licenses is valid now (expired, not yet valid or revoked); see 'license list'.")
	}
	return nil, 0, sayf("every valid license of the account has used its whole daily quota in scope %q (as this account file and the server's filter of used tags say); wait for the next day's scope.", scope)
}

// scopeDay returns the UTC day of a scope "<network>/<YYYY-MM-DD>".
func scopeDay(scope string) (time.Time, bool) {
	i := strings.LastIndexByte(scope, '/')
	if i < 1 {
		return time.Time{}, false
	}
	d, err := time.Parse(time.DateOnly, scope[i+1:])
	return d, err == nil
}

func runProve(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var g accountFlags
	var scope, message, plan, out string
	var ringSize, powBits int
	var free bool
	_, err := parseVerbFlags("license prove", "--scope S --message HEX [--ring 16] [--plan P] [flags]", `
Make a ring proof that some valid license signed a message (a data block
hash), without saying which: your license hides among decoys drawn uniformly
from the server's list of valid licenses of its plan. Each license makes its
daily quota of proofs per scope, with counters numbered from 0. The next
counter unused by this account file, and absent from the server's public
filter of the scope's used tags (so a restored account skips what it used
before), is taken and recorded in the account file before the proof is
printed. The ring is drawn from a secret hash of the license, scope and
counter: proving the same counter again shows relays the same ring. The ring
keys are read from the ledger's tiles and checked against its signed
checkpoint. The scope must be today's (UTC).

With --free and --pow-bits D, no license is used: the request carries only a
proof of work, which a server with a free tier admits as plan "free" when D is
at least its free-tier difficulty. No account file is needed.

The output is the JSON body of POST /v1/admit; send it with 'license admit'.`, args, stderr, func(fs *flag.FlagSet) {
		g.define(fs)
		fs.StringVar(&scope, "scope", "", "the scope, \"<network>/<YYYY-MM-DD>\" of today, UTC (required)")
		fs.StringVar(&message, "message", "", "the message to sign, in hex, 1 to 1024 bytes (required)")
		fs.IntVar(&ringSize, "ring", ringverify.DefaultRingSize, "the ring size, as the server accepts it")
		fs.StringVar(&plan, "plan", "", "prove with a license of this plan (default: any valid license)")
		fs.IntVar(&powBits, "pow-bits", 0, "add a proof of work of this many leading zero bits, if the server asks for one")
		fs.StringVar(&out, "out", "", "write the proof to this file instead of standard output")
		fs.BoolVar(&free, "free", false, "make a free-tier request: a proof of work only (needs --pow-bits)")
	})
	if err != nil {
		return err
	}
	if scope == "" || len(scope) > ringverify.MaxScopeSize {
		return usageError("give the scope with --scope, for example --scope dev/" + time.Now().UTC().Format(time.DateOnly) + ".")
	}
	msg, err := hex.DecodeString(message)
	if err != nil || len(msg) == 0 || len(msg) > maxMessage {
		return usageError("give the message with --message as 1 to 1024 bytes in hex.")
	}
	if ringSize < 2 || ringSize > ringverify.MaxRingSize {
		return usageError(fmt.Sprintf("the ring size must be between 2 and %d.", ringverify.MaxRingSize))
	}
	if powBits < 0 || powBits > 40 {
		return usageError("--pow-bits must be between 0 and 40.")
	}
	if free {
		if powBits == 0 {
			return usageError("a free-tier request needs a proof of work: give --pow-bits, at least the server's free-tier difficulty.")
		}
		req := admitRequest{Scope: scope, Message: msg}
		if req.PoW, err = solvePoW(ctx, scope, msg, nil, time.Now().Unix(), powBits); err != nil {
			return sayf("the proof of work was interrupted.")
		}
		return writeProof(&req, out, stdout, stderr, fmt.Sprintf("Wrote a free-tier request with a %d-bit proof of work in scope %s", powBits, scope))
	}
	now := time.Now()
	if err := checkScopeCurrent(scope, now); err != nil {
		return err
	}
	api, err := newAPIClient(g.server)
	if err != nil {
		return err
	}
	c, k, unlock, err := g.openAccount(stdin, stderr)
	if err != nil {
		return err
	}
	defer unlock()
	// The server's filter of the tags used in the scope: counters another
	// copy of this account (an older file, another device, a restore from
	// the seed phrase) already spent are skipped.
	filter, err := api.tagFilter(ctx, scope)
	if err != nil {
		return err
	}
	lic, counter, err := chooseLicense(c, plan, scope, now, func(l *wallet.License) (uint32, error) {
		return firstFreeCounter(c, l, scope, filter)
	})
	if err != nil {
		return err
	}
	skipped := counter - c.NextCounter(lic.Index, scope)
	var valid validList
	if err := api.getJSON(ctx, "/v1/licenses/valid?plan="+url.QueryEscape(lic.Plan), &valid); err != nil {
		return err
	}
	seen := make(map[uint64]bool, len(valid.Indices))
	for _, v := range valid.Indices {
		if seen[v] {
			return sayf("the server's list of valid licenses repeats index %d; it is broken.", v)
		}
		seen[v] = true
	}
	day := dayNumber(now)
	if at, err := time.Parse(time.DateOnly, valid.At); err == nil {
		day = dayNumber(at)
	}
	if err := checkValidList(lic.Plan, len(valid.Indices), c.CensusValid(lic.Plan, day)); err != nil {
		return err
	}
	if !seen[lic.Index] {
		return sayf("the server does not list your license %d as valid: it is too new for the list (wait a minute), or suspended or revoked (run 'license scan', or quote its receipt to the issuer).", lic.Index)
	}
	ring, pi, err := ringFor(lic.Secret, scope, counter, valid.Indices, lic.Index, ringSize)
	if err != nil {
		return sayf("plan %q has only %d valid licenses, too few for a ring of %d; use a smaller --ring if the server accepts it.", lic.Plan, len(valid.Indices), ringSize)
	}
	l, err := auditLedger(ctx, api, &c.Ledger, g.ledgerKey)
	if err != nil {
		return err
	}
	entries, err := l.entriesAt(ctx, ring)
	if err != nil {
		return err
	}
	keys := make([]*ristretto255.Element, len(ring))
	for i, idx := range ring {
		e, ok := entries[idx].(*ledger.LicenseEntry)
		if !ok || e.Plan != lic.Plan || day < dayNumber(e.NotBefore) || day >= dayNumber(e.NotAfter) {
			return sayf("the server lists ledger entry %d as a %q license valid today, but the ledger says otherwise; it is broken.", idx, lic.Plan)
		}
		keys[i], err = ristretto255.NewIdentityElement().SetCanonicalBytes(e.P[:])
		if err != nil {
			return sayf("ledger entry %d holds an invalid key; the ledger is broken.", idx)
		}
	}
	if string(keys[pi].Bytes()) != string(lic.Key) {
		return sayf("your license's key differs from the ledger's entry %d; run 'license scan' again.", lic.Index)
	}
	x, err := ristretto255.NewScalar().SetCanonicalBytes(lic.Secret)
	if err != nil {
		return sayf("the account file holds an invalid license secret; restore it from the seed phrase and scan again.")
	}
	// Record the counter before anything is printed, so it is never used for
	// two messages (a retry of the same message is the server's to accept).
	c.SetNextCounter(lic.Index, scope, counter+1)
	if day, ok := scopeDay(scope); ok {
		c.PruneUses(func(s string) bool {
			d, ok := scopeDay(s)
			return !ok || !d.Before(day.AddDate(0, 0, -2))
		})
	}
	if err := g.save(k, c); err != nil {
		return err
	}
	proof, err := ringverify.Sign(rand.Reader, x, keys, pi, scope, counter, msg)
	if err != nil {
		return sayf("couldn't sign (%s).", ringverify.Code(err))
	}
	if err := ringverify.Verify(keys, scope, counter, msg, proof); err != nil {
		return sayf("the proof just made does not verify (%s); this is a bug.", ringverify.Code(err))
	}
	b := proof.Bytes()
	req := admitRequest{Scope: scope, Counter: counter, Message: msg, Ring: ring, Tag: b[:ringverify.ElementSize], Signature: b[ringverify.ElementSize:]}
	if powBits > 0 {
		if req.PoW, err = solvePoW(ctx, scope, msg, req.Tag, time.Now().Unix(), powBits); err != nil {
			return sayf("the proof of work was interrupted.")
		}
	}
	if skipped > 0 {
		fmt.Fprintf(stderr, "Skipped %d counter(s) of license %d already used in scope %s (the server's filter of used tags lists them).\n", skipped, lic.Index, scope)
	}
	return writeProof(&req, out, stdout, stderr, fmt.Sprintf("Wrote a proof with counter %d (this license's counters run from 0 to %d in each scope) in scope %s, ring of %d", counter, lic.DailyQuota-1, scope, ringSize))
}

// writeProof writes req as JSON to the file out, saying what on stderr, or
// to stdout when out is empty.
func writeProof(req *admitRequest, out string, stdout, stderr io.Writer, what string) error {
	js, err := json.MarshalIndent(req, "", "  ")
	if err != nil {
		return err
	}
	js = append(js, '\n')
	if out != "" {
		if err := os.WriteFile(out, js, 0o600); err != nil {
			return sayf("couldn't write the proof to %s (%s).", out, rootCause(err))
		}
		fmt.Fprintf(stderr, "%s, to %s.\n", what, out)
		return nil
	}
	_, err = stdout.Write(js)
	return err
}
