// Package cosigning gets the license ledger's checkpoints cosigned by
// independent witnesses (C2SP tlog-witness) and keeps their cosignatures,
// so the server can serve each checkpoint as a note signed by the log and
// by its witnesses. A witness cosigns a checkpoint only after checking that
// it extends every checkpoint of the log the witness cosigned before; a
// client that requires a quorum of witnesses (ledger/tlogclient with a
// policy) therefore sees the one history those witnesses saw: the server
// cannot show one history to some clients and another to others (a split
// view) without the witnesses refusing it.
//
// # Use it
//
//	c, err := cosigning.New(db, led.Store(), cosigning.Config{Policy: policy, Log: log})
//	go c.Run(ctx)                       // beside the sequencer; never blocks it
//	note, ok, err := c.Served(ctx)      // what /ledger/checkpoint serves
//
// # What it does
//
// Run watches the log's latest checkpoint (the sequencer's ledger_round
// notifications, and a poll every second). For each witness of the policy
// that has a URL, one goroutine submits the latest checkpoint with
// POST <url>/add-checkpoint, a body "old <size>", the RFC 6962 consistency
// proof from the size the witness last cosigned to the checkpoint's (built
// from the stored hashes), an empty line, and the signed checkpoint. The
// size the witness last cosigned is the largest this log holds a
// cosignature of from it, else 0; a 409 answer tells the right one, and the
// request is made again once at once. A 200 answer's cosignature lines are
// parsed and checked against the witness's key (from the policy) before
// they are stored (table ledger_cosignatures, append-only). Only the latest
// checkpoint is submitted: a witness that was down catches up in one
// request. Any other answer, or no answer within 10 s, is retried with
// exponential backoff from 1 s to Config.MaxBackoff (5 min by default),
// with jitter; a 422 (the witness saw another history of this log) is
// logged as an error, for it means the log was rewritten or a split view
// was attempted. Nothing of this touches the sequencer: rounds commit
// whatever the witnesses do.
//
// Served returns the newest checkpoint whose stored cosignatures satisfy the
// policy's quorum, with its note followed by those cosignature lines
// (sorted by key name): a C2SP note with several signatures. No newer
// checkpoint is served before the witnesses cosign it, so clients never see
// a checkpoint a quorum of witnesses has not; under "quorum none" it is the
// latest checkpoint with whatever cosignatures it has.
//
// Status reports per witness what was submitted and how it went, for
// metrics.
package cosigning

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/witness"
)

// Config configures a Cosigner.
type Config struct {
	// Policy lists the witnesses (those with a URL are submitted to) and
	// the quorum a checkpoint needs to be served. Required.
	Policy *witness.Policy
	// HTTP is the client for witnesses (default: 10 s timeout per request).
	HTTP *http.Client
	// MaxBackoff bounds the wait between retries to a failing witness
	// (default 5 min).
	MaxBackoff time.Duration
	// Log receives what goes wrong (default: discarded).
	Log *slog.Logger
}

// Cosigner submits checkpoints to witnesses and serves cosigned ones.
type Cosigner struct {
	db    *pgxpool.Pool
	store ledger.Store
	cfg   Config
	ws    []*state

	mu     sync.Mutex
	latest ledger.StoredCheckpoint

	// served keeps Served's answer for servedFor: every request for the
	// checkpoint in that window shares one read of the database.
	servedMu   sync.Mutex
	servedAt   time.Time
	servedNote []byte
	servedOK   bool
}

// servedFor is how long Served reuses its answer. /ledger/checkpoint is
// cached 5 s by clients and proxies anyway; a second here bounds what a
// crowd of readers costs the database to one query a second per process.
const servedFor = time.Second

// Results of a submission, as Status counts them.
const (
	ResultCosigned    = "cosigned"    // 200, cosignature verified and stored
	ResultConflict    = "conflict"    // 409, the witness's size learnt
	ResultRefused     = "refused"     // 422, the witness saw another history
	ResultUnknownLog  = "unknown_log" // 403 or 404: the witness does not know the log or its key
	ResultUnreachable = "unreachable" // no answer
	ResultError       = "error"       // any other answer, or a bad cosignature
)

// WitnessStatus is what happened with one witness.
type WitnessStatus struct {
	Name string // the policy's name
	URL  string
	// CosignedSize is the size of the newest checkpoint it cosigned for
	// this server (-1 before it answered).
	CosignedSize int64
	LastCosigned time.Time
	// LastError is the last failure, cleared by the next cosignature.
	LastError   string
	LastErrorAt time.Time
	// Submissions counts submissions by result (the Result constants).
	Submissions map[string]uint64
	// Latency is the time from when the checkpoint was seen to its
	// cosignature being stored, in LatencyBuckets (seconds, cumulative
	// upper bounds as Prometheus has them), with its sum and count.
	Latency      []uint64
	LatencySum   float64
	LatencyCount uint64
}

// LatencyBuckets are the upper bounds (seconds) of WitnessStatus.Latency.
var LatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

type state struct {
	w    *witness.PolicyWitness
	wake chan struct{}

	mu     sync.Mutex
	size   int64 // the witness's size as far as known; -1 unknown
	status WitnessStatus
}

// New returns a Cosigner of the log in store, keeping cosignatures in db.
func New(db *pgxpool.Pool, store ledger.Store, cfg Config) (*Cosigner, error) {
	if cfg.Policy == nil {
		return nil, errors.New("cosigning: a policy is required")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Cosigner{db: db, store: store, cfg: cfg}
	for _, w := range cfg.Policy.Witnesses {
		if w.URL == "" {
			continue
		}
		c.ws = append(c.ws, &state{w: w, wake: make(chan struct{}, 1), size: -1, status: WitnessStatus{
			Name: w.Name, URL: w.URL, CosignedSize: -1, Submissions: map[string]uint64{},
			Latency: make([]uint64, len(LatencyBuckets)),
		}})
	}
	return c, nil
}

// Status returns the state of every witness submitted to, in policy order.
func (c *Cosigner) Status() []WitnessStatus {
	out := make([]WitnessStatus, len(c.ws))
	for i, s := range c.ws {
		s.mu.Lock()
		st := s.status
		st.Submissions = make(map[string]uint64, len(s.status.Submissions))
		for k, v := range s.status.Submissions {
			st.Submissions[k] = v
		}
		st.Latency = slices.Clone(s.status.Latency)
		s.mu.Unlock()
		out[i] = st
	}
	return out
}

// Run submits checkpoints until ctx ends; it returns ctx's error.
func (c *Cosigner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, s := range c.ws {
		wg.Go(func() { c.runWitness(ctx, s) })
	}
	c.watch(ctx)
	wg.Wait()
	return ctx.Err()
}

// watch follows the latest checkpoint and wakes the witnesses when it
// changes: on the sequencer's notification, or every second.
func (c *Cosigner) watch(ctx context.Context) {
	// The listening connection is taken out of the pool (as the
	// sequencer's is), so it never holds one of the pool's.
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for ctx.Err() == nil {
		if conn == nil {
			if pc, err := c.db.Acquire(ctx); err == nil {
				cn := pc.Hijack()
				if _, err := cn.Exec(ctx, "listen ledger_round"); err == nil {
					conn = cn
				} else {
					cn.Close(context.Background())
				}
			}
		}
		c.refresh(ctx)
		if conn != nil {
			wctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err := conn.WaitForNotification(wctx)
			cancel()
			if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
				conn.Close(context.Background()) // a broken connection: make another
				conn = nil
			}
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// refresh reads the latest checkpoint and wakes the witnesses if it is new.
func (c *Cosigner) refresh(ctx context.Context) {
	cp, err := c.store.Latest(ctx)
	if err != nil || cp.Note == nil {
		return
	}
	c.mu.Lock()
	changed := cp.Size != c.latest.Size || c.latest.Note == nil
	if changed {
		c.latest = cp
	}
	c.mu.Unlock()
	if changed {
		for _, s := range c.ws {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (c *Cosigner) runWitness(ctx context.Context, s *state) {
	var backoff time.Duration
	var seen time.Time // when the checkpoint being submitted was first seen
	var seenSize int64 = -1
	for {
		var wait <-chan time.Time
		if backoff > 0 {
			// Full jitter between half and all of the backoff.
			wait = time.After(backoff/2 + rand.N(backoff/2+1))
		}
		if wait != nil {
			select {
			case <-ctx.Done():
				return
			case <-wait:
			}
		} else {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			}
		}
		c.mu.Lock()
		cp := c.latest
		c.mu.Unlock()
		if cp.Note == nil {
			continue
		}
		if cp.Size != seenSize {
			seen, seenSize = time.Now(), cp.Size
		}
		s.mu.Lock()
		done := s.status.CosignedSize == cp.Size
		s.mu.Unlock()
		if done {
			backoff = 0
			continue
		}
		err := c.submit(ctx, s, cp, seen)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			backoff = 0
			continue
		}
		s.mu.Lock()
		s.status.LastError, s.status.LastErrorAt = err.Error(), time.Now()
		s.mu.Unlock()
		backoff = min(max(2*backoff, time.Second), c.cfg.MaxBackoff)
		lvl := slog.LevelWarn
		var re *refusedError
		if errors.As(err, &re) {
			lvl = slog.LevelError
		}
		c.cfg.Log.Log(ctx, lvl, "cosigning: witness failed; retrying", "witness", s.w.Name, "size", cp.Size, "retry_in", backoff.String(), "err", err)
	}
}

// refusedError is a 422: the witness holds another history of the log.
type refusedError struct{ msg string }

func (e *refusedError) Error() string { return e.msg }

func (s *state) count(result string) {
	s.mu.Lock()
	s.status.Submissions[result]++
	s.mu.Unlock()
}

// submit sends cp to the witness, learning its size from a 409 once.
func (c *Cosigner) submit(ctx context.Context, s *state, cp ledger.StoredCheckpoint, seen time.Time) error {
	s.mu.Lock()
	old := s.size
	s.mu.Unlock()
	if old < 0 {
		var err error
		if old, err = c.lastCosigned(ctx, s.w.Verifier); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		status, body, err := c.post(ctx, s, old, cp)
		if err != nil {
			s.count(ResultUnreachable)
			return err
		}
		switch status {
		case http.StatusOK:
			if err := c.keep(ctx, s, cp, body); err != nil {
				s.count(ResultError)
				return err
			}
			s.count(ResultCosigned)
			d := time.Since(seen).Seconds()
			s.mu.Lock()
			s.size = cp.Size
			s.status.CosignedSize, s.status.LastCosigned, s.status.LastError = cp.Size, time.Now(), ""
			for i, b := range LatencyBuckets {
				if d <= b {
					s.status.Latency[i]++
				}
			}
			s.status.LatencySum += d
			s.status.LatencyCount++
			s.mu.Unlock()
			return nil
		case http.StatusConflict:
			s.count(ResultConflict)
			n, err := witness.ParseConflict(body)
			if err != nil {
				return fmt.Errorf("cosigning: %s answered 409 with %q: %w", s.w.Name, body, err)
			}
			s.mu.Lock()
			s.size = n
			s.mu.Unlock()
			if n > cp.Size {
				return &refusedError{fmt.Sprintf("cosigning: %s has cosigned a checkpoint of size %d, larger than this log's %d: the log was rolled back, or another log uses its origin", s.w.Name, n, cp.Size)}
			}
			if attempt > 0 {
				return fmt.Errorf("cosigning: %s answered 409 twice (its size is now %d)", s.w.Name, n)
			}
			old = n
		case http.StatusUnprocessableEntity:
			s.count(ResultRefused)
			return &refusedError{fmt.Sprintf("cosigning: %s refused the checkpoint of size %d (422: %s): the proof from its size %d does not verify, so it has seen another history of this log", s.w.Name, cp.Size, firstLine(body), old)}
		case http.StatusForbidden, http.StatusNotFound:
			s.count(ResultUnknownLog)
			return fmt.Errorf("cosigning: %s does not know this log or its key (%d: %s): register the log's origin and verifier key with the witness", s.w.Name, status, firstLine(body))
		default:
			s.count(ResultError)
			return fmt.Errorf("cosigning: %s answered %d: %s", s.w.Name, status, firstLine(body))
		}
	}
}

func firstLine(b []byte) string {
	l, _, _ := strings.Cut(string(b), "\n")
	if len(l) > 200 {
		l = l[:200]
	}
	return l
}

// post sends one add-checkpoint request.
func (c *Cosigner) post(ctx context.Context, s *state, old int64, cp ledger.StoredCheckpoint) (int, []byte, error) {
	req := witness.AddCheckpoint{OldSize: old, Checkpoint: cp.Note}
	if old > cp.Size {
		return 0, nil, fmt.Errorf("cosigning: %s is at size %d, beyond this log's %d", s.w.Name, old, cp.Size)
	}
	if old > 0 && old < cp.Size {
		p, err := ledger.ProveConsistency(ctx, c.store, old, cp.Size)
		if err != nil {
			return 0, nil, fmt.Errorf("cosigning: couldn't prove %d → %d: %w", old, cp.Size, err)
		}
		req.Proof = p
	}
	body, err := req.MarshalText()
	if err != nil {
		return 0, nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(s.w.URL, "/")+"/add-checkpoint", bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("cosigning: %w", err)
	}
	hr.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := c.cfg.HTTP.Do(hr)
	if err != nil {
		return 0, nil, fmt.Errorf("cosigning: %s: %w", s.w.Name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, witness.MaxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("cosigning: %s: %w", s.w.Name, err)
	}
	return resp.StatusCode, b, nil
}

// keep checks the witness's cosignature of cp and stores it.
func (c *Cosigner) keep(ctx context.Context, s *state, cp ledger.StoredCheckpoint, body []byte) error {
	cs, err := witness.ParseCosignatures(body)
	if err != nil {
		return fmt.Errorf("cosigning: %s's answer: %w", s.w.Name, err)
	}
	text, _, err := witness.SplitNote(cp.Note)
	if err != nil {
		return err
	}
	for _, co := range cs {
		if !co.Verify(s.w.Verifier, text) {
			continue
		}
		_, err := c.db.Exec(ctx, `insert into ledger_cosignatures (size, key_name, key_id, signed_at, line)
			values ($1, $2, $3, $4, $5) on conflict do nothing`,
			cp.Size, co.Name, int64(co.KeyID), time.Unix(int64(co.Time), 0), co.Line)
		if err != nil {
			return fmt.Errorf("cosigning: couldn't store %s's cosignature: %w", s.w.Name, err)
		}
		return nil
	}
	return fmt.Errorf("cosigning: %s answered 200 without a valid cosignature by its key %s", s.w.Name, s.w.Verifier)
}

// lastCosigned returns the largest size this log holds a cosignature of
// from v, or 0.
func (c *Cosigner) lastCosigned(ctx context.Context, v *witness.Verifier) (int64, error) {
	var n int64
	err := c.db.QueryRow(ctx, `select coalesce(max(size), 0) from ledger_cosignatures where key_name = $1 and key_id = $2`,
		v.Name(), int64(v.KeyHash())).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("cosigning: couldn't read the cosignatures: %w", err)
	}
	return n, nil
}

// Served returns the checkpoint to serve: the newest whose cosignatures
// satisfy the policy's quorum, its note followed by the cosignature lines.
// ok is false when no checkpoint has such cosignatures yet.
func (c *Cosigner) Served(ctx context.Context) (note []byte, ok bool, err error) {
	c.servedMu.Lock()
	defer c.servedMu.Unlock()
	if !c.servedAt.IsZero() && time.Since(c.servedAt) < servedFor {
		return bytes.Clone(c.servedNote), c.servedOK, nil
	}
	note, ok, err = c.served(ctx)
	if err == nil {
		c.servedAt, c.servedNote, c.servedOK = time.Now(), note, ok
	}
	return bytes.Clone(note), ok, err
}

func (c *Cosigner) served(ctx context.Context) (note []byte, ok bool, err error) {
	p := c.cfg.Policy
	if !p.RequiresCosignatures() {
		cp, err := c.store.Latest(ctx)
		if err != nil || cp.Note == nil {
			return nil, false, err
		}
		lines, err := c.lines(ctx, cp.Size)
		if err != nil {
			return nil, false, err
		}
		return append(bytes.Clone(cp.Note), strings.Join(lines, "")...), true, nil
	}
	// The newest sizes with cosignatures, each with its cosigners' keys.
	rows, err := c.db.Query(ctx, `select c.size, c.note, array_agg(s.key_name order by s.key_name, s.key_id),
			array_agg(s.key_id order by s.key_name, s.key_id), array_agg(s.line order by s.key_name, s.key_id)
		from ledger_cosignatures s join ledger_checkpoints c on c.size = s.size
		where s.size in (select distinct size from ledger_cosignatures order by size desc limit 64)
		group by c.size order by c.size desc`)
	if err != nil {
		return nil, false, fmt.Errorf("cosigning: couldn't read the cosignatures: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var size int64
		var n []byte
		var names, lines []string
		var ids []int64
		if err := rows.Scan(&size, &n, &names, &ids, &lines); err != nil {
			return nil, false, fmt.Errorf("cosigning: couldn't read the cosignatures: %w", err)
		}
		var cosigners []string
		for i := range names {
			for _, w := range p.Witnesses {
				if w.Verifier.Name() == names[i] && int64(w.Verifier.KeyHash()) == ids[i] {
					cosigners = append(cosigners, w.Name)
				}
			}
		}
		if p.Satisfied(cosigners) {
			return append(n, strings.Join(lines, "")...), true, nil
		}
	}
	return nil, false, rows.Err()
}

// lines returns the stored cosignature lines of the checkpoint of size.
func (c *Cosigner) lines(ctx context.Context, size int64) ([]string, error) {
	rows, err := c.db.Query(ctx, `select line from ledger_cosignatures where size = $1 order by key_name, key_id`, size)
	if err != nil {
		return nil, fmt.Errorf("cosigning: couldn't read the cosignatures: %w", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("cosigning: couldn't read the cosignatures: %w", err)
	}
	return lines, nil
}
