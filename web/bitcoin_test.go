package web

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/licensed/licensed/internal/btcdtest"
	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/bitcoin"
)

// devBTCServer is a server with the Bitcoin method, its watcher, a ledger
// sequencer and the dev wallet pages, on its own btcd and database.
func devBTCServer(t *testing.T, dev bool) (*httptest.Server, *btcdtest.Node) {
	t.Helper()
	db := pgtest.Pool(t)
	node := btcdtest.Start(t)
	acct, err := bitcoin.ParseAccount(btcdtest.TestKeys().AccountTpub, node.Params())
	if err != nil {
		t.Fatal(err)
	}
	btc, err := bitcoin.New(db, bitcoin.Config{Params: node.Params(), Account: acct,
		Rates: bitcoin.StaticRate{"usd": 5_000_000}, RPC: node.ConnConfig(true), Tick: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	env := paytest.New(t, paytest.Options{DB: db, NoCard: true, Methods: []payments.Method{btc}})
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); btc.Run(ctx, env.Service) }()
	t.Cleanup(func() { cancel(); <-runDone })
	deps := Deps{DB: db, Payments: env.Service}
	if dev {
		deps.BitcoinDev = &BitcoinDev{Bitcoin: btc, Pay: node.Wallet.PayTo, Mine: node.Mine}
	}
	hs := httptest.NewServer(New(Config{}, deps, slog.New(slog.DiscardHandler)).Handler())
	t.Cleanup(hs.Close)
	return hs, node
}

func devBTCDo(t *testing.T, method, u string, form url.Values, wantStatus int) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: %d %s, want %d", method, u, resp.StatusCode, b, wantStatus)
	}
	out := map[string]any{}
	json.Unmarshal(b, &out)
	return out
}

func devBTCOrder(t *testing.T, base string) (id, address string) {
	t.Helper()
	body := `{"plan":"basic-30d","method":"btc","address":"` + paytest.Address(t) + `"}`
	resp, err := http.Post(base+"/v1/orders", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var o map[string]any
	json.NewDecoder(resp.Body).Decode(&o)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create order: %d %v", resp.StatusCode, o)
	}
	return o["order_id"].(string), o["address"].(string)
}

func TestDevWalletPaysAndMines(t *testing.T) {
	hs, _ := devBTCServer(t, true)
	id, addr := devBTCOrder(t, hs.URL)

	resp, err := http.Get(hs.URL + "/dev/btc/" + id)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), addr) || !strings.Contains(string(page), "0.0001 BTC") {
		t.Fatalf("dev wallet page %d lacks the invoice:\n%s", resp.StatusCode, page)
	}

	for _, tc := range []struct {
		name, path string
		form       url.Values
		status     int
		code       string
	}{
		{"bad amount", "/dev/btc/" + id + "/pay", url.Values{"sats": {"-5"}}, 400, "bad_amount"},
		{"too many blocks", "/dev/btc/mine", url.Values{"blocks": {"11"}}, 400, "bad_blocks"},
		{"unknown order", "/dev/btc/nosuchorder/pay", nil, 404, "not_found"},
		{"order id not UTF-8 (reaches Postgres)", "/dev/btc/%FF/pay", nil, 400, "bad_encoding"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := devBTCDo(t, "POST", hs.URL+tc.path, tc.form, tc.status)
			if out["code"] != tc.code {
				t.Fatalf("code %v, want %s", out["code"], tc.code)
			}
		})
	}

	paid := devBTCDo(t, "POST", hs.URL+"/dev/btc/"+id+"/pay", nil, 200)
	if len(paid["txid"].(string)) != 64 || paid["sats"].(float64) != 10_000 {
		t.Fatalf("pay answered %v", paid)
	}
	devBTCWait(t, hs.URL, id, "processing")
	mined := devBTCDo(t, "POST", hs.URL+"/dev/btc/mine", nil, 200)
	if len(mined["blocks"].([]any)) != 1 {
		t.Fatalf("mine answered %v", mined)
	}
	devBTCWait(t, hs.URL, id, "settled")

	// A browser form post is sent back to the page.
	req, _ := http.NewRequest("POST", hs.URL+"/dev/btc/mine", strings.NewReader("back="+id))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/dev/btc/"+id {
		t.Fatalf("form post: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestDevWalletOffOutsideDev(t *testing.T) {
	hs, _ := devBTCServer(t, false)
	id, _ := devBTCOrder(t, hs.URL)
	devBTCDo(t, "POST", hs.URL+"/dev/btc/"+id+"/pay", nil, 404)
	devBTCDo(t, "POST", hs.URL+"/dev/btc/mine", nil, 404)
}

func devBTCWait(t *testing.T, base, id, status string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/v1/orders/" + id)
		if err != nil {
			t.Fatal(err)
		}
		var o map[string]any
		json.NewDecoder(resp.Body).Decode(&o)
		resp.Body.Close()
		if o["status"] == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s is %v, want %s", id, o["status"], status)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
