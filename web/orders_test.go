package web

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/licensed/licensed/migrations/pgtest"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/paytest"
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
		{"not JSON", []byte("plan=basic"), http.StatusBadRequest, "bad_request"},
		{"no plan", body("", addr, "card"), http.StatusBadRequest, "plan_missing"},
		{"unknown plan", body("gold", addr, "card"), http.StatusBadRequest, "plan_unknown"},
		{"no method", body("basic-30d", addr, ""), http.StatusBadRequest, "method_missing"},
		{"method not offered", body("basic-30d", addr, "btc"), http.StatusBadRequest, "method_unavailable"},
		{"no address", body("basic-30d", "", "card"), http.StatusBadRequest, "address_missing"},
		{"address typo", body("basic-30d", addr[:len(addr)-1]+map[bool]string{true: "p", false: "q"}[addr[len(addr)-1] == 'q'], "card"), http.StatusBadRequest, "address_checksum"},
		{"not an address", body("basic-30d", "hello", "card"), http.StatusBadRequest, "address_malformed"},
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
