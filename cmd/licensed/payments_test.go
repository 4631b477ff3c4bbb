package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensed/licensed/internal/fakestripe"
	"github.com/licensed/licensed/internal/launch/stripemock"
	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/payments"
)

const stormWebhookSecret = "whsec_storm_test"

// serveProc is a `licensed serve` subprocess.
type serveProc struct {
	cmd  *exec.Cmd
	url  string
	logs *strings.Builder
}

// startServe runs `licensed serve` on dbURL with payments on, and waits until
// it listens.
func startServe(t *testing.T, dbURL, dataDir, plansFile, stripeURL string) *serveProc {
	t.Helper()
	cmd := exec.Command(binary(t), "serve", "--database-url", dbURL, "--data-dir", dataDir, "--addr", "127.0.0.1:0",
		"--migrate", "--plans-file", plansFile, "--stripe-api-url", stripeURL, "--log-format", "json", "--order-rate", "0")
	cmd.Env = append(os.Environ(), "STRIPE_SECRET_KEY=sk_test_123", "STRIPE_WEBHOOK_SECRET="+stormWebhookSecret)
	return startServeCmd(t, cmd)
}

// startServeCmd starts cmd, a `licensed serve` with --log-format json, and
// waits until it listens.
func startServeCmd(t *testing.T, cmd *exec.Cmd) *serveProc {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, logs: &strings.Builder{}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan string, 1)
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			p.logs.WriteString(line + "\n")
			mu.Unlock()
			var rec struct{ Msg, URL string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				found <- rec.URL
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			cmd.Wait()
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("licensed serve exited at start; logs:\n%s", p.logs)
		}
		p.url = u
		return p
	case <-time.After(60 * time.Second):
		t.Fatal("licensed serve did not listen within 60 s")
	}
	return nil
}

func (p *serveProc) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

func (p *serveProc) stop(t *testing.T) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("licensed serve stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("licensed serve did not stop within 30 s of SIGTERM")
	}
}

// deliver posts a signed webhook; it reports whether the server acknowledged
// it (Stripe redelivers what was not acknowledged).
func deliver(client *http.Client, url string, payload []byte) bool {
	req, _ := http.NewRequest("POST", url+"/v1/webhooks/stripe", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", fakestripe.SignEvent(payload, stormWebhookSecret, time.Time{}))
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestSettlementStormSIGKILL kills the server process with SIGKILL at random
// moments during a storm of settlement webhooks, 20 times, restarting it each
// time, as Stripe keeps redelivering what was not acknowledged. In the end
// every settled order has exactly one license entry, there is no license
// entry without a settled order, every round balances, no license address is
// left, and `licensed ledger fsck` finds the log sound.
func TestSettlementStormSIGKILL(t *testing.T) {
	const orders, trials = 100, 20
	dbURL := pgtest.URL(t)
	dataDir := t.TempDir()
	if out, err := exec.Command(binary(t), "keygen", "--data-dir", dataDir).CombinedOutput(); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	plansFile := filepath.Join(dataDir, "plans.toml")
	if err := os.WriteFile(plansFile, []byte(payments.SamplePlans), 0o600); err != nil {
		t.Fatal(err)
	}
	stripeURL := stripemock.Start(t)

	srv := startServe(t, dbURL, dataDir, plansFile, stripeURL)
	var ids []string
	for i := 0; i < orders; i++ {
		body, _ := json.Marshal(map[string]string{"plan": "basic-30d", "address": paytest.Address(t), "method": "card"})
		resp, err := http.Post(srv.url+"/v1/orders", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /v1/orders: %d %v", resp.StatusCode, out)
		}
		ids = append(ids, out["order_id"].(string))
	}
	events := make([][]byte, orders)
	for i, id := range ids {
		events[i] = paidEvent(t, dbURL, id)
	}
	acked := make([]bool, orders)
	var mu sync.Mutex

	// storm delivers batch from 8 clients until done or the server dies.
	storm := func(url string, batch []int) {
		ch := make(chan int)
		var wg sync.WaitGroup
		for c := 0; c < 8; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
				defer client.CloseIdleConnections()
				for i := range ch {
					if deliver(client, url, events[i]) {
						mu.Lock()
						acked[i] = true
						mu.Unlock()
					}
				}
			}()
		}
		for _, i := range batch {
			ch <- i
		}
		close(ch)
		wg.Wait()
	}
	pick := func(n int) []int {
		mu.Lock()
		defer mu.Unlock()
		var todo, done []int
		for i, a := range acked {
			if a {
				done = append(done, i)
			} else {
				todo = append(todo, i)
			}
		}
		mrand.Shuffle(len(todo), func(i, j int) { todo[i], todo[j] = todo[j], todo[i] })
		batch := todo[:min(n, len(todo))]
		// Redeliveries of acknowledged events, as Stripe sometimes does.
		for k := 0; k < n/2 && len(done) > 0; k++ {
			batch = append(batch, done[mrand.IntN(len(done))])
		}
		mrand.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
		return batch
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	count := func(sql string) int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	killedWithPending := 0
	// Each trial: a few new settlements among a continuous stream of
	// redeliveries, until SIGKILL 0.05–0.8 s in (the sequencer looks for
	// pending entries every 100 ms and runs rounds at most every second, so
	// kills land before, inside and after rounds).
	for trial := 0; trial < trials; trial++ {
		if srv == nil {
			srv = startServe(t, dbURL, dataDir, plansFile, stripeURL)
		}
		fresh := make(chan int, orders)
		mu.Lock()
		n := 0
		for _, i := range mrand.Perm(orders) {
			if !acked[i] && n < orders/trials {
				fresh <- i
				n++
			}
		}
		mu.Unlock()
		var stop atomic.Bool
		var wg sync.WaitGroup
		// Every fourth trial is killed right after its first new settlement
		// is acknowledged, before the next round can commit it; the others
		// at a random moment.
		firstNew := make(chan struct{}, orders)
		for c := 0; c < 8; c++ {
			wg.Add(1)
			go func(url string) {
				defer wg.Done()
				client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
				defer client.CloseIdleConnections()
				for !stop.Load() {
					// A new settlement, or a redelivery of an
					// acknowledged one.
					var i int
					isNew := false
					select {
					case i = <-fresh:
						isNew = true
					default:
						mu.Lock()
						i = mrand.IntN(orders)
						for k := 0; k < orders && !acked[i]; k++ {
							i = (i + 1) % orders
						}
						ok := acked[i]
						mu.Unlock()
						if !ok {
							time.Sleep(5 * time.Millisecond)
							continue
						}
					}
					if deliver(client, url, events[i]) {
						mu.Lock()
						acked[i] = true
						mu.Unlock()
						if isNew {
							firstNew <- struct{}{}
						}
					} else {
						time.Sleep(5 * time.Millisecond)
					}
				}
			}(srv.url)
		}
		if trial%4 == 0 {
			select {
			case <-firstNew:
			case <-time.After(10 * time.Second):
				t.Fatal("no new settlement acknowledged within 10 s")
			}
		} else {
			time.Sleep(50*time.Millisecond + time.Duration(mrand.IntN(750))*time.Millisecond)
		}
		srv.kill()
		stop.Store(true)
		wg.Wait()
		if count(`select count(*) from ledger_pending`) > 0 {
			killedWithPending++
		}
		srv = nil
	}

	// The last start: Stripe redelivers everything not yet acknowledged.
	srv = startServe(t, dbURL, dataDir, plansFile, stripeURL)
	for attempt := 0; ; attempt++ {
		batch := pick(orders)
		mu.Lock()
		left := 0
		for _, a := range acked {
			if !a {
				left++
			}
		}
		mu.Unlock()
		if left == 0 {
			break
		}
		if attempt == 5 {
			t.Fatalf("%d events still refused after 5 redeliveries; logs:\n%s", left, srv.logs)
		}
		storm(srv.url, batch)
	}
	deadline := time.Now().Add(30 * time.Second)
	for count(`select count(*) from ledger_pending`) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("entries still pending 30 s after the storm")
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.stop(t)

	checks := []struct {
		name string
		sql  string
		want int
	}{
		{"settled orders", `select count(*) from orders where state = 'settled'`, orders},
		{"settled orders minted", `select count(*) from orders where state = 'settled' and mint_round is not null and license_state = 'active'`, orders},
		{"license entries", `select count(*) from ledger_entries where get_byte(data, 1) = 1`, orders},
		{"revoke entries", `select count(*) from ledger_entries where get_byte(data, 1) = 2`, 0},
		{"links", `select count(*) from order_links`, orders},
		{"distinct linked entries that are licenses", `select count(distinct l.ledger_index) from order_links l join ledger_entries e on e.idx = l.ledger_index where get_byte(e.data, 1) = 1`, orders},
		{"license addresses left", `select count(*) from orders where address is not null`, 0},
		{"events recorded", `select count(*) from stripe_events`, orders},
		{"unbalanced rounds", `with o as (select mint_round r, count(*) n from orders where mint_round is not null group by 1),
			l as (select round r, count(*) n from ledger_entries where get_byte(data, 1) = 1 group by 1)
			select count(*) from o full join l on o.r = l.r where coalesce(o.n, 0) <> coalesce(l.n, 0)`, 0},
	}
	for _, c := range checks {
		if got := count(c.sql); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	rounds := count(`select count(*) from ledger_rounds`)
	t.Logf("%d orders settled over %d trials with SIGKILL (%d killed with settled orders not yet sequenced), %d sequencer rounds", orders, trials, killedWithPending, rounds)
	if killedWithPending == 0 {
		t.Error("no kill landed between a settlement and its round: the test did not exercise recovery")
	}

	out, err := exec.Command(binary(t), "ledger", "fsck", "--database-url", dbURL, "--data-dir", dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("licensed ledger fsck: %v\n%s", err, out)
	}
}

// TestCustomerEndToEnd is the customer's path with both real binaries: a new
// account made by `license account new`, an order for its address, Stripe's
// signed webhook, and `license scan` finds exactly that license on the
// ledger of `licensed serve`, checked against the pinned checkpoint key.
func TestCustomerEndToEnd(t *testing.T) {
	dbURL := pgtest.URL(t)
	dataDir := t.TempDir()
	out, err := exec.Command(binary(t), "keygen", "--data-dir", dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	_, vkey, ok := strings.Cut(string(out), "verifier key: ")
	if !ok {
		t.Fatalf("keygen printed no verifier key: %s", out)
	}
	vkey = strings.TrimSpace(vkey)
	plansFile := filepath.Join(dataDir, "plans.toml")
	if err := os.WriteFile(plansFile, []byte(payments.SamplePlans), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, dbURL, dataDir, plansFile, stripemock.Start(t))

	licenseBin := filepath.Join(t.TempDir(), "license")
	if out, err := exec.Command("go", "build", "-o", licenseBin, "../license").CombinedOutput(); err != nil {
		t.Fatalf("go build ../license: %v\n%s", err, out)
	}
	home := t.TempDir()
	license := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(licenseBin, args...)
		cmd.Env = append(os.Environ(), "LICENSE_ACCOUNT="+filepath.Join(home, "account"), "LICENSE_PASSPHRASE=correct horse",
			"LICENSE_SERVER="+srv.url, "LICENSE_LEDGER_KEY="+vkey, "HOME="+home)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("license %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	license("account", "new")
	addr := strings.TrimSpace(license("account", "address"))

	// Someone else's licenses around ours.
	order := func(address string) string {
		body, _ := json.Marshal(map[string]string{"plan": "pro-365d", "address": address, "method": "card"})
		resp, err := http.Post(srv.url+"/v1/orders", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST /v1/orders: %d %v", resp.StatusCode, out)
		}
		return out["order_id"].(string)
	}
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, order(paytest.Address(t)))
	}
	mine := order(addr)
	ids = append(ids, mine)
	for _, id := range ids {
		ev := paidEvent(t, dbURL, id)
		if !deliver(http.DefaultClient, srv.url, ev) {
			t.Fatalf("webhook for %s refused", id)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(srv.url + "/v1/orders/" + mine)
		if err != nil {
			t.Fatal(err)
		}
		var o map[string]any
		json.NewDecoder(resp.Body).Decode(&o)
		resp.Body.Close()
		if o["minted"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order not minted after 20 s: %v", o)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Wait until every order's round has committed, so the scan sees all.
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for {
		var n int
		conn.QueryRow(context.Background(), `select count(*) from ledger_pending`).Scan(&n)
		if n == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	scan := license("scan", "--quiet")
	if !strings.Contains(scan, "1 new license(s) found") {
		t.Fatalf("license scan: %q", scan)
	}
	list := license("list")
	if !strings.Contains(list, "pro-365d") || !strings.Contains(list, "valid") || strings.Count(strings.TrimSpace(list), "\n") != 1 {
		t.Fatalf("license list does not show exactly one valid pro-365d license: %q", list)
	}
	t.Logf("license scan: %s", strings.TrimSpace(scan))
	srv.stop(t)
}

// TestDevCardPayment: `licensed dev` takes a card order through stripe-mock
// and its dev checkout page, and mints the license.
func TestDevCardPayment(t *testing.T) {
	dataDir, err := os.MkdirTemp("", "licensed-dev-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dataDir) })
	cmd, url, logs := startDev(t, dataDir)
	body, _ := json.Marshal(map[string]string{"plan": "basic-30d", "address": paytest.Address(t), "method": "card"})
	resp, err := http.Post(url+"/v1/orders", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var created map[string]any
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	id, _ := created["order_id"].(string)
	if resp.StatusCode != http.StatusCreated || created["checkout_url"] != "/dev/checkout/"+id {
		t.Fatalf("POST /v1/orders: %d %v; logs:\n%s", resp.StatusCode, created, logs)
	}
	resp, err = http.PostForm(url+"/dev/checkout/"+id+"/complete", nil)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `id="paid"`) {
		t.Fatalf("after the test payment: %d\n%s", resp.StatusCode, page)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/v1/orders/" + id)
		if err != nil {
			t.Fatal(err)
		}
		var o map[string]any
		json.NewDecoder(resp.Body).Decode(&o)
		resp.Body.Close()
		if o["status"] == "settled" && o["minted"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order not minted after 20 s: %v", o)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

// paidEvent returns the checkout.session.completed (paid) event that Stripe
// sends for card order id, read from the database at dbURL.
func paidEvent(t *testing.T, dbURL, id string) []byte {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	return paytest.CheckoutEvent(t, conn, "checkout.session.completed", id, true)
}
