package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/internal/admissiontest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/pgadmission"
	"github.com/licensed/licensed/ledger/relay"
	"github.com/licensed/licensed/ringverify"
)

// admitServer runs a real server (web.New) for the fixture's ledger on a
// loopback listener, with its own database pool, as a separate server
// process would have, and returns its URL.
func admitServer(t *testing.T, f *admissiontest.Ledger, cfg Config) (string, *admission.Service) {
	t.Helper()
	return admitServerOver(t, f, cfg, f.Index)
}

// admitServerOver is admitServer with admission looking members up in lic
// (the fixture's index, wrapped to count or hold lookups).
func admitServerOver(t *testing.T, f *admissiontest.Ledger, cfg Config, lic admission.Licenses, mods ...func(*admission.Config)) (string, *admission.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := pgxpool.New(ctx, f.DB.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	acfg := admission.Config{Network: admissiontest.Network, Quota: admissiontest.Quota}
	for _, mod := range mods {
		mod(&acfg)
	}
	svc, err := admission.New(lic, pgadmission.NewPostgresTags(db), acfg)
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, Deps{DB: db, Admission: svc, Ledger: &LedgerDeps{Store: f.Ledger.Store(), VerifierKey: f.VerifierKey}}, slog.New(slog.DiscardHandler))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		db.Close()
	})
	return "http://" + l.Addr().String(), svc
}

// post sends body and returns the status, the Retry-After header and the
// body.
func post(t *testing.T, url string, body []byte) (int, string, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), b
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAdmitEndToEnd: two customers among many decoy licenses prove and are
// admitted over HTTP by two servers on one database; a relay verifies the
// same proofs locally from its mirror of the ledger; retries are the same
// success; 50 concurrent uses of one tag with different messages, spread
// over both servers, admit exactly one.
func TestAdmitEndToEnd(t *testing.T) {
	ctx := context.Background()
	f := admissiontest.New(t, pgtest.Pool(t), 150)
	urlA, _ := admitServer(t, f, Config{})
	urlB, _ := admitServer(t, f, Config{})
	a, b := &relay.Client{URL: urlA}, &relay.Client{URL: urlB}
	scope := admissiontest.Scope(time.Now())

	// Both customers pick decoys from the server's valid list.
	valid, err := a.Valid(ctx, admissiontest.Basic)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(valid.Indices, f.Index.Valid(admissiontest.Basic, f.Today)) || len(valid.Indices) != 150+2 || valid.At != f.Today.Format(time.DateOnly) {
		t.Fatalf("valid list: %d indices at %s", len(valid.Indices), valid.At)
	}
	var proofs []*admission.Request
	for i, c := range f.Customers {
		ring, pi := f.Ring(t, c, 16)
		for _, r := range ring {
			if !slices.Contains(valid.Indices, r) {
				t.Fatalf("ring member %d is not in the valid list", r)
			}
		}
		req := f.Prove(t, c, ring, pi, scope, 0, []byte(fmt.Sprintf("block of customer %d", i)))
		res, err := a.Admit(ctx, req)
		if err != nil {
			t.Fatalf("customer %d: %v", i, err)
		}
		if !res.Admitted || res.Plan != admissiontest.Basic || !res.ValidUntil.Equal(f.Today.AddDate(0, 0, 30)) {
			t.Fatalf("customer %d: %+v", i, res)
		}
		// A retry, on the other server, is the same success.
		again, err := b.Admit(ctx, req)
		if err != nil || *again.ValidUntil != *res.ValidUntil || again.Plan != res.Plan {
			t.Fatalf("retry of customer %d: %+v, %v", i, again, err)
		}
		proofs = append(proofs, req)
	}

	// The relay mirrors the ledger through tiles and verifies locally.
	m, err := relay.NewMirror(a, f.VerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// The mirror follows the suspension feed too: its valid list is the
	// server's, the suspended license left out.
	if got := m.Valid(admissiontest.Basic, f.Today); !slices.Equal(got, valid.Indices) {
		t.Fatalf("mirror's valid list has %d indices, want the server's %d", len(got), len(valid.Indices))
	}
	if mm, err := m.Member(f.Special["suspended"]); err != nil || mm.State.String() != "suspended" {
		t.Fatalf("mirror's suspended member: %+v, %v", mm, err)
	}
	if mm, err := m.Member(f.Special["revoked"]); err != nil || mm.State.String() != "revoked" {
		t.Fatalf("mirror's revoked member: %+v, %v", mm, err)
	}
	local, err := relay.NewLocal(m, admission.Config{Network: admissiontest.Network, Quota: admissiontest.Quota})
	if err != nil {
		t.Fatal(err)
	}
	for i, req := range proofs {
		res, err := local.Admit(ctx, req)
		if err != nil || !res.Admitted || res.Plan != admissiontest.Basic {
			t.Fatalf("local verification of customer %d: %+v, %v", i, res, err)
		}
		other := *req
		other.Message = []byte("another block")
		if _, err := local.Admit(ctx, &other); admission.Code(err) != "bad_signature" {
			t.Fatalf("local verification of a changed message: %v", err)
		}
	}

	// 50 uses of one tag, different messages, both servers at once.
	c := f.Customers[1]
	reqs := make([][]byte, 50)
	for i := range reqs {
		ring, pi := f.Ring(t, c, 16)
		reqs[i] = mustJSON(t, f.Prove(t, c, ring, pi, scope, 1, []byte(fmt.Sprintf("concurrent %d", i))))
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, body := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			url := []string{urlA, urlB}[i%2] + "/v1/admit"
			resp, err := http.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			var e Error
			json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
			if resp.StatusCode == http.StatusConflict && e.Code != "tag_used" {
				t.Errorf("409 with code %q", e.Code)
			}
		}()
	}
	close(start)
	wg.Wait()
	if statuses[200] != 1 || statuses[409] != 49 {
		t.Fatalf("statuses %v, want one 200 and 49 409", statuses)
	}
}

// TestAdmitRefusals checks each refusal's code and status over HTTP.
func TestAdmitRefusals(t *testing.T) {
	ctx := context.Background()
	f := admissiontest.New(t, pgtest.Pool(t), 30)
	url, _ := admitServer(t, f, Config{})
	now := time.Now()
	scope := admissiontest.Scope(now)
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	withMember := func(index uint64) []uint64 {
		r := slices.Clone(ring)
		r[(pi+1)%16] = index
		return r
	}
	// Use the whole quota first.
	for j := range uint32(admissiontest.BasicQuota) {
		if _, err := (&relay.Client{URL: url}).Admit(ctx, f.Prove(t, c, ring, pi, scope, j, []byte(fmt.Sprint("use ", j)))); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	prove := func(ring []uint64, scope string, counter uint32) *admission.Request {
		n++
		return f.Prove(t, c, ring, pi, scope, counter, []byte(fmt.Sprint("refused ", n)))
	}
	cases := []struct {
		name   string
		body   func() []byte
		status int
		code   string
	}{
		{"quota exhausted", func() []byte { return mustJSON(t, prove(ring, scope, admissiontest.BasicQuota)) }, 400, "counter_over_quota"},
		{"revoked member", func() []byte { return mustJSON(t, prove(withMember(f.Special["revoked"]), scope, 0)) }, 400, "member_revoked"},
		{"expired member", func() []byte { return mustJSON(t, prove(withMember(f.Special["expired"]), scope, 0)) }, 400, "member_expired"},
		{"suspended member", func() []byte { return mustJSON(t, prove(withMember(f.Special["suspended"]), scope, 0)) }, 400, "member_suspended"},
		{"old scope", func() []byte { return mustJSON(t, prove(ring, admissiontest.Scope(now.AddDate(0, 0, -2)), 0)) }, 400, "scope_not_current"},
		{"wrong counter", func() []byte { r := prove(ring, scope, 1); r.Counter = 2; return mustJSON(t, r) }, 400, "bad_signature"},
		{"tag reused", func() []byte { return mustJSON(t, prove(ring, scope, 0)) }, 409, "tag_used"},
		{"not JSON", func() []byte { return []byte("ring=1,2,3") }, 400, "malformed"},
		{"unknown field", func() []byte { return []byte(`{"scope":"x","message":"AQID","plan":"pro"}`) }, 400, "malformed"},
		{"bad base64", func() []byte { return []byte(`{"scope":"x","message":"AQI*"}`) }, 400, "malformed"},
		{"batch too large", nil, 400, "batch_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path, body := "/v1/admit", []byte(nil)
			if tc.body == nil {
				path, body = "/v1/admit/batch", []byte(`{"proofs":[`+strings.Repeat(`{},`, admission.MaxBatch)+`{}]}`)
			} else {
				body = tc.body()
			}
			status, _, got := post(t, url+path, body)
			var e Error
			if err := json.Unmarshal(got, &e); err != nil {
				t.Fatalf("not a JSON error: %s", got)
			}
			if status != tc.status || e.Code != tc.code || e.Message == "" {
				t.Fatalf("%d %s %q, want %d %s", status, e.Code, e.Message, tc.status, tc.code)
			}
		})
	}
}

// TestAdmitBatchHTTP sends a batch of mixed items, one of which does not
// decode: one result per item, in order.
func TestAdmitBatchHTTP(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 30)
	url, _ := admitServer(t, f, Config{})
	scope := admissiontest.Scope(time.Now())
	c0, c1 := f.Customers[0], f.Customers[1]
	r0, p0 := f.Ring(t, c0, 16)
	r1, p1 := f.Ring(t, c1, 16)
	bad := f.Prove(t, c1, r1, p1, scope, 2, []byte("x"))
	bad.Message = []byte("y")
	items := []json.RawMessage{
		mustJSON(t, f.Prove(t, c0, r0, p0, scope, 0, []byte("a"))),
		json.RawMessage(`{"scope":"x","counter":-1}`),
		mustJSON(t, bad),
		mustJSON(t, f.Prove(t, c1, r1, p1, scope, 0, []byte("b"))),
		mustJSON(t, f.Prove(t, c1, r1, p1, scope, 0, []byte("c"))),
		mustJSON(t, f.Prove(t, c0, r0, p0, scope, admissiontest.BasicQuota, []byte("d"))),
	}
	want := []string{"", "malformed", "bad_signature", "", "tag_used", "counter_over_quota"}
	status, _, body := post(t, url+"/v1/admit/batch", mustJSON(t, map[string]any{"proofs": items}))
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	var out admission.BatchResults
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Results) != len(items) {
		t.Fatalf("%d results for %d items", len(out.Results), len(items))
	}
	for i, r := range out.Results {
		if r.Code != want[i] || r.Admitted != (want[i] == "") || (r.Code != "" && r.Message == "") {
			t.Errorf("item %d: %+v, want %q", i, r, want[i])
		}
	}
}

// TestValidList checks the list's shape, caching header and refusals.
func TestValidList(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 10)
	url, _ := admitServer(t, f, Config{})
	cases := []struct {
		name, query string
		status      int
		code        string
	}{
		{"basic", "?plan=basic", 200, ""},
		{"pro", "?plan=pro", 200, ""},
		{"unknown plan", "?plan=gold", 404, "plan_unknown"},
		{"no plan", "", 400, "malformed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(url + "/v1/licenses/valid" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if tc.code != "" {
				var e Error
				if json.Unmarshal(body, &e); e.Code != tc.code {
					t.Fatalf("code %q", e.Code)
				}
				return
			}
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=60") {
				t.Fatalf("Cache-Control %q", cc)
			}
			var v relay.ValidList
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
			plan := strings.TrimPrefix(tc.query, "?plan=")
			if want := f.Index.Valid(plan, f.Today); v.Plan != plan || !slices.Equal(v.Indices, want) || !slices.IsSorted(v.Indices) || len(want) == 0 {
				t.Fatalf("list %+v, want %v", v, want)
			}
			for _, idx := range v.Indices {
				for name, special := range f.Special {
					if idx == special && name != "pro" {
						t.Fatalf("the %s license %d is listed", name, idx)
					}
				}
			}
		})
	}
}

// TestAdmitRateLimit answers 429 with Retry-After once a client exceeds
// its rate.
func TestAdmitRateLimit(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 0)
	url, _ := admitServer(t, f, Config{AdmitLimit: RateLimit{PerSecond: 0.5, Burst: 2}})
	var codes []int
	for range 3 {
		status, retry, _ := post(t, url+"/v1/admit", []byte(`{}`))
		codes = append(codes, status)
		if status == 429 && retry == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if !slices.Equal(codes, []int{400, 400, 429}) {
		t.Fatalf("statuses %v, want 400 400 429", codes)
	}
}

// postAs sends body as the client at address from (the server trusts
// X-Forwarded-For) with the Authorization header auth, if any; it returns
// the status, Retry-After and the error code ("" for a 200).
func postAs(t *testing.T, url, from, auth string, body []byte) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", from)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e Error
	if resp.StatusCode != 200 {
		if err := json.Unmarshal(b, &e); err != nil || e.Code == "" || e.Message == "" {
			t.Fatalf("%d without a coded error: %s", resp.StatusCode, b)
		}
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), e.Code
}

// forgeries returns n proofs that are well formed and do not verify: a real
// proof sent with other messages. Without a proof of work required, each
// costs the server a full verification.
func forgeries(t testing.TB, f *admissiontest.Ledger, n int) []*admission.Request {
	t.Helper()
	c := f.Customers[1]
	ring, pi := f.Ring(t, c, 16)
	base := f.Prove(t, c, ring, pi, admissiontest.Scope(time.Now()), 0, []byte("signed"))
	out := make([]*admission.Request, n)
	for i := range out {
		r := *base
		r.Message = []byte(fmt.Sprint("forged ", i))
		out[i] = &r
	}
	return out
}

func batchBody(t testing.TB, rs []*admission.Request) []byte {
	return mustJSON(t, map[string]any{"proofs": rs})
}

// TestAdmitCost: a batch of n proofs costs n tokens, a batch larger than the
// burst is refused before anything is verified, and a client can make the
// server verify no more proofs than it has tokens.
func TestAdmitCost(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 20)
	// Ten tokens, and (practically) no refill during the test.
	url, svc := admitServer(t, f, Config{TrustProxy: true, AdmitLimit: RateLimit{PerSecond: 0.001, Burst: 10}})
	forged := forgeries(t, f, 30)
	const me = "192.0.2.10"
	steps := []struct {
		name          string
		path          string
		body          []byte
		status        int
		code          string
		verifications int64 // in total so far
	}{
		// Refused at once, for the one token taken at the door.
		{"batch over the burst", "/v1/admit/batch", batchBody(t, forged[:11]), 429, "batch_over_limit", 0},
		{"batch of 7 within the burst", "/v1/admit/batch", batchBody(t, forged[11:18]), 200, "", 7},
		// 2 tokens left: the door takes one, the batch needs two more.
		{"batch of 3 with 2 tokens left", "/v1/admit/batch", batchBody(t, forged[19:22]), 429, "rate_limited", 7},
		{"single with the last token", "/v1/admit", mustJSON(t, forged[22]), 400, "bad_signature", 8},
		{"single without tokens", "/v1/admit", mustJSON(t, forged[23]), 429, "rate_limited", 8},
		{"empty batch without tokens", "/v1/admit/batch", []byte(`{"proofs":[]}`), 429, "rate_limited", 8},
	}
	for _, st := range steps {
		status, retry, code := postAs(t, url+st.path, me, "", st.body)
		if status != st.status || code != st.code {
			t.Fatalf("%s: %d %s, want %d %s", st.name, status, code, st.status, st.code)
		}
		if status == 429 {
			if n, err := strconv.Atoi(retry); err != nil || n < 1 {
				t.Fatalf("%s: Retry-After %q", st.name, retry)
			}
		}
		if got := svc.Verifications(); got != st.verifications {
			t.Fatalf("%s: %d signatures verified so far, want %d", st.name, got, st.verifications)
		}
	}
	// The rate_limited answer tells the real wait: a token every 1000 s.
	if _, retry, _ := postAs(t, url+"/v1/admit", me, "", mustJSON(t, forged[24])); retry != "1000" {
		t.Fatalf("Retry-After %q, want 1000", retry)
	}
	// Another client has its own tokens.
	if status, _, code := postAs(t, url+"/v1/admit", "192.0.2.11", "", mustJSON(t, forged[25])); status != 400 || code != "bad_signature" {
		t.Fatalf("another client: %d %s", status, code)
	}
}

// heldLicenses is the fixture's index whose member lookups wait until
// released: the requests that reach them stay in flight.
type heldLicenses struct {
	admission.Licenses
	reached chan struct{} // one value per lookup that waits
	release chan struct{}
}

func (h *heldLicenses) Member(index uint64) (ringverify.Member, error) {
	select {
	case h.reached <- struct{}{}:
	default:
	}
	<-h.release
	return h.Licenses.Member(index)
}

// TestAdmitInFlight bounds the proofs in flight per client (429
// too_many_in_flight) and in total (503 overloaded), each with
// Retry-After, refusing before anything is verified, and lets proofs in
// again once the ones in flight are answered.
func TestAdmitInFlight(t *testing.T) {
	f := admissiontest.New(t, pgtest.Pool(t), 20)
	held := &heldLicenses{Licenses: f.Index, reached: make(chan struct{}, 1024), release: make(chan struct{})}
	url, svc := admitServerOver(t, f, Config{TrustProxy: true, Admit: AdmitLimits{InFlight: 2, Total: 3}}, held,
		func(c *admission.Config) { c.Workers = 8 }) // the cores do not bound what is in flight here
	scope := admissiontest.Scope(time.Now())
	c0, c1 := f.Customers[0], f.Customers[1]
	ring0, pi0 := f.Ring(t, c0, 16)
	ring1, pi1 := f.Ring(t, c1, 16)
	proof := func(c admissiontest.Customer, ring []uint64, pi int, counter uint32) []byte {
		return mustJSON(t, f.Prove(t, c, ring, pi, scope, counter, []byte(fmt.Sprint("in flight ", counter))))
	}
	var wg sync.WaitGroup
	held200 := func(from string, body []byte) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, _, code := postAs(t, url+"/v1/admit", from, "", body); status != 200 {
				t.Errorf("held request from %s: %d %s", from, status, code)
			}
		}()
		<-held.reached // it is in flight, waiting at its first member
	}
	held200("192.0.2.1", proof(c0, ring0, pi0, 0))
	held200("192.0.2.1", proof(c0, ring0, pi0, 1))
	refusals := []struct {
		name, from string
		path       string
		body       []byte
		status     int
		code       string
	}{
		{"a third from the same client", "192.0.2.1", "/v1/admit", proof(c0, ring0, pi0, 2), 429, "too_many_in_flight"},
		{"a batch larger than the bound", "192.0.2.9", "/v1/admit/batch", batchBody(t, forgeries(t, f, 3)), 429, "batch_over_limit"},
	}
	check := func(name, from, path string, body []byte, wantStatus int, wantCode string) {
		t.Helper()
		status, retry, code := postAs(t, url+path, from, "", body)
		if status != wantStatus || code != wantCode || retry == "" {
			t.Fatalf("%s: %d %s (Retry-After %q), want %d %s with Retry-After", name, status, code, retry, wantStatus, wantCode)
		}
	}
	for _, r := range refusals {
		check(r.name, r.from, r.path, r.body, r.status, r.code)
	}
	held200("192.0.2.2", proof(c1, ring1, pi1, 0)) // the third in flight
	check("a fourth in total", "192.0.2.3", "/v1/admit", proof(c1, ring1, pi1, 1), 503, "overloaded")
	if n := svc.Verifications(); n != 0 {
		t.Fatalf("%d signatures verified while every request was held or refused", n)
	}
	close(held.release)
	wg.Wait()
	if n := svc.Verifications(); n != 3 {
		t.Fatalf("%d signatures verified, want the 3 held requests'", n)
	}
	// Nothing is in flight any more: the first client may send again.
	if status, _, code := postAs(t, url+"/v1/admit", "192.0.2.1", "", proof(c0, ring0, pi0, 2)); status != 200 {
		t.Fatalf("after the held requests were answered: %d %s", status, code)
	}
}

// TestAdmitRelayKeys: a relay key selects that relay's own limits, higher
// than the anonymous ones and apart from its address's; relay.Client sends
// it; a key the server does not know, or a header that is not a bearer
// key, is 401 relay_key_invalid, never served as anonymous.
func TestAdmitRelayKeys(t *testing.T) {
	ctx := context.Background()
	f := admissiontest.New(t, pgtest.Pool(t), 20)
	ownKey, ownLine, err := NewRelayKey("relay-own")
	if err != nil {
		t.Fatal(err)
	}
	defKey, defLine, err := NewRelayKey("relay-default")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseRelayKeys([]byte("# relays\n" + ownLine + " rate=1000 burst=64 inflight=64\n" + defLine + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	url, svc := admitServer(t, f, Config{
		AdmitLimit: RateLimit{PerSecond: 0.001, Burst: 3},
		Admit:      AdmitLimits{InFlight: 2, Relay: RateLimit{PerSecond: 1e6, Burst: 16}, RelayInFlight: 16, Keys: keys},
	})
	forged := forgeries(t, f, 40)
	scope := admissiontest.Scope(time.Now())
	c := f.Customers[0]
	ring, pi := f.Ring(t, c, 16)
	real := f.Prove(t, c, ring, pi, scope, 0, []byte("relayed"))

	anon := &relay.Client{URL: url}
	own := &relay.Client{URL: url, Key: ownKey}
	def := &relay.Client{URL: url, Key: defKey}
	code := func(err error) (int, string, time.Duration) {
		var e *relay.Error
		if !errors.As(err, &e) {
			t.Fatalf("not a server refusal: %v", err)
		}
		return e.Status, e.Code, e.RetryAfter
	}

	// An anonymous batch of 20 is over the anonymous bounds; the relay
	// with its own limits sends it.
	if _, err := anon.AdmitBatch(ctx, forged[:20]); err == nil {
		t.Fatal("an anonymous batch of 20 was taken")
	} else if status, c, _ := code(err); status != 429 || c != "batch_over_limit" {
		t.Fatalf("anonymous batch of 20: %d %s", status, c)
	}
	res, err := own.AdmitBatch(ctx, append([]*admission.Request{real}, forged[:20]...))
	if err != nil {
		t.Fatalf("the relay's batch of 21: %v", err)
	}
	if !res[0].Admitted || res[1].Code != "bad_signature" {
		t.Fatalf("the relay's batch: %+v, %+v", res[0], res[1])
	}
	// A key without limits of its own gets the default relay ones.
	if _, err := def.AdmitBatch(ctx, forged[:17]); err == nil {
		t.Fatal("a batch of 17 over the default relay burst was taken")
	} else if status, c, _ := code(err); status != 429 || c != "batch_over_limit" {
		t.Fatalf("default relay, batch of 17: %d %s", status, c)
	}
	if _, err := def.AdmitBatch(ctx, forged[:16]); err != nil {
		t.Fatalf("default relay, batch of 16: %v", err)
	}

	// The anonymous client at the relay's own address (its refused batch
	// took one token of three) runs out of tokens; the relay does not.
	for range 2 {
		if _, err := anon.Admit(ctx, forged[30]); err == nil {
			t.Fatal("a forged proof was admitted")
		} else if _, c, _ := code(err); c != "bad_signature" {
			t.Fatalf("anonymous within its burst: %s", c)
		}
	}
	if _, err := anon.Admit(ctx, forged[31]); err == nil {
		t.Fatal("taken past the burst")
	} else if status, c, wait := code(err); status != 429 || c != "rate_limited" || wait < time.Second {
		t.Fatalf("anonymous past its burst: %d %s, Retry-After %v", status, c, wait)
	}
	if res, err := own.Admit(ctx, real); err != nil || !res.Admitted {
		t.Fatalf("the relay after the anonymous client ran out: %+v, %v", res, err)
	}

	// Bad keys: 401, nothing verified.
	before := svc.Verifications()
	for _, tc := range []struct{ name, header string }{
		{"unknown key", "Bearer " + RelayKeyPrefix + strings.Repeat("A", 43)},
		{"one character off", "Bearer " + ownKey[:len(ownKey)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(ownKey, "A")]},
		{"not a relay key", "Bearer something"},
		{"basic credentials", "Basic dXNlcjpwYXNz"},
		{"bare key", ownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, c := postAs(t, url+"/v1/admit", "192.0.2.1", tc.header, mustJSON(t, forged[32]))
			if status != 401 || c != "relay_key_invalid" {
				t.Fatalf("%d %s, want 401 relay_key_invalid", status, c)
			}
		})
	}
	if _, err := (&relay.Client{URL: url, Key: "lrk_unknown"}).AdmitBatch(ctx, forged[:1]); err == nil {
		t.Fatal("an unknown key was served")
	} else if status, c, _ := code(err); status != 401 || c != "relay_key_invalid" {
		t.Fatalf("relay.Client with an unknown key: %d %s", status, c)
	}
	if n := svc.Verifications() - before; n != 0 {
		t.Fatalf("requests with bad keys made %d verifications", n)
	}
}
