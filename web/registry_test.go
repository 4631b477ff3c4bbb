package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/relay"
)

// TestRegistryRelays: three relays verify proofs against their own mirrors
// and register the tags with two servers on one database. Uses of one tag
// with different messages, spread over the relays concurrently, admit
// exactly one message network-wide; the same block at every relay is
// admitted at each; the servers verified nothing on the honest path.
func TestRegistryRelays(t *testing.T) {
	ctx := context.Background()
	f := admissiontest.New(t, pgtest.Pool(t), 30)
	key, line, err := NewRelayKey("relay-a")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseRelayKeys([]byte(line + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Admit: AdmitLimits{InFlight: 4, Relay: RateLimit{PerSecond: 1e5, Burst: 1000}, RelayInFlight: 256, Keys: keys}}
	url1, svc1 := admitServer(t, f, cfg)
	url2, svc2 := admitServer(t, f, cfg)

	var locals []*relay.Local
	var registerCalls atomic.Int32 // requests of the third relay to /v1/tags/register
	for i := range 3 {
		c := &relay.Client{URL: []string{url1, url2}[i%2], Key: key}
		if i == 2 {
			c.HTTP = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				if r.URL.Path == "/v1/tags/register" {
					registerCalls.Add(1)
				}
				return http.DefaultTransport.RoundTrip(r)
			})}
		}
		m, err := relay.NewMirror(c, f.VerifierKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		acfg := admission.Config{Network: admissiontest.Network, Quota: admissiontest.Quota}
		var l *relay.Local
		if i < 2 {
			l, err = relay.NewNetworkLocal(m, acfg)
		} else {
			// The third relay's requests hold about two registrations
			// each: a round of many is split over several requests.
			reg := relay.NewRegistryTags(c)
			reg.MaxBody = 2500
			l, err = admission.New(m, reg, acfg)
		}
		if err != nil {
			t.Fatal(err)
		}
		locals = append(locals, l)
	}
	if m, _ := relay.NewMirror(&relay.Client{URL: url1}, f.VerifierKey); m != nil {
		if _, err := relay.NewNetworkLocal(m, admission.Config{Network: admissiontest.Network, Quota: admissiontest.Quota}); err == nil {
			t.Fatal("NewNetworkLocal without a relay key: no error")
		}
	}

	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	scope := admissiontest.Scope(time.Now())
	// The same block at every relay: admitted at each.
	same := f.Prove(t, c, ring, pi, scope, 0, []byte("one block, three relays"))
	for i, l := range locals {
		if res, err := l.Admit(ctx, same); err != nil || !res.Admitted {
			t.Fatalf("relay %d, the same block: %+v %v", i, res, err)
		}
	}
	if v := svc1.Verifications() + svc2.Verifications(); v != 0 {
		t.Fatalf("registering one block at three relays verified %d proofs on the servers, want 0", v)
	}
	// 30 messages with one tag (counter 1), all relays at once.
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for i := range 30 {
		r := f.Prove(t, c, ring, pi, scope, 1, []byte(fmt.Sprint("block ", i)))
		wg.Go(func() {
			_, err := locals[i%3].Admit(ctx, r)
			switch admission.Code(err) {
			case "":
				if err != nil {
					t.Errorf("relay %d: %v", i%3, err)
					return
				}
				admitted.Add(1)
			case "tag_used":
			default:
				t.Errorf("relay %d: %v", i%3, err)
			}
		})
	}
	wg.Wait()
	if n := admitted.Load(); n != 1 {
		t.Fatalf("%d of 30 uses of one tag admitted across 3 relays, want 1", n)
	}
	// Deciding the 29 conflicts verified each loser once and the holder
	// at least once (several conflicts decided at the same moment may each
	// verify it before one marks it verified).
	if v := svc1.Verifications() + svc2.Verifications(); v < 30 || v > 2*29 {
		t.Fatalf("the servers verified %d proofs, want 30 to 58", v)
	}
	if n := svc1.Registrations()["registered"] + svc2.Registrations()["registered"]; n != 4 {
		t.Fatalf("%d registrations succeeded, want 4 (the same block 3 times, then one of 30)", n)
	}

	// A batch of three blocks at the third relay is one round, split into
	// requests under its 2500-byte MaxBody.
	c1 := f.Customers[1]
	ring1, pi1 := f.Ring(t, c1, 16)
	var batch []*admission.Request
	for j := range uint32(3) {
		batch = append(batch, f.Prove(t, c1, ring1, pi1, scope, j, []byte(fmt.Sprint("batched ", j))))
	}
	before := registerCalls.Load()
	results, err := locals[2].AdmitBatch(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	for j, r := range results {
		if !r.Admitted {
			t.Fatalf("batched block %d: %+v", j, r)
		}
	}
	if n := registerCalls.Load() - before; n < 2 || n > 3 {
		t.Fatalf("three registrations of about 1 KB took %d requests under a 2500-byte body bound, want 2 or 3", n)
	}

	// Without a key, or with a body that is not a batch: clear refusals.
	body := `{"registrations": []}`
	resp, err := http.Post(url1+"/v1/tags/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var e struct{ Code string }
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 401 || e.Code != "relay_key_required" {
		t.Fatalf("no key: %d %s", resp.StatusCode, e.Code)
	}
	for _, bad := range []string{`{"proofs": []}`, `[]`, `{"registrations": [` + strings.Repeat(`{},`, admission.MaxRegistrations) + `{}]}`} {
		req, _ := http.NewRequest("POST", url1+"/v1/tags/register", strings.NewReader(bad))
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 400 || (e.Code != "malformed" && e.Code != "batch_too_large") {
			t.Fatalf("body %.30q: %d %s", bad, resp.StatusCode, e.Code)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
