package web

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/licensed/licensed/ledger/admission"
)

// registrationBytesPerToken is how many bytes of registrations cost one
// token of the relay key's admission bucket: about 4 registrations at ring
// 16 (about 1 KiB of JSON each), fewer of larger rings. A registration is a
// row written, not a signature verified, but the rows of every relay share
// one database: at the default relay rate (5000 tokens/s) one key may
// write about 20,000 rows a second, what one 2-core Postgres takes
// (BenchmarkRegistryTags). A conflict that verifies a registration's proof
// costs a whole token (see charge).
const registrationBytesPerToken = 4 << 10

// registerTags is POST /v1/tags/register {"registrations": [...]}: a relay
// that verified proofs against its mirror registers their tags, so that
// each license keeps one quota across the network (package
// ledger/admission, "The tag registry"). Relay keys only. 200 {"results":
// [...]}, one per registration, in order: {"admitted": true} or a refusal.
func (s *Server) registerTags(c echo.Context) error {
	if !s.deps.Admission.TakesRegistrations() {
		return Errorf(http.StatusNotFound, "registry_disabled", "This server keeps no tag registry (its admission records tags in memory): ask the server to admit each proof (POST /v1/admit).")
	}
	cl, _ := c.Get(admitClientKey).(*admitClient)
	if cl == nil || cl.relay == "" {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="admission"`)
		return Errorf(http.StatusUnauthorized, "relay_key_required", "Registering tags needs a relay key (\"Authorization: Bearer "+RelayKeyPrefix+"…\"): ask the operator for one (licensed relay-key new).")
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	// The batch costs a token per registrationBytesPerToken bytes (one was
	// taken at the door), before it is decoded or anything is written.
	release, err := s.admitGate.acquire(c, (len(body)+registrationBytesPerToken-1)/registrationBytesPerToken)
	if err != nil {
		return err
	}
	defer release()
	raws, err := admission.DecodeRegistrations(body)
	if err != nil {
		return err
	}
	reqs, refused := decodeEach(raws)
	got, err := s.deps.Admission.Register(c.Request().Context(), reqs, func() error { return s.admitGate.charge(cl) })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, admission.BatchResults{Results: refused.keep(got)})
}

// charge takes the token of one verification from cl now, or refuses it
// (rate_limited, for that registration alone: the relay retries it later).
func (g *admitGate) charge(cl *admitClient) error {
	if cl.lim == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if !cl.lim.AllowN(time.Now(), 1) {
		g.s.rateLimited.WithLabelValues("register").Inc()
		return admission.NewRefusal("rate_limited", fmt.Sprintf("deciding this registration's conflict needs a signature verified, and this relay key may have %g per second: send it again later", float64(cl.lim.Limit())))
	}
	return nil
}

// registerRegistryMetrics exports the registry's outcomes.
func (s *Server) registerRegistryMetrics() {
	s.reg.MustRegister(&registryCollector{svc: s.deps.Admission, desc: prometheus.NewDesc(
		"licensed_registry_outcomes_total", "Tag registrations by outcome code (registered or the refusal's code).", []string{"outcome"}, nil)})
}

type registryCollector struct {
	svc  *admission.Service
	desc *prometheus.Desc
}

func (r *registryCollector) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

func (r *registryCollector) Collect(ch chan<- prometheus.Metric) {
	for code, n := range r.svc.Registrations() {
		ch <- prometheus.MustNewConstMetric(r.desc, prometheus.CounterValue, float64(n), code)
	}
}
