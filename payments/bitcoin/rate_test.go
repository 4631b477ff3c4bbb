package bitcoin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestSats(t *testing.T) {
	for _, tc := range []struct {
		name              string
		price, rate, want int64
	}{
		{"exact", 500, 5_000_000, 10_000},              // $5 at $50,000
		{"rounds up", 1, 3, 33_333_334},                // never less than the price
		{"one btc", 5_000_000, 5_000_000, 1e8},         // price = rate
		{"cheap coin", 100, 100, 1e8},                  // $1 at $1
		{"big", 100_000_000, 6_543_210, 1_528_301_858}, // $1M at $65,432.10
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Sats(tc.price, tc.rate)
			if err != nil || got != tc.want {
				t.Fatalf("Sats(%d, %d) = %d, %v; want %d", tc.price, tc.rate, got, err, tc.want)
			}
		})
	}
	if _, err := Sats(0, 1); err == nil {
		t.Error("zero price accepted")
	}
}

func TestParseStaticRate(t *testing.T) {
	r, err := ParseStaticRate("usd=50000.5, EUR=46000")
	if err != nil || r["usd"] != 5_000_050 || r["eur"] != 4_600_000 {
		t.Fatalf("%v, %v", r, err)
	}
	for _, bad := range []string{"", "usd", "usd=-1", "usd=x", "usd=0"} {
		if _, err := ParseStaticRate(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := r.Rate(context.Background(), "gbp"); err == nil {
		t.Error("rate for an unknown currency")
	}
}

func TestParseTicker(t *testing.T) {
	for _, tc := range []struct {
		name, body, path string
		want             int64
		ok               bool
	}{
		{"coinbase", `{"data":{"base":"BTC","currency":"USD","amount":"65432.10"}}`, "data.amount", 6_543_210, true},
		{"coingecko", `{"bitcoin":{"usd":65432.1}}`, "bitcoin.usd", 6_543_210, true},
		{"array", `{"result":[{"p":"1.5"}]}`, "result.0.p", 150, true},
		{"missing", `{"bitcoin":{}}`, "bitcoin.usd", 0, false},
		{"negative", `{"p":-3}`, "p", 0, false},
		{"not json", `<html>`, "p", 0, false},
		{"object", `{"p":{}}`, "p", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseTicker([]byte(tc.body), tc.path)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("got %d, %v; want %d ok=%v", got, err, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseTicker(f *testing.F) {
	f.Add([]byte(`{"data":{"amount":"65432.10"}}`), "data.amount")
	f.Add([]byte(`[1,2]`), "1")
	f.Fuzz(func(t *testing.T, body []byte, path string) {
		if v, err := ParseTicker(body, path); err == nil && v <= 0 {
			t.Fatalf("non-positive rate %d accepted", v)
		}
	})
}

func TestTickerRateCachesAndFails(t *testing.T) {
	var calls atomic.Int32
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		if r.URL.Path != "/BTC-USD" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"data":{"amount":"50000"}}`))
	}))
	defer srv.Close()
	now := time.Unix(1e9, 0)
	tr := &TickerRate{URL: srv.URL + "/BTC-{CURRENCY}", Path: "data.amount", Now: func() time.Time { return now }}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if r, err := tr.Rate(ctx, "usd"); err != nil || r != 5_000_000 {
			t.Fatalf("rate %d, %v", r, err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("%d calls within the TTL, want 1", calls.Load())
	}
	down.Store(true)
	now = now.Add(2 * time.Minute) // past the TTL, within MaxAge: stale price served
	if r, err := tr.Rate(ctx, "usd"); err != nil || r != 5_000_000 {
		t.Fatalf("stale rate %d, %v", r, err)
	}
	now = now.Add(time.Hour) // past MaxAge: refused
	if _, err := tr.Rate(ctx, "usd"); err == nil {
		t.Fatal("a price older than MaxAge was served while the ticker is down")
	}
	if _, err := tr.Rate(ctx, "eur"); err == nil {
		t.Fatal("unknown currency priced")
	}
}

func FuzzParseStaticRate(f *testing.F) {
	f.Add("usd=50000.5, EUR=46000")
	f.Add("usd=1e3")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseStaticRate(s)
		if err != nil {
			return
		}
		for cur, v := range r {
			if v <= 0 {
				t.Fatalf("%s priced %d", cur, v)
			}
		}
	})
}
