package web

import (
	"bytes"
	"html/template"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/licensed/licensed/payments"
)

// DevCheckout enables the dev checkout pages, the stand-in for Stripe's hosted
// checkout under `licensed dev` with stripe-mock, which sends no webhooks.
// Never enable it in production: it settles orders without payment.
type DevCheckout struct {
	// PaidEvent returns a checkout.session.completed event saying that
	// card order o is paid, and its Stripe-Signature header signed with the
	// webhook secret, as Stripe would send them (fakestripe.PaidCheckout).
	PaidEvent func(o *payments.Order) (payload []byte, signature string)
}

var devCheckoutTmpl = template.Must(template.New("checkout").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test checkout · licensed dev</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem}
.box{border:1px solid #ccc;border-radius:8px;padding:1rem 1.5rem}button{font-size:1rem;padding:.5rem 1rem}
.note{color:#666;font-size:.9rem}</style></head>
<body><h1>Test checkout</h1>
<p class="note">This page stands in for Stripe Checkout under <code>licensed dev</code>. No money moves.</p>
<div class="box">
<p>Order <code id="order-id">{{.OrderID}}</code></p>
<p>Plan <b>{{.Plan}}</b>: {{.Price}}</p>
<p>Status: <b id="status">{{.Status}}</b>{{if .License}}, license <b id="license">{{.License}}</b>{{end}}{{if .Minted}} (on the ledger){{end}}</p>
{{if eq .Status "new"}}
<form method="post" action="/dev/checkout/{{.OrderID}}/complete">
<button id="pay" type="submit">Complete test payment</button></form>
{{else if eq .Status "settled"}}<p id="paid">Paid. Your license is minted in the next ledger round: find it with <code>license scan</code>.</p>{{end}}
</div></body></html>
`))

type devCheckoutView struct {
	OrderID, Plan, Price, Status, License string
	Minted                                bool
}

func (s *Server) devCheckoutPage(c echo.Context) error {
	o, err := s.deps.Payments.Order(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	v := devCheckoutView{OrderID: o.ID, Plan: o.Plan, Price: formatMoney(o.Amount, o.Currency),
		Status: string(o.State), License: string(o.License), Minted: o.Minted()}
	var buf bytes.Buffer
	if err := devCheckoutTmpl.Execute(&buf, v); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}

// devCheckoutComplete signs a checkout.session.completed event (paid) for the
// order, as Stripe would, and hands it to the payments service's webhook
// handling, so the real signature check and settlement path run. It then
// sends the browser back to the checkout page.
func (s *Server) devCheckoutComplete(c echo.Context) error {
	o, err := s.deps.Payments.Order(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	if o.Method != payments.MethodCard {
		return Errorf(http.StatusConflict, "not_a_card_order", "This order is paid by "+o.Method+", not by card: pay it on its invoice page.")
	}
	payload, sig := s.deps.DevCheckout.PaidEvent(o)
	if err := s.deps.Payments.HandleStripe(c.Request().Context(), payload, sig); err != nil {
		s.log.Warn("dev checkout: the webhook refused the test payment", "order_id", o.ID, "err", err)
		return Errorf(http.StatusBadGateway, "dev_webhook_failed", "The server's webhook refused the test payment: see the server log.")
	}
	return c.Redirect(http.StatusSeeOther, "/dev/checkout/"+o.ID)
}
