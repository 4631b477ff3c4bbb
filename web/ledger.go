package web

import (
	"context"
	"encoding/base64"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/ledger/cosigning"
)

// LedgerDeps is what the public ledger endpoints serve.
type LedgerDeps struct {
	// Store is the ledger's store.
	Store ledger.Store
	// VerifierKey is the note verifier key of the checkpoints
	// (origin+keyid+base64), served at /ledger/key for clients to pin.
	VerifierKey string
	// Witnessed, when the ledger has witnesses, chooses the checkpoint
	// /ledger/checkpoint serves (with its cosignatures) and reports the
	// witnesses for /metrics; nil serves the latest checkpoint.
	Witnessed WitnessedCheckpoints
	// Anchors, when the ledger is anchored in Bitcoin, lists the anchors at
	// /ledger/anchors (see anchors.go); nil answers 404 there.
	Anchors AnchorList
}

// WitnessedCheckpoints is what the ledger's witnessing (a
// *cosigning.Cosigner) offers the public endpoints.
type WitnessedCheckpoints interface {
	// Served returns the checkpoint to serve, its note followed by its
	// cosignature lines; ok is false when none has its witnesses' quorum
	// yet.
	Served(ctx context.Context) (note []byte, ok bool, err error)
	// Status reports each witness.
	Status() []cosigning.WitnessStatus
}

// Cache lifetimes: the checkpoint moves every round; tiles, entry bundles
// and proofs for a given size never change.
const (
	checkpointCache = "public, max-age=5"
	immutableCache  = "public, max-age=31536000, immutable"
	maxEntriesPage  = 1000
)

// registerLedgerMetrics exports the ledger's size and its witnesses'
// cosigning state.
func (s *Server) registerLedgerMetrics() {
	store := s.deps.Ledger.Store
	s.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "licensed_ledger_size", Help: "Entries in the ledger's latest checkpoint.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := store.Latest(ctx)
		if err != nil {
			return math.NaN()
		}
		return float64(c.Size)
	}))
	if w := s.deps.Ledger.Witnessed; w != nil {
		s.reg.MustRegister(witnessCollector{w})
	}
}

// witnessCollector exports each witness's cosigning state.
type witnessCollector struct{ w WitnessedCheckpoints }

var (
	witnessSizeDesc = prometheus.NewDesc("licensed_ledger_witness_cosigned_size",
		"Size of the newest checkpoint the witness cosigned (-1 before it answered).", []string{"witness"}, nil)
	witnessSubmissionsDesc = prometheus.NewDesc("licensed_ledger_witness_submissions_total",
		"Checkpoints submitted to the witness, by result (cosigned, conflict, refused, unknown_log, unreachable, error).", []string{"witness", "result"}, nil)
	witnessLatencyDesc = prometheus.NewDesc("licensed_ledger_witness_cosign_seconds",
		"Time from a checkpoint being seen to the witness's cosignature being stored.", []string{"witness"}, nil)
	witnessFailingDesc = prometheus.NewDesc("licensed_ledger_witness_failing",
		"1 when the last submission to the witness failed.", []string{"witness"}, nil)
)

func (witnessCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- witnessSizeDesc
	ch <- witnessSubmissionsDesc
	ch <- witnessLatencyDesc
	ch <- witnessFailingDesc
}

func (c witnessCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.w.Status() {
		ch <- prometheus.MustNewConstMetric(witnessSizeDesc, prometheus.GaugeValue, float64(st.CosignedSize), st.Name)
		for _, r := range []string{cosigning.ResultCosigned, cosigning.ResultConflict, cosigning.ResultRefused,
			cosigning.ResultUnknownLog, cosigning.ResultUnreachable, cosigning.ResultError} {
			ch <- prometheus.MustNewConstMetric(witnessSubmissionsDesc, prometheus.CounterValue, float64(st.Submissions[r]), st.Name, r)
		}
		buckets := make(map[float64]uint64, len(cosigning.LatencyBuckets))
		for i, b := range cosigning.LatencyBuckets {
			buckets[b] = st.Latency[i]
		}
		ch <- prometheus.MustNewConstHistogram(witnessLatencyDesc, st.LatencyCount, st.LatencySum, buckets, st.Name)
		failing := 0.0
		if st.LastError != "" {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(witnessFailingDesc, prometheus.GaugeValue, failing, st.Name)
	}
}

// ledgerCheckpoint is GET /ledger/checkpoint: the latest signed checkpoint
// (C2SP tlog-checkpoint), text/plain; a new ledger's is of size 0. With
// witnesses, the newest checkpoint a quorum of them cosigned, with their
// cosignature lines after the ledger's signature.
func (s *Server) ledgerCheckpoint(c echo.Context) error {
	if w := s.deps.Ledger.Witnessed; w != nil {
		n, ok, err := w.Served(c.Request().Context())
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(http.StatusServiceUnavailable, "not_cosigned", "No checkpoint of the ledger is cosigned by a quorum of its witnesses yet; try again in a minute.")
		}
		c.Response().Header().Set("Cache-Control", checkpointCache)
		return c.Blob(http.StatusOK, "text/plain; charset=utf-8", n)
	}
	cp, err := s.deps.Ledger.Store.Latest(c.Request().Context())
	if err != nil {
		return err
	}
	if cp.Note == nil {
		return Errorf(http.StatusNotFound, "not_found", "The ledger has no checkpoint yet: its sequencer has not started.")
	}
	c.Response().Header().Set("Cache-Control", checkpointCache)
	return c.Blob(http.StatusOK, "text/plain; charset=utf-8", cp.Note)
}

// ledgerKey is GET /ledger/key: the verifier key to pin.
func (s *Server) ledgerKey(c echo.Context) error {
	if s.deps.Ledger.VerifierKey == "" {
		return Errorf(http.StatusNotFound, "not_found", "This server does not publish its ledger key.")
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=3600")
	return c.String(http.StatusOK, s.deps.Ledger.VerifierKey+"\n")
}

// ledgerTile is GET /ledger/tile/<L>/<N>[.p/<W>] (hash tiles) and
// /ledger/tile/entries/<N>[.p/<W>] (entry bundles), at C2SP paths.
func (s *Server) ledgerTile(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := ledger.ParseTilePath("tile/" + c.Param("*"))
	if err != nil {
		return err
	}
	var data []byte
	if t.Level == ledger.EntriesLevel {
		data, err = ledger.ReadBundle(ctx, s.deps.Ledger.Store, t)
	} else {
		data, err = s.deps.Ledger.Store.ReadTile(ctx, t)
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", immutableCache)
	return c.Blob(http.StatusOK, "application/octet-stream", data)
}

// queryInt reads a required non-negative integer query parameter.
func queryInt(c echo.Context, name string) (int64, error) {
	v := c.QueryParam(name)
	n, err := strconv.ParseInt(v, 10, 64)
	if v == "" || err != nil || n < 0 {
		return 0, Errorf(http.StatusBadRequest, "bad_parameter", "Give "+name+" as a non-negative integer.")
	}
	return n, nil
}

// EntryJSON is an entry's public fields as /v1/ledger/entries shows them.
type EntryJSON struct {
	Index int64  `json:"index"`
	Kind  string `json:"kind"`
	// License entries.
	Plan      string `json:"plan,omitempty"`
	NotBefore string `json:"not_before,omitempty"` // YYYY-MM-DD, inclusive
	NotAfter  string `json:"not_after,omitempty"`  // YYYY-MM-DD, exclusive
	R         string `json:"r,omitempty"`          // base64, like every binary field of the API
	P         string `json:"p,omitempty"`          // base64
	ViewTag   *int   `json:"view_tag,omitempty"`
	Sealed    string `json:"sealed,omitempty"` // base64
	// Revoke entries.
	Target *uint64 `json:"target,omitempty"`
	Reason string  `json:"reason,omitempty"`
	// Raw is the canonical encoding (base64), the leaf the log hashes.
	Raw string `json:"raw"`
}

// ledgerEntries is GET /v1/ledger/entries?start=&count=: up to 1000
// entries of the latest checkpoint, decoded.
func (s *Server) ledgerEntries(c echo.Context) error {
	ctx := c.Request().Context()
	start, err := queryInt(c, "start")
	if err != nil {
		return err
	}
	count, err := queryInt(c, "count")
	if err != nil {
		return err
	}
	if count < 1 || count > maxEntriesPage {
		return Errorf(http.StatusBadRequest, "bad_parameter", "Give count between 1 and 1000.")
	}
	cp, err := s.deps.Ledger.Store.Latest(ctx)
	if err != nil {
		return err
	}
	out := struct {
		TreeSize int64       `json:"tree_size"`
		Entries  []EntryJSON `json:"entries"`
	}{TreeSize: cp.Size, Entries: []EntryJSON{}}
	if start < cp.Size {
		raw, err := s.deps.Ledger.Store.ReadEntries(ctx, start, int(min(count, cp.Size-start)))
		if err != nil {
			return err
		}
		for i, b := range raw {
			out.Entries = append(out.Entries, entryJSON(start+int64(i), b))
		}
	}
	c.Response().Header().Set("Cache-Control", checkpointCache)
	return c.JSON(http.StatusOK, out)
}

func entryJSON(idx int64, b []byte) EntryJSON {
	j := EntryJSON{Index: idx, Raw: base64.StdEncoding.EncodeToString(b)}
	e, err := ledger.ParseEntry(b)
	if err != nil {
		j.Kind = "unparseable"
		return j
	}
	switch e := e.(type) {
	case *ledger.LicenseEntry:
		tag := int(e.ViewTag)
		j.Kind, j.Plan = "license", e.Plan
		j.NotBefore, j.NotAfter = e.NotBefore.Format("2006-01-02"), e.NotAfter.Format("2006-01-02")
		j.R, j.P, j.ViewTag = base64.StdEncoding.EncodeToString(e.R[:]), base64.StdEncoding.EncodeToString(e.P[:]), &tag
		j.Sealed = base64.StdEncoding.EncodeToString(e.Sealed)
	case *ledger.RevokeEntry:
		target := e.Target
		j.Kind, j.Target, j.Reason = "revoke", &target, e.Reason.String()
	default:
		j.Kind = "unparseable"
	}
	return j
}

func proofJSON(p []tlog.Hash) []string {
	out := make([]string, len(p))
	for i, h := range p {
		out[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return out
}

// ledgerInclusion is GET /v1/ledger/proof/inclusion?index=&tree_size=.
func (s *Server) ledgerInclusion(c echo.Context) error {
	index, err := queryInt(c, "index")
	if err != nil {
		return err
	}
	size, err := queryInt(c, "tree_size")
	if err != nil {
		return err
	}
	p, err := ledger.ProveInclusion(c.Request().Context(), s.deps.Ledger.Store, index, size)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", immutableCache)
	return c.JSON(http.StatusOK, map[string]any{"index": index, "tree_size": size, "proof": proofJSON(p)})
}

// ledgerConsistency is GET /v1/ledger/proof/consistency?old=&new=.
func (s *Server) ledgerConsistency(c echo.Context) error {
	oldSize, err := queryInt(c, "old")
	if err != nil {
		return err
	}
	newSize, err := queryInt(c, "new")
	if err != nil {
		return err
	}
	p, err := ledger.ProveConsistency(c.Request().Context(), s.deps.Ledger.Store, oldSize, newSize)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", immutableCache)
	return c.JSON(http.StatusOK, map[string]any{"old": oldSize, "new": newSize, "proof": proofJSON(p)})
}
