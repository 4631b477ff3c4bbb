package admission

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licensed/licensed/ringverify"
)

// Licenses is what admission needs from the ledger: ring members by index
// (the ledger's index of valid licenses, or a relay's mirror of it) and the
// valid indices of a plan, from which clients pick decoys.
type Licenses interface {
	ringverify.Members
	// Valid returns the indices of the licenses of plan valid and active at
	// at, sorted.
	Valid(plan string, at time.Time) []uint64
}

// Config configures a Service. Zero fields take their defaults.
type Config struct {
	// Network is the network name, the first part of every scope. Required.
	Network string
	// ClockSkew is how long after midnight UTC yesterday's scope is still
	// accepted, and how long before midnight tomorrow's already is
	// (default 10 minutes; at most 12 hours).
	ClockSkew time.Duration
	// MinRingSize and MaxRingSize bound the ring size (defaults and limits
	// of ringverify.VerifierConfig: 16 and 16, within 11..1024).
	MinRingSize, MaxRingSize int
	// Quota returns the daily quota of a plan, false for a plan this server
	// does not offer. Required.
	Quota func(plan string) (uint32, bool)
	// PoWDifficulty is the number of leading zero bits every request's
	// proof of work must have; 0 asks for none.
	PoWDifficulty int
	// FreeDifficulty enables the free tier when > 0: a request with no ring
	// proof is admitted as plan "free" with a proof of work of this many
	// bits. It must be above PoWDifficulty.
	FreeDifficulty int
	// PoWWindow is how far a proof of work's timestamp may be from the
	// server's clock (default 5 minutes).
	PoWWindow time.Duration
	// Workers is the number of requests verified at once (default
	// runtime.GOMAXPROCS(0)).
	Workers int
	// Log receives one debug line per decision, with its outcome code only.
	Log *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Service admits requests. It is safe for concurrent use.
type Service struct {
	cfg   Config
	lic   Licenses
	tags  TagStore
	v     *ringverify.Verifier
	min   int
	max   int
	count sync.Map // outcome code → *atomic.Int64
	// verifications counts the ring signatures verified (step 7), the one
	// costly step: what a client can make the server spend.
	verifications atomic.Int64
	// cores bounds the verifications running at once to Workers (more only
	// interleave on the same cores, and cost preemptions and cache misses),
	// and shares them fairly between clients.
	cores *fairQueue
	// regCount counts Register's outcomes.
	regCount sync.Map
}

// New returns a Service checking proofs against lic and recording tags in
// tags.
func New(lic Licenses, tags TagStore, cfg Config) (*Service, error) {
	if lic == nil || tags == nil {
		return nil, errors.New("admission: Licenses and TagStore are required")
	}
	if cfg.Network == "" || strings.Contains(cfg.Network, "/") || len(cfg.Network) > ringverify.MaxScopeSize-11 {
		return nil, fmt.Errorf("admission: network name %q must be 1 to %d bytes without '/'", cfg.Network, ringverify.MaxScopeSize-11)
	}
	if cfg.Quota == nil {
		return nil, errors.New("admission: Config.Quota is required")
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = 10 * time.Minute
	}
	if cfg.ClockSkew < 0 || cfg.ClockSkew > 12*time.Hour {
		return nil, fmt.Errorf("admission: clock skew %v must be between 0 and 12h", cfg.ClockSkew)
	}
	if cfg.PoWWindow == 0 {
		cfg.PoWWindow = 5 * time.Minute
	}
	if cfg.PoWDifficulty < 0 || cfg.PoWDifficulty > MaxDifficulty || cfg.FreeDifficulty < 0 || cfg.FreeDifficulty > MaxDifficulty {
		return nil, fmt.Errorf("admission: difficulties must be 0 to %d bits", MaxDifficulty)
	}
	if cfg.FreeDifficulty > 0 && cfg.FreeDifficulty <= cfg.PoWDifficulty {
		return nil, fmt.Errorf("admission: the free tier's difficulty (%d) must be above the paid one (%d)", cfg.FreeDifficulty, cfg.PoWDifficulty)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v, err := ringverify.NewVerifier(ringverify.VerifierConfig{Members: lic, MinRingSize: cfg.MinRingSize, MaxRingSize: cfg.MaxRingSize})
	if err != nil {
		return nil, fmt.Errorf("admission: %w", err)
	}
	s := &Service{cfg: cfg, lic: lic, tags: tags, v: v, cores: newFairQueue(cfg.Workers)}
	s.min, s.max = v.RingSizeBounds()
	return s, nil
}

// Network returns the configured network name.
func (s *Service) Network() string { return s.cfg.Network }

// Quota returns the daily quota of plan, false if the server does not offer
// it.
func (s *Service) Quota(plan string) (uint32, bool) { return s.cfg.Quota(plan) }

// RingSizeBounds returns the ring sizes accepted.
func (s *Service) RingSizeBounds() (minSize, maxSize int) { return s.min, s.max }

// Scope returns the scope of the UTC day of t.
func (s *Service) Scope(t time.Time) string {
	return s.cfg.Network + "/" + t.UTC().Format(time.DateOnly)
}

// Outcomes returns how many decisions ended with each code ("admitted" for
// success) since the Service started. Package web exports them as metrics.
func (s *Service) Outcomes() map[string]int64 { return codeCounts(&s.count) }

// countCode adds one to code's counter in m (code → *atomic.Int64).
func countCode(m *sync.Map, code string) {
	v, ok := m.Load(code)
	if !ok {
		v, _ = m.LoadOrStore(code, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}

// codeCounts returns the counters of m.
func codeCounts(m *sync.Map) map[string]int64 {
	out := make(map[string]int64)
	m.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// Verifications returns how many ring signatures the Service has verified
// since it started, admitted or not. Every other check costs microseconds;
// this one about a millisecond at ring 16 (see the package documentation,
// "Order of the checks"). Package web exports it as a metric.
func (s *Service) Verifications() int64 { return s.verifications.Load() }

// Valid returns the valid indices of plan for today's UTC day, and that day.
// Licenses are valid for whole UTC days, so the list is the same all day for
// every client, except for licenses revoked or suspended during the day.
func (s *Service) Valid(plan string) (day time.Time, indices []uint64) {
	day = s.cfg.Now().UTC().Truncate(24 * time.Hour)
	return day, s.lic.Valid(plan, day)
}

// checked is a request that passed every check but the tag.
type checked struct {
	use    Use
	result Result
}

// Admit checks r in the documented order and records its tag. It returns the
// result of an admission, an *Error for a refusal, or another error when the
// store fails.
func (s *Service) Admit(ctx context.Context, r *Request) (*Result, error) {
	client := clientOf(ctx)
	if err := s.cores.acquire(ctx, client); err != nil {
		return nil, err
	}
	c, err := s.check(r, s.cfg.Now(), false)
	s.cores.release(client)
	if err != nil {
		s.outcome(err)
		return nil, err
	}
	errs, err := s.record(ctx, client, []Use{c.use}, nil)
	if err != nil {
		return nil, err
	}
	if errs[0] != nil {
		s.outcome(errs[0])
		return nil, errs[0]
	}
	s.outcome(nil)
	return &c.result, nil
}

// AdmitBatch decides every request of reqs, verifying on Config.Workers
// goroutines, then records every tag in one round trip. It returns one
// result per request, in order; err is non-nil only when the store fails.
// A request that is nil is answered malformed (DecodeRequest failed).
func (s *Service) AdmitBatch(ctx context.Context, reqs []*Request) ([]Result, error) {
	now := s.cfg.Now()
	client := clientOf(ctx)
	results := make([]Result, len(reqs))
	checks := make([]*checked, len(reqs))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(s.cfg.Workers, len(reqs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					return
				}
				if reqs[i] == nil {
					results[i] = refusal(ErrMalformed)
					continue
				}
				if ctx.Err() != nil || s.cores.acquire(ctx, client) != nil {
					continue // the caller is gone: answered below
				}
				c, err := s.check(reqs[i], now, false)
				s.cores.release(client)
				if err != nil {
					if Code(err) == "" {
						s.cfg.Log.Error("admission failed", "err", err)
					}
					results[i] = refusal(err)
					continue
				}
				checks[i] = c
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var uses []Use
	var at []int
	for i, c := range checks {
		if c != nil {
			uses = append(uses, c.use)
			at = append(at, i)
		}
	}
	if len(uses) > 0 {
		errs, err := s.record(ctx, client, uses, nil)
		if err != nil {
			return nil, err
		}
		for k, i := range at {
			if errs[k] == nil {
				results[i] = checks[i].result
			} else {
				results[i] = refusal(errs[k])
			}
		}
	}
	for i := range results {
		if results[i].Admitted {
			s.outcome(nil)
		} else {
			s.outcome(newError(results[i].Code, ""))
		}
	}
	return results, nil
}

// refusal is the result of a refused request; an internal error is answered
// "internal" without detail.
func refusal(err error) Result {
	if code := Code(err); code != "" {
		return Result{Code: code, Message: err.Error()}
	}
	return Result{Code: "internal", Message: "internal error"}
}

// outcome counts and logs a decision, by its code alone.
func (s *Service) outcome(err error) {
	code := "admitted"
	if err != nil {
		code = Code(err)
		if code == "" {
			code = "internal"
			s.cfg.Log.Error("admission failed", "err", err)
		}
	}
	countCode(&s.count, code)
	s.cfg.Log.Debug("admission", "outcome", code)
}

// check runs every check but the tag, in the documented order; a
// registration's (skipPoW) skips the proof of work, which its relay
// checked.
func (s *Service) check(r *Request, now time.Time, skipPoW bool) (*checked, error) {
	// 1. Shape.
	p, err := s.shape(r)
	if err != nil {
		return nil, err
	}
	free := r.Free()

	// 2. Scope.
	day, err := s.currentDay(r.Scope, now)
	if err != nil {
		return nil, err
	}
	c := &checked{use: Use{Scope: r.Scope, Day: day, Counter: r.Counter, Free: free, MsgHash: sha256.Sum256(r.Message)}}

	// 3. Proof of work: a hash, before anything that costs a lookup or a
	// verification, so that a request without the work costs the server
	// about what it cost the client to send.
	if free {
		if err := s.checkPoW(r, nil, s.cfg.FreeDifficulty, now); err != nil {
			return nil, err
		}
		end := day.AddDate(0, 0, 1)
		c.result = Result{Admitted: true, Plan: FreePlan, ValidUntil: &end}
		return c, nil
	}
	if s.cfg.PoWDifficulty > 0 && !skipPoW {
		if err := s.checkPoW(r, r.Tag, s.cfg.PoWDifficulty, now); err != nil {
			return nil, err
		}
	}

	// 4. Ring size and distinct indices, then 5. the members, each looked
	// up once: the Verifier keeps them for step 7.
	ring, err := s.v.Resolve(r.Ring, now)
	if err != nil {
		return nil, s.ringRefusal(err, len(r.Ring))
	}
	plan, validUntil := ring.Plan(), ring.NotAfter().UTC()

	// 6. Counter.
	quota, ok := s.cfg.Quota(plan)
	if !ok {
		return nil, newError(ErrPlanUnknown.code, fmt.Sprintf("the ring's plan %q is not offered by this server: pick the ring from GET /v1/licenses/valid", plan))
	}
	if r.Counter >= quota {
		return nil, newError(ErrCounterOverQuota.code, fmt.Sprintf("counter %d is not below the daily quota %d of plan %q: this license has no uses left in this scope", r.Counter, quota, plan))
	}

	// 7. Signature.
	s.verifications.Add(1)
	if err := s.v.VerifyRing(ring, r.Scope, r.Counter, r.Message, p); err != nil {
		return nil, s.ringRefusal(err, len(r.Ring))
	}
	c.use.Tag, c.use.Request = [TagSize]byte(r.Tag), r
	c.result = Result{Admitted: true, Plan: plan, ValidUntil: &validUntil}
	return c, nil
}

// shape is check's step 1: the request's fields and their sizes, and the
// proof decoded canonically (nil for the free tier).
func (s *Service) shape(r *Request) (*ringverify.Proof, error) {
	var p *ringverify.Proof
	free := r.Free()
	switch {
	case len(r.Scope) == 0 || len(r.Scope) > ringverify.MaxScopeSize:
		return nil, errMalformed(fmt.Sprintf("scope must be 1 to %d bytes: \"<network>/<YYYY-MM-DD>\"", ringverify.MaxScopeSize))
	case len(r.Message) == 0 || len(r.Message) > MaxMessageSize:
		return nil, errMalformed(fmt.Sprintf("message must be 1 to %d bytes (base64)", MaxMessageSize))
	case r.PoW != nil && len(r.PoW.Nonce) != NonceSize:
		return nil, errMalformed(fmt.Sprintf("pow.nonce must be %d bytes (base64)", NonceSize))
	case free:
		if s.cfg.FreeDifficulty == 0 {
			return nil, ErrFreeDisabled
		}
		if r.Counter != 0 {
			return nil, errMalformed("a free-tier request (no ring) must have counter 0")
		}
	case len(r.Ring) == 0 || len(r.Ring) > ringverify.MaxRingSize:
		return nil, errMalformed(fmt.Sprintf("ring must list 1 to %d ledger indices", ringverify.MaxRingSize))
	case len(r.Tag) != TagSize:
		return nil, errMalformed(fmt.Sprintf("tag must be %d bytes (base64)", TagSize))
	case len(r.Signature) != ringverify.ProofSize(len(r.Ring))-TagSize:
		return nil, newError("proof_length", fmt.Sprintf("signature must be %d bytes for a ring of %d (32 + 32 per member)", ringverify.ProofSize(len(r.Ring))-TagSize, len(r.Ring)))
	default:
		proof := make([]byte, 0, ringverify.ProofSize(len(r.Ring)))
		proof = append(append(proof, r.Tag...), r.Signature...)
		var err error
		if p, err = ringverify.ParseProof(proof, len(r.Ring)); err != nil {
			return nil, fromRingverify(err)
		}
	}
	return p, nil
}

// currentDay returns the day of scope if it is current at now.
func (s *Service) currentDay(scope string, now time.Time) (time.Time, error) {
	network, date, ok := strings.Cut(scope, "/")
	now = now.UTC()
	today := now.Truncate(24 * time.Hour)
	if !ok || network != s.cfg.Network {
		return time.Time{}, newError(ErrScopeNotCurrent.code, fmt.Sprintf("the scope must be %q: this server admits network %q", s.Scope(now), s.cfg.Network))
	}
	day, err := time.Parse(time.DateOnly, date)
	if err == nil && day.Format(time.DateOnly) == date {
		switch {
		case day.Equal(today),
			day.Equal(today.AddDate(0, 0, -1)) && now.Sub(today) < s.cfg.ClockSkew,
			day.Equal(today.AddDate(0, 0, 1)) && day.Sub(now) < s.cfg.ClockSkew:
			return day, nil
		}
	}
	return time.Time{}, newError(ErrScopeNotCurrent.code, fmt.Sprintf("the scope must be %q (the current UTC day): check the client's clock", s.Scope(now)))
}

// ringRefusal turns a refusal of the Verifier's into a sentence that says
// what to change, keeping its code.
func (s *Service) ringRefusal(err error, size int) error {
	var me *ringverify.MemberError
	var re *ringverify.Error
	switch {
	case errors.Is(err, ringverify.ErrRingBounds):
		return wrapError(ringverify.ErrRingBounds.Code(), fmt.Sprintf("the ring has %d members; this server accepts %d to %d", size, s.min, s.max), err)
	case errors.As(err, &me) && errors.As(err, &re):
		return wrapError(re.Code(), fmt.Sprintf("%s (ring position %d, ledger index %d): pick the ring from GET /v1/licenses/valid", re.Message, me.Position, me.Index), err)
	}
	return fromRingverify(err)
}

func (s *Service) checkPoW(r *Request, tag []byte, difficulty int, now time.Time) error {
	if r.PoW == nil {
		return newError(ErrPoWRequired.code, fmt.Sprintf("this server asks for a proof of work of %d bits (see the API documentation)", difficulty))
	}
	ts := time.Unix(r.PoW.Timestamp, 0)
	if d := now.Sub(ts); d > s.cfg.PoWWindow || d < -s.cfg.PoWWindow {
		return newError(ErrPoWStale.code, fmt.Sprintf("the proof of work's timestamp must be within %v of the server's clock: make a fresh one", s.cfg.PoWWindow))
	}
	if LeadingZeroBits(PoWHash(r.Scope, r.Message, tag, r.PoW.Timestamp, r.PoW.Nonce)) < difficulty {
		return newError(ErrPoWInvalid.code, fmt.Sprintf("the proof of work has fewer than %d leading zero bits", difficulty))
	}
	return nil
}

// Prune forgets the tags of scopes no longer current at now (days before
// yesterday). Call it now and then; the Service never needs those tags again.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	day := s.cfg.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	return s.tags.Prune(ctx, day)
}
