package web

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/payments"
)

// The browser tests drive a real Chromium (headless, one per test binary,
// reused by every subtest in its own tab) against a real server: Postgres,
// the ledger sequencer, the Bitcoin method on a regtest btcd with the dev
// wallet pages, and the operator dashboard. When a subtest fails, a
// screenshot of its tab is kept under web/testdata/artifacts/ (gitignored)
// and its path logged.

// chromium finds the browser: $CHROMIUM, then the usual names. .ci/run
// installs Debian's chromium when it is missing, so in CI a missing browser
// is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium: .ci/install-deps installs it (apt-get install chromium)")
	}
	t.Skip("no Chromium: install it (apt-get install chromium) or set CHROMIUM")
	return ""
}

// startBrowser starts one headless Chromium for the test and its subtests.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		// Without these, Chromium keeps calling home on a closed network.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 1000),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// The first run starts the browser; it must not have a timeout.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("couldn't start Chromium: %v", err)
	}
	return bctx
}

// tab opens a new tab; when the test fails, it keeps a screenshot.
func tab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			screenshot(t, ctx)
		}
		cancel()
	})
	return ctx
}

var shots atomic.Int64

func screenshot(t *testing.T, ctx context.Context) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(90))
	if err != nil {
		t.Logf("couldn't take a screenshot: %v", err)
		return
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "artifacts"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		dir = os.TempDir()
	}
	name := filepath.Join(dir, fmt.Sprintf("%s_%d.png", regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"), shots.Add(1)))
	if err := os.WriteFile(name, png, 0o644); err != nil {
		t.Logf("couldn't save the screenshot: %v", err)
		return
	}
	loc, _ := chromedp.Run(sctx, chromedp.Location())
	t.Logf("screenshot of %s: %s", loc, name)
}

// step runs browser actions with a deadline, failing the test with what
// it was doing.
func step(t *testing.T, ctx context.Context, what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no result after %v", d)
		}
		t.Fatalf("%s: %v", what, err)
	}
}

func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// waitFor evaluates cond (a JavaScript boolean expression) until it holds,
// across page loads.
func waitFor(t *testing.T, ctx context.Context, what, cond string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := chromedp.Run(sctx, chromedp.Evaluate[bool](cond))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s is still not true after %v (last error: %v)", what, cond, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// browserLogin logs the tab in as the operator and waits for the dashboard.
func browserLogin(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	step(t, ctx, "log in", 15*time.Second,
		chromedp.Navigate(base+"/ops"),
		chromedp.WaitVisible(chromedp.CSS("#password")),
		chromedp.SendKeys(chromedp.CSS("#password"), opsPassword),
		chromedp.Click(chromedp.CSS("#login-submit")),
		chromedp.WaitVisible(chromedp.CSS("ul.queues")),
	)
}

// clickToLoad clicks sel, which submits a form or follows a link, and waits
// for the next page to load (a mark set on the old page is gone).
func clickToLoad(t *testing.T, ctx context.Context, what, sel string) {
	t.Helper()
	run(t, ctx, what+": mark the page", chromedp.Evaluate[bool](`(window.__before = true)`))
	step(t, ctx, what, 10*time.Second, chromedp.Click(chromedp.CSS(sel)))
	waitFor(t, ctx, what+": the next page", `window.__before !== true && document.readyState === "complete"`, 10*time.Second)
}

func TestBrowser(t *testing.T) {
	s := newShop(t, shopOptions{btc: true, devWallet: true})
	browser := startBrowser(t)
	const quick = 10 * time.Second

	t.Run("bad address shows its error", func(t *testing.T) {
		ctx := tab(t, browser)
		good := paytest.Address(t)
		bad := good[:len(good)-1] + string("qp"[boolIndex(good[len(good)-1] == 'q')])
		step(t, ctx, "fill in the storefront", quick,
			chromedp.Navigate(s.URL+"/"),
			chromedp.SendKeys(chromedp.CSS("#address"), bad),
			chromedp.Click(chromedp.CSS(`input[name=method][value=btc]`)),
			chromedp.Click(chromedp.CSS("#buy")),
			chromedp.WaitVisible(chromedp.CSS("#address-error")),
		)
		code := run(t, ctx, "read the error code", chromedp.AttributeValue(chromedp.CSS("#address-error"), "data-code"))
		msg := run(t, ctx, "read the error", chromedp.Text(chromedp.CSS("#address-error")))
		if code.Value != "address_checksum" || !strings.Contains(msg, "typo") {
			t.Fatalf("error %q (%s), want the checksum error", msg, code.Value)
		}
		// The form keeps what was typed, and the field is marked.
		if v := run(t, ctx, "read the field", chromedp.Value(chromedp.CSS("#address"))); v != bad {
			t.Fatalf("the field holds %q, want what was typed", v)
		}
		if inv := run(t, ctx, "aria-invalid", chromedp.AttributeValue(chromedp.CSS("#address"), "aria-invalid")); inv.Value != "true" {
			t.Fatal("the field is not marked invalid")
		}
	})

	var btcOrder string
	t.Run("buy with Bitcoin from the dev wallet", func(t *testing.T) {
		ctx := tab(t, browser)
		step(t, ctx, "order with Bitcoin", quick,
			chromedp.Navigate(s.URL+"/"),
			chromedp.SendKeys(chromedp.CSS("#address"), paytest.Address(t)),
			chromedp.Click(chromedp.CSS(`input[name=method][value=btc]`)),
			chromedp.Click(chromedp.CSS("#buy")),
			chromedp.WaitVisible(chromedp.CSS(`#invoice[data-state="new"]`)),
		)
		btcOrder = run(t, ctx, "order id", chromedp.AttributeValue(chromedp.CSS("#invoice"), "data-order")).Value
		inv, err := s.btc.Invoice(context.Background(), btcOrder)
		if err != nil {
			t.Fatal(err)
		}
		if a := run(t, ctx, "address", chromedp.Text(chromedp.CSS("#btc-address"))); a != inv.Address {
			t.Fatalf("page shows address %q, invoice has %q", a, inv.Address)
		}
		if a := run(t, ctx, "amount", chromedp.Text(chromedp.CSS("#btc-amount"))); a != "0.0001" {
			t.Fatalf("amount %q, want 0.0001 (10,000 sats)", a)
		}
		qr := run(t, ctx, "QR code", chromedp.AttributeValue(chromedp.CSS("img.qr"), "src"))
		if !strings.HasPrefix(qr.Value, "data:image/png;base64,") {
			t.Fatalf("QR code src %.40q", qr.Value)
		}
		// The QR code is drawn (the browser decoded the PNG).
		if w := run(t, ctx, "QR size", chromedp.Evaluate[int](`document.querySelector("img.qr").naturalWidth`)); w < 200 {
			t.Fatalf("QR code is %d px wide", w)
		}
		// The countdown runs.
		c1 := run(t, ctx, "countdown", chromedp.Text(chromedp.CSS("#countdown")))
		step(t, ctx, "wait", quick, chromedp.Sleep(1200*time.Millisecond))
		c2 := run(t, ctx, "countdown", chromedp.Text(chromedp.CSS("#countdown")))
		if !regexp.MustCompile(`^\d+:\d\d left$`).MatchString(c2) || c1 == c2 {
			t.Fatalf("countdown %q then %q", c1, c2)
		}
		// Pay half from the dev wallet in another tab: the invoice page says
		// so in plain words, by itself.
		wallet := tab(t, browser)
		step(t, wallet, "open the dev wallet", quick,
			chromedp.Navigate(s.URL+"/dev/btc/"+btcOrder),
			chromedp.SetValue(chromedp.CSS(`input[name=sats]`), "5000"))
		clickToLoad(t, wallet, "pay half from the dev wallet", "#pay")
		step(t, ctx, "the page shows the partial payment", 20*time.Second,
			chromedp.WaitVisible(chromedp.CSS(`#invoice[data-flags="paid_partial"]`)))
		if msg := run(t, ctx, "status", chromedp.Text(chromedp.CSS("#status"))); !strings.Contains(msg, "Partly paid") || !strings.Contains(msg, "remaining 0.00005 BTC") {
			t.Fatalf("status %q", msg)
		}
		step(t, wallet, "open the dev wallet", quick, chromedp.Navigate(s.URL+"/dev/btc/"+btcOrder))
		clickToLoad(t, wallet, "pay the rest", "#pay")
		// Paid in full, not yet confirmed: the page asks for nothing more,
		// and the flags follow the money (no longer partly paid).
		step(t, ctx, "the page shows the payment received", 20*time.Second,
			chromedp.WaitVisible(chromedp.CSS(`#invoice[data-state="processing"]`)))
		if n := run(t, ctx, "payment prompts", chromedp.Evaluate[int](`document.querySelectorAll("#pay, img.qr, #open-wallet, #btc-address").length`)); n != 0 {
			t.Fatalf("a paid invoice still shows %d payment prompts", n)
		}
		if f := run(t, ctx, "flags", chromedp.AttributeValue(chromedp.CSS("#invoice"), "data-flags")); f.Value != "" {
			t.Fatalf("flags %q once paid in full, want none", f.Value)
		}
		if title := run(t, ctx, "title", chromedp.Title()); !strings.HasPrefix(title, "Paid: waiting for confirmation") {
			t.Fatalf("page title %q does not say the status", title)
		}
		clickToLoad(t, wallet, "mine a block", "#mine")
		step(t, ctx, "the page turns settled", 30*time.Second,
			chromedp.WaitVisible(chromedp.CSS(`#invoice[data-state="settled"]`)),
			chromedp.WaitVisible(chromedp.CSS("#scan-command")))
		if title := run(t, ctx, "status", chromedp.Text(chromedp.CSS("#status-title"))); title != "Paid: your license is in the ledger" {
			t.Fatalf("status %q", title)
		}
		if cmd := run(t, ctx, "command", chromedp.Text(chromedp.CSS("#scan-command"))); cmd != "license scan --server "+s.URL {
			t.Fatalf("scan command %q", cmd)
		}
		s.WaitMinted(btcOrder)
	})

	// A card order whose license can be revoked (card orders keep their
	// link to the ledger entry), and another for the CSRF check.
	revokeMe, keepMe := s.CardOrder("basic-30d"), s.CardOrder("pro-365d")
	s.Settle(revokeMe)
	s.Settle(keepMe)
	s.WaitMinted(revokeMe)
	s.WaitMinted(keepMe)

	t.Run("operator finds the order, exports CSV, revokes", func(t *testing.T) {
		ctx := tab(t, browser)
		browserLogin(t, ctx, s.URL)
		// The revenue chart (an SVG behind the session) is drawn.
		waitFor(t, ctx, "the revenue chart", `document.querySelector("img.chart").complete && document.querySelector("img.chart").naturalWidth === 720`, quick)
		// Chromium keeps the Secure __Host- cookie on http://127.0.0.1.
		cookies := run(t, ctx, "cookies", chromedp.Action[network.GetCookiesResult](func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
			return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{s.URL + "/ops"}})
		})).Cookies
		var session *network.Cookie
		for _, c := range cookies {
			if c.Name == opsCookieSecure {
				session = c
			}
		}
		if session == nil || !session.Secure || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict {
			t.Fatalf("session cookie %+v", session)
		}
		step(t, ctx, "find the order", quick,
			chromedp.Navigate(s.URL+"/ops/orders"),
			chromedp.SendKeys(chromedp.CSS(`#filters input[name=id]`), revokeMe),
			chromedp.Click(chromedp.CSS(`#filters button`)),
		)
		waitFor(t, ctx, "the filtered list", `location.search.includes("id=`+revokeMe+`") && document.readyState === "complete"`, quick)
		step(t, ctx, "the order is listed", quick, chromedp.WaitVisible(chromedp.CSS(`tr[data-order="`+revokeMe+`"]`)))
		if n := run(t, ctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll("#orders tr[data-order]").length`)); n != 1 {
			t.Fatalf("%d rows for one order id", n)
		}
		// Export: the link the page offers, fetched with the page's session.
		csv := run(t, ctx, "export CSV", chromedp.Evaluate[string](`fetch(document.getElementById("export-orders").href).then(r => r.ok ? r.text() : "HTTP " + r.status)`, chromedp.EvalAwaitPromise))
		if !strings.HasPrefix(csv, "order_id,created_at,") || !strings.Contains(csv, revokeMe+",") || strings.Contains(csv, keepMe) {
			t.Fatalf("orders.csv:\n%s", csv)
		}
		all := run(t, ctx, "export all", chromedp.Evaluate[string](`fetch("/ops/export/orders.csv").then(r => r.text())`, chromedp.EvalAwaitPromise))
		for _, id := range []string{revokeMe, keepMe, btcOrder} {
			if !strings.Contains(all, id) {
				t.Errorf("orders.csv of the last 30 days lacks %s", id)
			}
		}
		step(t, ctx, "revoke", quick,
			chromedp.Click(chromedp.CSS(`tr[data-order="`+revokeMe+`"] a`)),
			chromedp.WaitVisible(chromedp.CSS("#revoke-form")),
			chromedp.SendKeys(chromedp.CSS(`#revoke-form input[name=note]`), "browser test"),
			chromedp.Click(chromedp.CSS("#revoke-confirm")),
			chromedp.Click(chromedp.CSS("#revoke")),
			chromedp.WaitVisible(chromedp.CSS("#action-done")),
		)
		if l := run(t, ctx, "license", chromedp.Text(chromedp.CSS("#order-license"))); l != "revoked" {
			t.Fatalf("license shows %q", l)
		}
		if o := s.Order(revokeMe); o.License != payments.LicenseRevoked {
			t.Fatalf("license %q in the database", o.License)
		}
	})

	t.Run("a POST without the CSRF token is refused", func(t *testing.T) {
		ctx := tab(t, browser) // the same browser: still logged in
		step(t, ctx, "open the order", quick,
			chromedp.Navigate(s.URL+"/ops/orders/"+keepMe),
			chromedp.WaitVisible(chromedp.CSS("#revoke-form")))
		run(t, ctx, "remove the token", chromedp.Evaluate[bool](`(document.querySelector('#revoke-form input[name=csrf]').remove(), true)`))
		step(t, ctx, "post the form", quick,
			chromedp.SendKeys(chromedp.CSS(`#revoke-form input[name=note]`), "no token"),
			chromedp.Click(chromedp.CSS("#revoke-confirm")),
			chromedp.Click(chromedp.CSS("#revoke")))
		waitFor(t, ctx, "the answer", `document.body.innerText.includes("csrf_failed")`, quick)
		// A page with a way back, not raw JSON.
		waitFor(t, ctx, "a way back to the form", `document.querySelector("#error-action") !== null`, quick)
		if o := s.Order(keepMe); o.License != payments.LicenseActive {
			t.Fatalf("license %q after a POST without the token", o.License)
		}
	})

	t.Run("a wrong password five times is slowed down", func(t *testing.T) {
		ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext()) // no session cookie
		defer cancel()
		if err := chromedp.Do(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				screenshot(t, ctx)
			}
		})
		var msgs []string
		for i := 0; i < 5; i++ {
			step(t, ctx, "a wrong password", quick,
				chromedp.Navigate(s.URL+"/ops/login"),
				chromedp.SendKeys(chromedp.CSS("#password"), "not the password"),
				chromedp.Click(chromedp.CSS("#login-submit")),
				chromedp.WaitVisible(chromedp.CSS("#login-error")),
			)
			msgs = append(msgs, run(t, ctx, "error", chromedp.Text(chromedp.CSS("#login-error"))))
		}
		if msgs[0] != "Wrong password." || !strings.Contains(msgs[4], "Too many failed attempts") {
			t.Fatalf("messages %q", msgs)
		}
		// (That the right password is refused during the wait is checked
		// without a browser, where the timing is tight: TestOpsLoginSlowedDown.)
	})
}
