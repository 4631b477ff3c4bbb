package web

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/payments"
)

// TestDevCheckout: the dev checkout page's button settles the order through
// the real, signed webhook path, and the license is minted.
func TestDevCheckout(t *testing.T) {
	e := newPayEnv(t)
	id := e.createOrder("basic-30d")
	page := func() string {
		resp, err := http.Get(e.url + "/dev/checkout/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET checkout page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return string(b)
	}
	if p := page(); !strings.Contains(p, `id="pay"`) || !strings.Contains(p, "5.00 USD") {
		t.Fatalf("the page offers no payment:\n%s", p)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(e.url+"/dev/checkout/"+id+"/complete", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dev/checkout/"+id {
		t.Fatalf("complete: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if o := e.Order(id); o.State != payments.StateSettled {
		t.Fatalf("order %s after the test payment", o.State)
	}
	e.WaitSequenced()
	if p := page(); !strings.Contains(p, `id="paid"`) || strings.Contains(p, `id="pay"`) || !strings.Contains(p, "on the ledger") {
		t.Fatalf("the page does not show the payment:\n%s", p)
	}
	if lic, _ := e.licenseEntries(); lic != 1 {
		t.Fatalf("%d license entries, want 1", lic)
	}
	// The event went through the signed webhook: its id is recorded.
	if n := e.count(`select count(*) from stripe_events where type = 'checkout.session.completed'`); n != 1 {
		t.Fatalf("%d recorded events", n)
	}
	// An unknown order has no page.
	if r, err := http.Get(e.url + "/dev/checkout/aaaaaaaaaaaaaaaaaaaaaaaaaa"); err != nil || r.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown order page: %v %v", r.StatusCode, err)
	}
	// Another site's page cannot post the test payment.
	other := e.createOrder("basic-30d")
	req, _ := http.NewRequest(http.MethodPost, e.url+"/dev/checkout/"+other+"/complete", strings.NewReader(""))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r, err := client.Do(req); err != nil || r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site test payment: %v %v, want 403", r.StatusCode, err)
	}
	if o := e.Order(other); o.State != payments.StateNew {
		t.Fatalf("a cross-site post settled the order: %s", o.State)
	}
	// A Bitcoin order is not settled by a test card payment.
	btc := paytest.OrderID(t)
	if _, err := e.DB.Exec(context.Background(), `insert into orders (id, plan, method, amount, currency, address)
		values ($1, 'basic-30d', 'btc', 500, 'usd', $2)`, btc, paytest.Address(t)); err != nil {
		t.Fatal(err)
	}
	resp, err = client.PostForm(e.url+"/dev/checkout/"+btc+"/complete", url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("test card payment of a Bitcoin order: %d, want 409", resp.StatusCode)
	}
	if o := e.Order(btc); o.State != payments.StateNew {
		t.Fatalf("the Bitcoin order is %s after a test card payment", o.State)
	}
}

// TestDevCheckoutBrowser clicks "Complete test payment" in Chromium, as a
// developer does under `licensed dev`.
func TestDevCheckoutBrowser(t *testing.T) {
	e := newPayEnv(t)
	id := e.createOrder("pro-365d")
	ctx := tab(t, startBrowser(t))
	step(t, ctx, "pay on the dev checkout page", 20*time.Second,
		chromedp.Navigate(e.url+"/dev/checkout/"+id),
		chromedp.Click(chromedp.CSS("#pay")),
		chromedp.WaitVisible(chromedp.CSS("#paid")),
	)
	if got := run(t, ctx, "read the status", chromedp.Text(chromedp.CSS("#status"))); got != "settled" {
		t.Fatalf("status %q, want settled", got)
	}
	if o := e.Order(id); o.State != payments.StateSettled || o.License != payments.LicenseActive {
		t.Fatalf("order %s, license %s", o.State, o.License)
	}
}
