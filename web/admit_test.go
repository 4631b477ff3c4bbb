package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/ledger/admission/admissiontest"
	"github.com/licensed/licensed/ledger/relay"
	"github.com/licensed/licensed/migrations/pgtest"
)

// admitServer runs a real server (web.New) for the fixture's ledger on a
// loopback listener, with its own database pool, as a separate server
// process would have, and returns its URL.
func admitServer(t *testing.T, f *admissiontest.Ledger, cfg Config) (string, *admission.Service) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	db, err := pgxpool.New(ctx, f.DB.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := admission.New(f.Index, admission.NewPostgresTags(db), admission.Config{
		Network: admissiontest.Network, Quota: admissiontest.Quota,
	})
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

func mustJSON(t *testing.T, v any) []byte {
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
	// Suspensions are not ledger entries: the mirror lists the suspended
	// license, and only it, in addition (see package relay).
	want := slices.Sorted(slices.Values(append(slices.Clone(valid.Indices), f.Special["suspended"])))
	if got := m.Valid(admissiontest.Basic, f.Today); !slices.Equal(got, want) {
		t.Fatalf("mirror's valid list has %d indices, want the server's %d and the suspended one", len(got), len(valid.Indices))
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
