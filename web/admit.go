package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ringverify"
)

// registerAdmissionMetrics exports admission's outcomes and verifications.
func (s *Server) registerAdmissionMetrics() {
	s.reg.MustRegister(&outcomeCollector{svc: s.deps.Admission, desc: prometheus.NewDesc(
		"licensed_admission_outcomes_total", "Admission decisions by outcome code (admitted or the refusal's code).", []string{"outcome"}, nil),
		verified: prometheus.NewDesc("licensed_admission_verifications_total", "Ring signatures verified by admission (the costly step), admitted or not.", nil, nil)})
}

// admit is POST /v1/admit: one proof, 200 {admitted, plan, valid_until} or a
// refusal {code, message}.
func (s *Server) admit(c echo.Context) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	req, err := admission.DecodeRequest(body)
	if err != nil {
		return err
	}
	release, err := s.admitGate.acquire(c, 1)
	if err != nil {
		return err
	}
	defer release()
	res, err := s.deps.Admission.Admit(c.Request().Context(), req)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

// admitBatch is POST /v1/admit/batch {"proofs": [...]}: 200 {"results":
// [...]}, one result per proof, in order. A malformed proof gets its own
// refusal; only a malformed batch, or a failing database, fails the whole.
func (s *Server) admitBatch(c echo.Context) error {
	// A body longer than the most proofs this client may send could hold
	// is refused unread: decoding 256 proofs only to refuse them would cost
	// more than verifying a few.
	if most := s.admitGate.mostProofs(c); most > 0 {
		_, maxR := s.deps.Admission.RingSizeBounds()
		limit := int64(most)*maxRequestJSON(maxR) + 1024
		c.Request().Body = http.MaxBytesReader(c.Response(), c.Request().Body, limit)
		body, err := io.ReadAll(c.Request().Body)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.rateLimited.WithLabelValues("admit").Inc()
			return Errorf(http.StatusTooManyRequests, "batch_over_limit", fmt.Sprintf("A batch from this client holds at most %d proofs, and this body is longer than %d proofs can be: split it.", most, most))
		}
		if err != nil {
			return Errorf(http.StatusBadRequest, "malformed", "The request body ended before its declared length; send it whole.")
		}
		return s.admitBatchBody(c, body)
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	return s.admitBatchBody(c, body)
}

// maxRequestJSON bounds the JSON of one admission request with a ring of at
// most maxRing members, as any client writes it: every field at its
// largest, the scope with every byte escaped, and 1 KiB for names,
// punctuation and spacing.
func maxRequestJSON(maxRing int) int64 {
	b64 := func(n int) int { return (n + 2) / 3 * 4 }
	return int64(1024 + 6*ringverify.MaxScopeSize + b64(admission.MaxMessageSize) + 21*maxRing +
		b64(admission.TagSize) + b64(ringverify.ProofSize(maxRing)-admission.TagSize))
}

func (s *Server) admitBatchBody(c echo.Context, body []byte) error {
	raws, err := admission.DecodeBatch(body)
	if err != nil {
		return err
	}
	// The batch costs one token per proof, taken before anything is
	// verified (one was taken at the door).
	release, err := s.admitGate.acquire(c, len(raws))
	if err != nil {
		return err
	}
	defer release()
	reqs, refused := decodeEach(raws)
	got, err := s.deps.Admission.AdmitBatch(c.Request().Context(), reqs)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, admission.BatchResults{Results: refused.keep(got)})
}

// decodeEach decodes the requests of a batch; one that does not decode is
// nil in reqs (AdmitBatch and Register answer it malformed) and its
// decoder's refusal is kept in refused.
func decodeEach(raws []json.RawMessage) (reqs []*admission.Request, refused decodeRefusals) {
	reqs = make([]*admission.Request, len(raws))
	refused = make(decodeRefusals, len(raws))
	for i, raw := range raws {
		r, err := admission.DecodeRequest(raw)
		if err != nil {
			var ae *admission.Error
			if errors.As(err, &ae) {
				refused[i] = admission.Result{Code: ae.Code(), Message: ae.Error()}
			}
			continue
		}
		reqs[i] = r
	}
	return reqs, refused
}

// decodeRefusals are the decoder's refusals of a batch, by position.
type decodeRefusals []admission.Result

// keep puts the decoder's more precise sentences in place of the
// "malformed" answers to the requests it refused.
func (d decodeRefusals) keep(got []admission.Result) []admission.Result {
	for i := range got {
		if d[i].Code != "" {
			got[i] = d[i]
		}
	}
	return got
}

type validList struct {
	Plan    string   `json:"plan"`
	At      string   `json:"at"`
	Indices []uint64 `json:"indices"`
}

// validCache keeps each plan's encoded list for a few seconds, so that a
// crowd of clients costs one scan of the index, and every client in that
// window gets the same bytes.
type validCache struct {
	mu      sync.Mutex
	entries map[validKey]validCacheEntry
}

type validKey struct {
	svc  *admission.Service
	plan string
}

type validCacheEntry struct {
	body    []byte
	expires time.Time
}

var validLists = validCache{entries: make(map[validKey]validCacheEntry)}

// validCacheFor is how long the server reuses a list; clients and proxies
// may keep it for max-age=60 s more.
const validCacheFor = 10 * time.Second

// validLicenses is GET /v1/licenses/valid?plan=P: the ledger indices of the
// licenses of P valid today, sorted; the same bytes for every client within
// each 10-second window (see package admission, "The valid list").
func (s *Server) validLicenses(c echo.Context) error {
	plan := c.QueryParam("plan")
	if plan == "" {
		return Errorf(http.StatusBadRequest, "malformed", "Name the plan: GET /v1/licenses/valid?plan=PLAN.")
	}
	if _, ok := s.deps.Admission.Quota(plan); !ok {
		return Errorf(http.StatusNotFound, "plan_unknown", "This server offers no such plan: see GET /v1/plans.")
	}
	now := time.Now()
	key := validKey{s.deps.Admission, plan}
	validLists.mu.Lock()
	e, ok := validLists.entries[key]
	validLists.mu.Unlock()
	if !ok || now.After(e.expires) {
		day, idx := s.deps.Admission.Valid(plan)
		if idx == nil {
			idx = []uint64{}
		}
		body, err := json.Marshal(validList{Plan: plan, At: day.Format(time.DateOnly), Indices: idx})
		if err != nil {
			return err
		}
		e = validCacheEntry{body: body, expires: now.Truncate(validCacheFor).Add(validCacheFor)}
		validLists.mu.Lock()
		// Two misses at once may read the index across a sequencer round:
		// the first list of a window is the window's, for every client.
		if cur, ok := validLists.entries[key]; ok && cur.expires.Equal(e.expires) {
			e = cur
		} else {
			validLists.entries[key] = e
		}
		validLists.mu.Unlock()
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=60")
	return c.JSONBlob(http.StatusOK, e.body)
}

// outcomeCollector exports the admission outcome counts.
type outcomeCollector struct {
	svc            *admission.Service
	desc, verified *prometheus.Desc
}

func (o *outcomeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- o.desc; ch <- o.verified }

func (o *outcomeCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(o.verified, prometheus.CounterValue, float64(o.svc.Verifications()))
	for code, n := range o.svc.Outcomes() {
		ch <- prometheus.MustNewConstMetric(o.desc, prometheus.CounterValue, float64(n), code)
	}
}
