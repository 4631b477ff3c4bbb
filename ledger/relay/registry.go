package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/licensed/licensed/internal/groupcommit"
	"github.com/licensed/licensed/ledger/admission"
)

// RegistryTags is the admission.TagStore of a relay that verifies locally
// but keeps the network's quota: it registers every tag its Local verifier
// admits with the server's tag registry (POST /v1/tags/register), where the
// first registration of a (scope, counter, tag) wins across every relay and
// server, the same message again is the same success, and another message
// is refused (tag_used). It needs the Client's relay key.
//
// Registrations made at once by concurrent Admit calls travel together, at
// most MaxBatch to a request: a relay under load sends one request per
// round trip, not one per block. A refusal of the whole request for load
// (429 rate_limited, too_many_in_flight, batch_over_limit; 503 overloaded;
// a proxy's bare 429 or 503 as rate_limited or overloaded) refuses each of
// its blocks with that code, which the relay may retry later, as it may
// index_behind (the server's index has not caught up with a ring member
// yet); a failure to reach the server is an error (the block is neither
// admitted nor refused). Free-tier uses are not registered: a free message
// is admitted again wherever it is replayed.
type RegistryTags struct {
	c *Client
	// MaxBatch bounds the registrations of one round (default 256; the
	// server takes at most admission.MaxRegistrations per request).
	MaxBatch int
	// MaxBody bounds the body of one request (default 1 MiB − 1 KiB, under
	// the server's default body limit): a round whose registrations do not
	// fit is sent as several requests.
	MaxBody int
	// Linger is how long a request waits for more registrations when few
	// are pending and the previous request ended with some waiting
	// (default 0: never).
	Linger time.Duration

	once  sync.Once
	group groupcommit.Group[admission.Use, error]
}

// NewRegistryTags returns the registry client over c, whose Key must be
// set.
func NewRegistryTags(c *Client) *RegistryTags { return &RegistryTags{c: c} }

// NewNetworkLocal returns a Local verifier over m that registers its tags
// with m's server (RegistryTags over m's Client): proofs are verified on the
// relay, and each license keeps one quota across the network.
func NewNetworkLocal(m *Mirror, cfg admission.Config) (*Local, error) {
	if m.c.Key == "" {
		return nil, errors.New("relay: registering tags needs the Client's relay key (Client.Key)")
	}
	return admission.New(m, NewRegistryTags(m.c), cfg)
}

// Record implements admission.TagStore.
func (r *RegistryTags) Record(ctx context.Context, uses []admission.Use) ([]bool, error) {
	verdicts, err := r.RecordVerdicts(ctx, uses)
	if err != nil {
		return nil, err
	}
	admitted := make([]bool, len(verdicts))
	for i, v := range verdicts {
		admitted[i] = v == nil
	}
	return admitted, nil
}

// RecordVerdicts implements admission.VerdictStore.
func (r *RegistryTags) RecordVerdicts(ctx context.Context, uses []admission.Use) ([]error, error) {
	r.once.Do(func() {
		r.group = groupcommit.Group[admission.Use, error]{Do: r.register, Max: r.MaxBatch, Linger: r.Linger, LingerBelow: 8}
		if r.group.Max <= 0 {
			r.group.Max = 256
		}
	})
	out := make([]error, len(uses))
	var send []admission.Use
	var at []int
	for i, u := range uses {
		if u.Free {
			continue
		}
		if u.Request == nil {
			return nil, errors.New("relay: a use to register has no request")
		}
		send = append(send, u)
		at = append(at, i)
	}
	verdicts, err := r.group.Submit(ctx, send)
	if err != nil {
		return nil, err
	}
	for k, i := range at {
		out[i] = verdicts[k]
	}
	return out, nil
}

// register sends one round of registrations, in as many requests as
// MaxBody asks.
func (r *RegistryTags) register(ctx context.Context, uses []admission.Use) ([]error, error) {
	limit := r.MaxBody
	if limit <= 0 {
		limit = 1<<20 - 1<<10
	}
	verdicts := make([]error, 0, len(uses))
	body := []byte(`{"registrations":[`)
	first := 0
	flush := func(upto int) error {
		v, err := r.send(ctx, append(body, "]}"...), upto-first)
		if err != nil {
			return err
		}
		verdicts = append(verdicts, v...)
		body, first = body[:len(`{"registrations":[`)], upto
		return nil
	}
	for i := range uses {
		q := *uses[i].Request
		q.PoW = nil // the relay checked it; the registry does not
		b, err := json.Marshal(&q)
		if err != nil {
			return nil, err
		}
		if i > first && len(body)+1+len(b)+2 > limit {
			if err := flush(i); err != nil {
				return nil, err
			}
		}
		if i > first {
			body = append(body, ',')
		}
		body = append(body, b...)
	}
	if err := flush(len(uses)); err != nil {
		return nil, err
	}
	return verdicts, nil
}

// send posts one request of n registrations.
func (r *RegistryTags) send(ctx context.Context, body []byte, n int) ([]error, error) {
	var out admission.BatchResults
	err := r.c.send(ctx, http.MethodPost, "/v1/tags/register", true, json.RawMessage(body), &out)
	verdicts := make([]error, n)
	var e *Error
	if errors.As(err, &e) && (e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable) {
		// Load: every block of the request may be sent again later. A
		// proxy's answer without the server's JSON is named by its status.
		code := e.Code
		switch {
		case !strings.HasPrefix(code, "http_"):
		case e.Status == http.StatusTooManyRequests:
			code = "rate_limited"
		default:
			code = "overloaded"
		}
		for i := range verdicts {
			verdicts[i] = admission.NewRefusal(code, e.Message)
		}
		return verdicts, nil
	}
	if err != nil {
		return nil, err
	}
	if len(out.Results) != n {
		return nil, fmt.Errorf("relay: %d results for %d registrations", len(out.Results), n)
	}
	for i, res := range out.Results {
		switch {
		case res.Admitted:
		case res.Code == admission.ErrTagUsed.Code():
			verdicts[i] = admission.ErrTagUsed
		default:
			verdicts[i] = admission.NewRefusal(res.Code, res.Message)
		}
	}
	return verdicts, nil
}

// Prune implements admission.TagStore: the server prunes its registry.
func (r *RegistryTags) Prune(context.Context, time.Time) (int64, error) { return 0, nil }

var _ admission.VerdictStore = (*RegistryTags)(nil)
