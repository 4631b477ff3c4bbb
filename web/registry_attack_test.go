package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/admission"
)

// TestAttackForgeryRateLimitsHonestRelay: a hostile relay registers a
// forgery of a tag it saw; the honest relay's registration of the real
// block must pay for its own verification only, not the forger's (which
// is the server's cost), or each forgery would cost its victim two
// verifications' tokens and, with its tokens short, its honest block would
// be refused rate_limited.
func TestAttackForgeryRateLimitsHonestRelay(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 30)
	hostileKey, l1, err := NewRelayKey("hostile")
	if err != nil {
		t.Fatal(err)
	}
	victimKey, l2, err := NewRelayKey("victim")
	if err != nil {
		t.Fatal(err)
	}
	// The victim may have 2 tokens now (1/s after): the door's and one
	// verification's, enough to register an honest block in conflict.
	keys, err := ParseRelayKeys([]byte(l1 + "\n" + l2 + " rate=1 burst=2\n"))
	if err != nil {
		t.Fatal(err)
	}
	url, _ := admitServer(t, f, Config{Admit: AdmitLimits{Relay: RateLimit{PerSecond: 1000, Burst: 1000}, RelayInFlight: 256, Keys: keys}})
	post := func(key string, rs ...*admission.Request) admission.Result {
		t.Helper()
		var raws []json.RawMessage
		for _, r := range rs {
			b, _ := json.Marshal(r)
			raws = append(raws, b)
		}
		body, _ := json.Marshal(admission.RegistrationBatch{Registrations: raws})
		req, _ := http.NewRequest("POST", url+"/v1/tags/register", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out admission.BatchResults
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&out) != nil || len(out.Results) != len(rs) {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return out.Results[0]
	}
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	honest := f.Prove(t, c, ring, pi, admissiontest.Scope(time.Now()), 0, []byte("honest block"))
	forgery := *honest
	forgery.Message = []byte("forged block")
	if res := post(hostileKey, &forgery); !res.Admitted {
		t.Fatalf("forgery: %+v", res)
	}
	if res := post(victimKey, honest); !res.Admitted {
		t.Fatalf("the honest relay's registration of a valid block, refused because it was billed for verifying the forgery: %+v", res)
	}
}

// TestAttackRegistrationFloodBudget: registrations are priced by their
// bytes, never verified unless they conflict, and kept with their proofs
// for two days. At the default relay rate one key must not be able to
// write more rows a second than a durable 2-core Postgres was measured to
// take (BenchmarkRegistryTags: about 28,000 rows/s from 4 writers, ring 16),
// and a ring-1024 registration must cost its size.
func TestAttackRegistrationFloodBudget(t *testing.T) {
	const measuredRowsPerSecond = 28_000
	f := admissiontest.New(t, pgtest.Pool(t), 20)
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	r := f.Prove(t, c, ring, pi, admissiontest.Scope(time.Now()), 0, make([]byte, 32))
	b, _ := json.Marshal(r)
	rows := DefaultRelayRate * registrationBytesPerToken / (len(b) + 1)
	if rows > measuredRowsPerSecond {
		t.Errorf("one relay key at default limits may register %d ring-16 rows/s (%d bytes of JSON each), over the %d rows/s the database was measured to take", rows, len(b)+1, measuredRowsPerSecond)
	}
	big := *r
	big.Ring = make([]uint64, 1024)
	big.Signature = make([]byte, 32*1025)
	big.Message = make([]byte, admission.MaxMessageSize)
	bb, _ := json.Marshal(&big)
	if tokens := (len(bb) + registrationBytesPerToken - 1) / registrationBytesPerToken; tokens < 10 {
		t.Errorf("a ring-1024 registration (%d bytes) costs %d tokens", len(bb), tokens)
	}
}

// TestRegistrationChargedBeforeDecoding: a registration body is charged by
// its size before it is decoded, so a relay key cannot make the server
// parse megabytes of JSON beyond its tokens: a 20 KiB body from a key with
// a burst of 2 is refused 429 unread, not 400 after decoding.
func TestRegistrationChargedBeforeDecoding(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 20)
	key, line, err := NewRelayKey("small")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseRelayKeys([]byte(line + " rate=1 burst=2\n"))
	if err != nil {
		t.Fatal(err)
	}
	url, _ := admitServer(t, f, Config{Admit: AdmitLimits{RelayInFlight: 256, Keys: keys}})
	body := `{"registrations": [` + strings.Repeat(`"junk", `, 20<<10/8) + `"junk"]}`
	req, _ := http.NewRequest("POST", url+"/v1/tags/register", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Code string }
	json.NewDecoder(resp.Body).Decode(&e)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a 20 KiB body beyond the key's tokens: %d %s, want 429 before decoding", resp.StatusCode, e.Code)
	}
}
