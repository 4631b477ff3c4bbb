package web

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/licensed/licensed/payments"
)

// TestPagesFitEveryWidth opens every page in Chromium at a desktop
// (1280×800) and a phone (390×844) width and checks that none scrolls
// sideways: the page's scrollWidth is at most its clientWidth. Long order
// ids, addresses and wide tables must wrap or scroll inside their box. On a
// failure the page's screenshot is kept in testdata/artifacts.
func TestPagesFitEveryWidth(t *testing.T) {
	s := newShop(t, shopOptions{btc: true})
	ctx := context.Background()
	c := s.client()
	btcOrder := func() string { return c.btcOrder("basic-30d") }
	setState := func(id string, state payments.State, flags payments.Flags) {
		if _, err := s.DB.Exec(ctx, `update orders set state = $2, flags = $3 where id = $1`, id, state, flags); err != nil {
			t.Fatal(err)
		}
	}
	unpaid, partial, late, expired := btcOrder(), btcOrder(), btcOrder(), btcOrder()
	setState(partial, payments.StateNew, payments.FlagPaidPartial)
	setState(late, payments.StateExpired, payments.FlagPaidLate)
	setState(expired, payments.StateExpired, 0)
	card := s.CardOrder("pro-365d")
	s.Settle(card)
	s.WaitMinted(card)

	pages := []string{
		"/", "/explorer", "/no/such/page",
		"/invoice/" + unpaid, "/invoice/" + partial, "/invoice/" + late, "/invoice/" + expired, "/invoice/" + card,
		"/ops/login",
		"/ops", "/ops/orders", "/ops/payments", "/ops/exceptions", "/ops/reconcile", "/ops/audit",
		"/ops/orders/" + card, "/ops/orders/" + late,
	}
	browser := startBrowser(t)
	tb := tab(t, browser)
	const quick = 15 * time.Second
	browserLogin(t, tb, s.URL)
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1280, 800}, {"phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			step(t, tb, "set the viewport", quick, chromedp.EmulateViewport(size.w, size.h))
			for _, p := range pages {
				step(t, tb, "open "+p, quick, chromedp.Navigate(s.URL+p), chromedp.WaitReady(chromedp.CSS("footer")))
				over := run(t, tb, "measure "+p, chromedp.Evaluate[int](
					`document.documentElement.scrollWidth - document.documentElement.clientWidth`))
				if over > 0 {
					t.Errorf("%s at %dx%d: %d px wider than the screen", p, size.w, size.h, over)
					screenshot(t, tb)
				}
			}
		})
	}
}
