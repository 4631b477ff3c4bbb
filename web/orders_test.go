package web

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/internal/launch/stripemock"
	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/migrations"
	"github.com/licensed/licensed/payments"
)

func TestOrdersAPI(t *testing.T) {
	e := newPayEnv(t)
	addr := paytest.Address(t)
	body := func(plan, address, method string) []byte {
		b, _ := json.Marshal(map[string]string{"plan": plan, "address": address, "method": method})
		return b
	}
	tests := []struct {
		name   string
		body   []byte
		status int
		code   string
	}{
		{"ok", body("basic-30d", addr, "card"), http.StatusCreated, ""},
		{"not JSON", []byte("plan=basic"), http.StatusBadRequest, "malformed"},
		{"unknown field", []byte(`{"plan":"basic-30d","adress":"x","method":"card"}`), http.StatusBadRequest, "unknown_field"},
		{"trailing data", append(body("basic-30d", addr, "card"), []byte(`{"plan":"pro-365d"}`)...), http.StatusBadRequest, "malformed"},
		{"a Bitcoin address", body("basic-30d", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "card"), http.StatusBadRequest, "address_is_bitcoin"},
		{"a legacy Bitcoin address", body("basic-30d", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "card"), http.StatusBadRequest, "address_is_bitcoin"},
		{"no plan", body("", addr, "card"), http.StatusBadRequest, "plan_missing"},
		{"unknown plan", body("gold", addr, "card"), http.StatusBadRequest, "plan_unknown"},
		{"no method", body("basic-30d", addr, ""), http.StatusBadRequest, "method_missing"},
		{"method not offered", body("basic-30d", addr, "btc"), http.StatusBadRequest, "method_unavailable"},
		{"no address", body("basic-30d", "", "card"), http.StatusBadRequest, "address_missing"},
		{"address typo", body("basic-30d", addr[:len(addr)-1]+map[bool]string{true: "p", false: "q"}[addr[len(addr)-1] == 'q'], "card"), http.StatusBadRequest, "address_checksum"},
		{"not an address", body("basic-30d", "hello", "card"), http.StatusBadRequest, "address_malformed"},
	}
	// A form post is told to send JSON, not that its method is missing.
	if status, out := e.do("POST", "/v1/orders", []byte("plan=basic-30d&method=card"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); status != http.StatusUnsupportedMediaType || out["code"] != "unsupported_media_type" {
		t.Fatalf("form post: %d %v", status, out)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.do("POST", "/v1/orders", tt.body, nil)
			if status != tt.status {
				t.Fatalf("status %d %v, want %d", status, out, tt.status)
			}
			if tt.code != "" {
				if out["code"] != tt.code || out["message"] == "" {
					t.Fatalf("answer %v, want code %s with a message", out, tt.code)
				}
				return
			}
			id, _ := out["order_id"].(string)
			if !payments.ValidOrderID(id) || out["status"] != "new" || out["checkout_url"] != "/dev/checkout/"+id {
				t.Fatalf("answer %v", out)
			}
			status, got := e.do("GET", "/v1/orders/"+id, nil, nil)
			if status != http.StatusOK || got["order_id"] != id || got["status"] != "new" || got["plan"] != "basic-30d" ||
				got["amount"] != float64(500) || got["currency"] != "usd" || got["minted"] != false {
				t.Fatalf("GET: %d %v", status, got)
			}
			raw, _ := json.Marshal(got)
			if strings.Contains(string(raw), addr) || strings.Contains(string(raw), "address") {
				t.Fatalf("the order's answer shows the license address: %s", raw)
			}
		})
	}
	for _, path := range []string{"/v1/orders/aaaaaaaaaaaaaaaaaaaaaaaaaa", "/v1/orders/nope"} {
		if status, out := e.do("GET", path, nil, nil); status != http.StatusNotFound || out["code"] != "not_found" {
			t.Fatalf("GET %s: %d %v", path, status, out)
		}
	}
	status, out := e.do("GET", "/v1/plans", nil, nil)
	plans, _ := out["plans"].([]any)
	if status != http.StatusOK || len(plans) != 2 || plans[0].(map[string]any)["id"] != "basic-30d" {
		t.Fatalf("GET /v1/plans: %d %v", status, out)
	}
	if n := e.count(`select count(*) from orders`); n != 1 {
		t.Fatalf("%d orders stored, want 1", n)
	}
}

// TestOrderCardUnavailable: when Stripe does not answer, the customer gets a
// 503 with a code, and no order is left behind.
func TestOrderCardUnavailable(t *testing.T) {
	db := pgtest.Pool(t)
	// The card method's Stripe API refuses connections.
	svc := paytest.NewService(t, db, paytest.NewCard(t, payments.CardConfig{}))
	ts := httptest.NewServer(New(Config{}, Deps{DB: db, Payments: svc}, slog.New(slog.DiscardHandler)).Handler())
	defer ts.Close()
	body, _ := json.Marshal(map[string]string{"plan": "basic-30d", "address": paytest.Address(t), "method": "card"})
	resp, err := http.Post(ts.URL+"/v1/orders", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusServiceUnavailable || out["code"] != "card_unavailable" {
		t.Fatalf("got %d %v, want 503 card_unavailable", resp.StatusCode, out)
	}
	var n int
	if err := db.QueryRow(context.Background(), `select count(*) from orders`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d orders stored (%v), want none", n, err)
	}
}

// stripeCalls counts the requests that really reach the Stripe API (here
// stripe-mock), by method and path: it is the card's HTTP transport.
type stripeCalls struct {
	mu sync.Mutex
	n  map[string]int
}

func (sc *stripeCalls) RoundTrip(r *http.Request) (*http.Response, error) {
	sc.mu.Lock()
	sc.n[r.Method+" "+r.URL.Path]++
	sc.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (sc *stripeCalls) count(prefix string) int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	n := 0
	for k, v := range sc.n {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

// outageEnv is a server with card payments through stripe-mock on a
// database cluster of its own, which the test may stop.
type outageEnv struct {
	t     *testing.T
	db    *pgxpool.Pool
	stop  func() error
	calls *stripeCalls
	url   string
}

func newOutageEnv(t *testing.T) *outageEnv {
	t.Helper()
	ctx := context.Background()
	c := pgtest.StartCluster(t, false)
	if err := c.EnsureDatabase(ctx, "licensed"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.URL("licensed"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := migrations.Up(ctx, conn); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	db, err := pgxpool.New(ctx, c.URL("licensed"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	calls := &stripeCalls{n: map[string]int{}}
	card := paytest.NewCard(t, payments.CardConfig{APIURL: stripemock.Start(t), HTTPClient: &http.Client{Transport: calls}})
	svc := paytest.NewService(t, db, card)
	ts := httptest.NewServer(New(Config{}, Deps{DB: db, Payments: svc}, slog.New(slog.DiscardHandler)).Handler())
	t.Cleanup(ts.Close)
	return &outageEnv{t: t, db: db, stop: c.Stop, calls: calls, url: ts.URL}
}

// order posts a card order and returns the status, the Retry-After header
// and the answer.
func (e *outageEnv) order() (int, string, map[string]any) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"plan": "basic-30d", "address": paytest.Address(e.t), "method": "card"})
	resp, err := http.Post(e.url+"/v1/orders", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header.Get("Retry-After"), out
}

// TestOrderDatabaseDown: with the database stopped, an order is a 503
// database_unavailable with Retry-After, and Stripe is never called; other
// reads of the database answer the same.
func TestOrderDatabaseDown(t *testing.T) {
	e := newOutageEnv(t)
	status, _, out := e.order()
	if status != http.StatusCreated {
		t.Fatalf("with the database up: %d %v", status, out)
	}
	created := e.calls.count("POST /v1/checkout/sessions")
	if created != 1 {
		t.Fatalf("%d Checkout Sessions created for one order (calls %v)", created, e.calls.n)
	}
	id := out["order_id"].(string)

	e.stop()
	for i := range 20 {
		status, retry, out := e.order()
		if status != http.StatusServiceUnavailable || out["code"] != "database_unavailable" || retry == "" {
			t.Fatalf("order %d with the database down: %d %v, Retry-After %q; want 503 database_unavailable with Retry-After", i, status, out, retry)
		}
	}
	if n := e.calls.count(""); n != created {
		t.Fatalf("Stripe was called %d times while the database was down (calls %v)", n-created, e.calls.n)
	}
	resp, err := http.Get(e.url + "/v1/orders/" + id)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("GET the order with the database down: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestOrderWriteFailsAfterStripe: when the order cannot be stored after
// Stripe made its Checkout Session, the session is expired at Stripe.
func TestOrderWriteFailsAfterStripe(t *testing.T) {
	e := newOutageEnv(t)
	// A real refusal from the database, after the check that it answers.
	if _, err := e.db.Exec(context.Background(), `
		create function refuse_orders() returns trigger language plpgsql as $$ begin raise exception 'refused by the test'; end $$;
		create trigger refuse_orders before insert on orders for each row execute function refuse_orders()`); err != nil {
		t.Fatal(err)
	}
	status, _, out := e.order()
	if status != http.StatusInternalServerError {
		t.Fatalf("order with its insert refused: %d %v", status, out)
	}
	created, expired := e.calls.count("POST /v1/checkout/sessions"), 0
	for k, v := range e.calls.n {
		if strings.HasSuffix(k, "/expire") {
			expired += v
		}
	}
	if created != 2 || expired != 1 { // the session, then its expiry
		t.Fatalf("Stripe calls %v: want one session created and expired", e.calls.n)
	}
}
