package main

import (
	"context"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/ledger/poll"
	"github.com/licensed/licensed/ledger/poll/pgpoll"
	"github.com/licensed/licensed/web"
)

// openPolls wires the polls (package ledger/poll/pgpoll): a license index
// of their own, kept current by following the ledger, and the store, whose
// logs are signed with the ledger key. Ballots are limited per client as
// admission proofs are.
func (m *Main) openPolls(ctx context.Context, deps *web.Deps) error {
	cfg := &m.Config
	index := ledger.NewIndex()
	store := pgledger.NewStore(m.DB)
	if err := index.Sync(ctx, store); err != nil {
		return fmt.Errorf("couldn't load the license index for polls: %w", err)
	}
	polls, err := pgpoll.New(m.DB, m.LedgerSigner, index)
	if err != nil {
		return err
	}
	bg, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { index.Follow(bg, store, 500*time.Millisecond, m.Log); close(done) }()
	m.closers = append(m.closers, func() { stop(); <-done })
	deps.Polls = &web.PollDeps{Store: polls, BallotLimit: web.RateLimit{PerSecond: cfg.AdmitRate, Burst: cfg.AdmitBurst}}
	return nil
}

// listFlag is a flag that may be given several times.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ", ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

const pollUsage = `usage: licensed poll new --id ID --question Q --option A --option B ... --plan P [--opens T] --closes T [flags]

Creates a poll: one anonymous vote per license of the plans named, valid
when the poll opens and on the ledger when it is created (--electorate N:
the ledger's first N entries), from --opens to --closes (RFC 3339 times,
UTC; or --closes-in 72h). The definition is fixed once created: it is leaf 0 of the
poll's own log, a C2SP transparency log signed with the ledger key under the
origin "<ledger origin>/poll/<id>", and its hash is printed and published
at /v1/polls/ID. With --hidden-tally, counts and ballots stay unpublished
until the close (the server still sees them). Voting closes by time only;
block heights are not supported.
`

// runPoll is `licensed poll new`.
func runPoll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "new" {
		fmt.Fprint(stderr, pollUsage)
		return usageError("say 'licensed poll new --id ID ...'")
	}
	var cfg Config
	var p poll.Poll
	var options, plans listFlag
	var opens, closes string
	var closesIn time.Duration
	if _, err := parseFlags("poll new", args[1:], stderr, func(fs *flag.FlagSet) {
		cfg.register(fs, false)
		fs.StringVar(&p.ID, "id", "", "the poll's id: a-z, 0-9 and '-', at most 63 (required)")
		fs.StringVar(&p.Question, "question", "", "the question (required)")
		fs.Var(&options, "option", "an option; give 2 to 64, in order (numbered from 0)")
		fs.Var(&plans, "plan", "a plan whose licenses may vote; give 1 to 16")
		fs.StringVar(&opens, "opens", "", "when voting opens, RFC 3339 (default: now); the electorate is the licenses valid then")
		fs.StringVar(&closes, "closes", "", "when voting closes, RFC 3339")
		fs.DurationVar(&closesIn, "closes-in", 0, "voting closes this long after it opens (instead of --closes)")
		fs.BoolVar(&p.HiddenTally, "hidden-tally", false, "publish the counts and ballots only after the close")
		fs.IntVar(&p.MinRing, "min-ring", poll.DefaultMinRing, "the smallest ring a ballot may use, 11 to 1024")
		fs.Uint64Var(&p.Electorate, "electorate", 0, "voters are licenses among the ledger's first N entries (default: every entry now; licenses minted later do not vote)")
	}); err != nil {
		return err
	}
	p.Options, p.Plans = options, plans
	p.Opens = time.Now()
	if opens != "" {
		t, err := time.Parse(time.RFC3339, opens)
		if err != nil {
			return usageError("--opens must be an RFC 3339 time, e.g. 2026-12-01T12:00:00Z")
		}
		p.Opens = t
	}
	switch {
	case closes != "" && closesIn != 0:
		return usageError("give --closes or --closes-in, not both")
	case closes != "":
		t, err := time.Parse(time.RFC3339, closes)
		if err != nil {
			return usageError("--closes must be an RFC 3339 time, e.g. 2026-12-08T12:00:00Z")
		}
		p.Closes = t
	case closesIn > 0:
		p.Closes = p.Opens.Add(closesIn)
	default:
		return usageError("give when voting closes: --closes TIME or --closes-in DURATION")
	}
	p.Normalize()
	electorate := p.Electorate
	if electorate == 0 {
		p.Electorate = 1 // checked below, once the ledger is read
	}
	if err := p.Check(); err != nil {
		return usageError(strings.TrimPrefix(err.Error(), "poll: "))
	}
	stopDev, err := cfg.useDevDatabase(ctx)
	if err != nil {
		return err
	}
	defer stopDev()
	signer, _, err := loadLedgerKey(cfg.ledgerKeyFile(), cfg.LedgerOrigin, false)
	if err != nil {
		return err
	}
	db, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("bad database URL: %w", err)
	}
	defer db.Close()
	cp, err := pgledger.NewStore(db).Latest(ctx)
	if err != nil {
		return fmt.Errorf("couldn't read the ledger's size: %w", err)
	}
	switch {
	case electorate == 0 && cp.Size == 0:
		return usageError("the ledger is empty: no license could vote; mint licenses first")
	case electorate == 0:
		p.Electorate = uint64(cp.Size)
	case electorate > uint64(cp.Size):
		return usageError(fmt.Sprintf("--electorate %d is beyond the ledger's %d entries", electorate, cp.Size))
	}
	store, err := pgpoll.New(db, signer, nil)
	if err != nil {
		return err
	}
	st, err := store.Create(ctx, &p)
	if err != nil {
		if c, ok := err.(interface{ Code() string }); ok && c.Code() == "poll_exists" {
			return usageError(fmt.Sprintf("a poll %q exists already: choose another --id", p.ID))
		}
		return err
	}
	signed, _, err := store.Latest(ctx, p.ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "poll %s created: %q, %d options, plans %s, open %s to %s, electorate the ledger's first %d entries\nhash %s\nscope %s\ncheckpoint:\n%s",
		p.ID, p.Question, len(p.Options), strings.Join(p.Plans, ", "), p.Opens.Format(time.RFC3339), p.Closes.Format(time.RFC3339),
		p.Electorate, hex.EncodeToString(st.Hash[:]), p.Scope(), signed)
	return nil
}
