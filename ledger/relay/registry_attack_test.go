package relay_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/relay"
)

// TestAttackProxy503IsPermanentRefusal: a load balancer or reverse proxy in
// front of the server answers 503 (or 429) with its own text body. The
// registry client must turn it into a retryable refusal (rate_limited or
// overloaded), which `license relay` answers 429 or 503, not into a code
// like "http_503" that it would answer 400 (a permanent refusal: the
// sender would drop a valid block).
func TestAttackProxy503IsPermanentRefusal(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "upstream busy", status)
		}))
		reg := relay.NewRegistryTags(&relay.Client{URL: srv.URL, Key: "lrk_x"})
		req := &admission.Request{Scope: "test/2026-01-01", Message: []byte("m"), Ring: []uint64{1}, Tag: make([]byte, 32), Signature: make([]byte, 64)}
		v, err := reg.RecordVerdicts(context.Background(), []admission.Use{{Scope: req.Scope, Request: req}})
		srv.Close()
		if err != nil {
			continue // an error is a 502 at the relay: retryable, fine
		}
		if code := admission.Code(v[0]); !slices.Contains([]string{"rate_limited", "too_many_in_flight", "batch_over_limit", "overloaded"}, code) {
			t.Errorf("status %d from a proxy: the block is refused with code %q, which license relay answers 400 (permanent), not 429", status, code)
		}
	}
}
