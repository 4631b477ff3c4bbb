package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/bitcoin"
)

// InvoiceSource gives the invoice page the Bitcoin details of an order
// (the Bitcoin method implements it, through an adapter in cmd/licensed).
type InvoiceSource interface {
	// Invoice returns the invoice of the Bitcoin order orderID, or an error
	// with Code() "not_found".
	Invoice(ctx context.Context, orderID string) (Invoice, error)
}

// Invoice is what a customer needs to pay a Bitcoin order.
type Invoice struct {
	Address   string    // where to pay
	AmountSat int64     // what to pay, fixed at creation
	PaidSat   int64     // received so far, confirmed or not
	ExpiresAt time.Time // after this, a payment is late
	// Rate is the price of one bitcoin the amount was fixed at, in minor
	// units of the order's currency (0: not known).
	Rate int64
	// Confirmations of the payment (0 while unconfirmed) and how many the
	// server waits for.
	Confirmations, Needed int
}

// BIP21 returns the payment URI of the invoice (BIP 21), with the amount in
// BTC written exactly.
func (inv Invoice) BIP21() string {
	return bitcoin.URI{Address: inv.Address, Sats: inv.AmountSat}.String()
}

type checkoutForm struct {
	Plan, Address, Method string
}

type storefrontView struct {
	Plans   []payments.Plan
	Methods []string
	Form    checkoutForm
	// Errors by field ("plan", "address", "method", "" for the form), with
	// the machine-readable code of each.
	Errors     map[string]string
	ErrorCodes map[string]string
	// Polls are the open polls, listed below the form (polls.go).
	Polls []pollSummary
}

func (s *Server) storefront(c echo.Context) error {
	svc := s.deps.Payments
	v := storefrontView{Plans: svc.Plans().List(), Methods: svc.Methods()}
	if len(v.Plans) > 0 {
		v.Form.Plan = v.Plans[0].ID
	}
	if len(v.Methods) > 0 {
		v.Form.Method = v.Methods[0]
	}
	if p := c.QueryParam("plan"); p != "" {
		v.Form.Plan = p
	}
	v.Polls = s.openPolls(c)
	return s.render(c, http.StatusOK, "storefront", "Buy a license", v)
}

// sentence makes a package's error message a sentence to show.
func sentence(msg string) string {
	// Go's package prefixes are for logs, not for the people reading the
	// answer.
	for _, p := range []string{"issuer: ", "ledger: ", "payments: ", "ringverify: ", "admission: ", "bitcoin: ", "reconcile: ", "web: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	if msg == "" {
		return msg
	}
	msg = strings.ToUpper(msg[:1]) + msg[1:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// checkout takes the storefront's form: on a mistake it shows the form again
// with the error next to the field; otherwise it sends the customer to pay.
func (s *Server) checkout(c echo.Context) error {
	svc := s.deps.Payments
	f := checkoutForm{Plan: c.FormValue("plan"), Address: strings.TrimSpace(c.FormValue("address")), Method: c.FormValue("method")}
	v := storefrontView{Plans: svc.Plans().List(), Methods: svc.Methods(), Form: f, Errors: map[string]string{}, ErrorCodes: map[string]string{}}
	fail := func(field, code, msg string) {
		if _, dup := v.Errors[field]; !dup {
			v.Errors[field], v.ErrorCodes[field] = msg, code
		}
	}
	if _, ok := svc.Plans().Get(f.Plan); !ok {
		fail("plan", "plan_unknown", "Choose one of the plans above.")
	}
	if svc.Method(f.Method) == nil {
		fail("method", "method_unavailable", "Choose card or Bitcoin.")
	}
	if f.Address == "" {
		fail("address", "address_missing", "Paste the license address the license tool printed (it starts with lic1).")
	} else if err := payments.NotABitcoinAddress(f.Address); err != nil {
		fail("address", "address_is_bitcoin", err.Error())
	} else if _, err := issuer.ParseAddress(f.Address); err != nil {
		fail("address", issuer.AddressErrorCode(err), sentence(issuerMessage(err)))
	}
	if len(v.Errors) == 0 {
		o, pay, err := svc.CreateOrder(c.Request().Context(), f.Plan, f.Address, f.Method)
		if err == nil {
			if f.Method == payments.MethodCard {
				u, _ := pay["checkout_url"].(string)
				if u == "" {
					return fmt.Errorf("web: the card method returned no checkout URL for order %s", o.ID)
				}
				return c.Redirect(http.StatusSeeOther, u)
			}
			return c.Redirect(http.StatusSeeOther, "/invoice/"+o.ID)
		}
		var cd coded
		if !errors.As(err, &cd) {
			return err
		}
		switch code := cd.Code(); {
		case strings.HasPrefix(code, "address_"):
			fail("address", code, sentence(issuerMessage(err)))
		case code == "plan_unknown":
			fail("plan", code, sentence(cd.Error()))
		case code == "method_unavailable":
			fail("method", code, sentence(cd.Error()))
		default:
			fail("", code, sentence(cd.Error()))
		}
	}
	return s.render(c, http.StatusUnprocessableEntity, "storefront", "Buy a license", v)
}

// issuerMessage is the user's sentence of an address error, without the
// detail meant for logs.
func issuerMessage(err error) string {
	var ae *issuer.AddressError
	if errors.As(err, &ae) {
		return ae.Message
	}
	return err.Error()
}

type invoiceView struct {
	Order   *payments.Order
	Plan    payments.Plan
	Invoice *Invoice
	BTC     string // amount in BTC
	PaidBTC string
	DueBTC  string
	URI     template.URL // bitcoin: URIs are not among html/template's safe schemes
	QR      template.URL
	// Rate is the price the amount was fixed at ("1 BTC = 50,000.00 USD").
	Rate string
	// SecondsLeft until the invoice expires (0 when it has), and Deadline,
	// the same as a time (shown without JavaScript).
	SecondsLeft int
	Deadline    time.Time
	Status      payStatus
	ScanCommand string
	// Contact is how to reach the operator (Pages.Contact).
	Contact string
	// Cancelled: the customer came back from the card payment page
	// without paying.
	Cancelled bool
	// DevWallet links the regtest dev wallet page (licensed dev only).
	DevWallet bool
}

// payStatus is the order's state in plain words, and what the page offers.
type payStatus struct {
	State   string `json:"state"`
	Flags   string `json:"flags"`
	Title   string `json:"title"`
	Message string `json:"message"`
	Final   bool   `json:"final"`
	// SecondsLeft until the invoice expires, for the countdown.
	SecondsLeft int `json:"seconds_left"`
	// Pay: the page asks for money (QR code, address, wallet link). Only
	// while the order is new, unpaid or partly paid, and not expired.
	Pay bool `json:"pay"`
	// Operator: the customer must write to the operator (refunds, late
	// payments); the page shows how.
	Operator bool `json:"operator"`
	// NewOrder: the page offers a new order of the same plan.
	NewOrder bool `json:"new_order"`
}

func describe(o *payments.Order, inv *Invoice, now time.Time) payStatus {
	st := payStatus{State: string(o.State), Flags: o.Flags.String()}
	partial := o.Flags&payments.FlagPaidPartial != 0
	switch o.State {
	case payments.StateNew:
		st.Title = "Waiting for your payment"
		st.Message = "Send the exact amount to the address below before the deadline."
		st.Pay = inv != nil
		if o.Method == payments.MethodCard {
			st.Message = "Finish paying on the card payment page. This page turns green as soon as the payment is confirmed; you can leave it open."
		}
		if partial && inv != nil {
			st.Title = "Partly paid"
			st.Message = fmt.Sprintf("We received %s BTC of %s BTC. Send the remaining %s BTC to the same address before the deadline.",
				bitcoin.FormatBTC(inv.PaidSat), bitcoin.FormatBTC(inv.AmountSat), bitcoin.FormatBTC(max(0, inv.AmountSat-inv.PaidSat)))
		}
		if inv != nil && !now.Before(inv.ExpiresAt) {
			st.Title = "Expiring"
			st.Message = "The time to pay is over. Do not send anything now: this page will confirm in a moment."
			st.Pay = false
		}
	case payments.StateProcessing:
		st.Title = "Paid: waiting for confirmation"
		st.Message = "Your payment arrived in full. This page turns green when it is confirmed; you can leave it open. Do not send anything more."
		if inv != nil && inv.Needed > 0 {
			st.Message = fmt.Sprintf("Your payment arrived in full and has %d of %d confirmations. This page turns green when it is confirmed; you can leave it open. Do not send anything more.", inv.Confirmations, inv.Needed)
		}
	case payments.StateSettled:
		st.Final = true
		st.Title = "Paid: your license is in the ledger"
		st.Message = "Find it with the license tool and your account (the command is below). Nobody else can tell which license is yours."
		if o.Flags&payments.FlagPaidOver != 0 {
			st.Message += " You paid more than the amount: write to the operator with your order id to get the difference back."
			st.Operator = true
		}
		if o.Flags&payments.FlagPaidLate != 0 {
			st.Message += " Your payment came after the invoice expired; the operator accepted it."
		}
	case payments.StateExpired:
		st.Final = true
		st.NewOrder = true
		st.Title = "Expired"
		st.Message = "This invoice expired before it was paid. Do not send anything to its address; place a new order instead."
		switch {
		case o.Flags&payments.FlagPaidLate != 0:
			st.Final = false
			st.NewOrder = false
			st.Operator = true
			st.Title = "Paid late"
			st.Message = "Your payment arrived after the invoice expired. The operator will check it and settle the order or refund you; keep this page's address."
		case partial:
			st.Title = "Expired, partly paid"
			st.Message = "The invoice expired with only part of the amount paid. Write to the operator with your order id to get it back."
			st.Operator = true
		}
	case payments.StateInvalid:
		st.Final = true
		st.NewOrder = true
		st.Title = "Payment failed"
		st.Message = "The payment did not go through. Nothing was charged; place a new order to try again."
	}
	if inv != nil && o.State == payments.StateNew {
		st.SecondsLeft = max(0, int(inv.ExpiresAt.Sub(now).Seconds()))
	}
	return st
}

// formatRate writes the price of a bitcoin in minor units as "1 BTC =
// 50,000.00 USD".
func formatRate(minor int64, currency string) string {
	whole := strconv.FormatInt(minor/100, 10)
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return fmt.Sprintf("1 BTC = %s.%02d %s", b.String(), minor%100, strings.ToUpper(currency))
}

func (s *Server) loadInvoice(c echo.Context) (*payments.Order, *Invoice, error) {
	ctx := c.Request().Context()
	o, err := s.deps.Payments.Order(ctx, c.Param("id"))
	if err != nil {
		return nil, nil, err
	}
	if o.Method != payments.MethodBTC || s.deps.Pages.Invoices == nil {
		return o, nil, nil
	}
	inv, err := s.deps.Pages.Invoices.Invoice(ctx, o.ID)
	if err != nil {
		return nil, nil, err
	}
	return o, &inv, nil
}

func (s *Server) invoicePage(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	o, inv, err := s.loadInvoice(c)
	if err != nil {
		var cd coded
		if errors.As(err, &cd) && cd.Code() == "not_found" {
			return s.render(c, http.StatusNotFound, "notfound", "No such order", nil)
		}
		return err
	}
	plan, _ := s.deps.Payments.Plans().Get(o.Plan)
	v := invoiceView{Order: o, Plan: plan, Invoice: inv, Status: describe(o, inv, time.Now()),
		Contact: s.deps.Pages.Contact, Cancelled: c.QueryParam("cancelled") != "" && o.State == payments.StateNew}
	if inv != nil {
		v.BTC, v.PaidBTC, v.DueBTC = bitcoin.FormatBTC(inv.AmountSat), bitcoin.FormatBTC(inv.PaidSat), bitcoin.FormatBTC(max(0, inv.AmountSat-inv.PaidSat))
		if v.Status.Pay {
			// The payment request itself: only while the page asks for
			// money, so a paid invoice shows no QR code to pay twice.
			v.URI = template.URL(inv.BIP21())
			if v.QR, err = s.deps.Pages.invoiceQRs().dataURL(inv.BIP21()); err != nil {
				return fmt.Errorf("web: couldn't make the QR code: %w", err)
			}
		}
		if inv.Rate > 0 {
			v.Rate = formatRate(inv.Rate, o.Currency)
		}
		v.SecondsLeft = v.Status.SecondsLeft
		v.Deadline = inv.ExpiresAt
	}
	v.ScanCommand = scanCommand(s.publicURL(c), s.deps.Ledger)
	v.DevWallet = v.Status.Pay && s.deps.BitcoinDev != nil
	return s.render(c, http.StatusOK, "invoice", v.Status.Title, v)
}

// invoicePay sends the customer of an unpaid card order back to its card
// payment page (the Checkout Session, while Stripe keeps it open), or to a
// new order of the same plan when there is nothing left to resume.
func (s *Server) invoicePay(c echo.Context) error {
	ctx := c.Request().Context()
	o, err := s.deps.Payments.Order(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	u, err := s.deps.Payments.ResumeURL(ctx, o)
	if err != nil {
		return err
	}
	if u == "" {
		if o.State == payments.StateNew {
			return c.Redirect(http.StatusSeeOther, "/?plan="+url.QueryEscape(o.Plan))
		}
		return c.Redirect(http.StatusSeeOther, "/invoice/"+o.ID)
	}
	return c.Redirect(http.StatusSeeOther, u)
}

// invoiceStatus is the JSON the invoice page polls.
func (s *Server) invoiceStatus(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	o, inv, err := s.loadInvoice(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, describe(o, inv, time.Now()))
}

func (s *Server) publicURL(c echo.Context) string {
	if u := s.deps.Pages.PublicURL; u != "" {
		return strings.TrimSuffix(u, "/")
	}
	scheme := "http"
	if c.Request().TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request().Host
}

// BitcoinInvoices is the InvoiceSource of the Bitcoin method.
func BitcoinInvoices(b *bitcoin.Bitcoin) InvoiceSource { return btcInvoices{b} }

type btcInvoices struct{ b *bitcoin.Bitcoin }

func (s btcInvoices) Invoice(ctx context.Context, orderID string) (Invoice, error) {
	inv, err := s.b.Invoice(ctx, orderID)
	if err != nil {
		return Invoice{}, err
	}
	out := Invoice{Address: inv.Address, AmountSat: inv.AmountSats, PaidSat: inv.Verdict.Seen, ExpiresAt: inv.ExpiresAt, Needed: inv.Confirmations, Rate: inv.Rate}
	// The payment's confirmations: the least confirmed live payment counts.
	first := true
	for _, p := range inv.Payments {
		if p.Dropped {
			continue
		}
		conf := 0
		if p.Height > 0 && inv.Tip >= p.Height {
			conf = int(inv.Tip-p.Height) + 1
		}
		if first || conf < out.Confirmations {
			out.Confirmations, first = conf, false
		}
	}
	return out, nil
}

// scanCommand is the exact `license scan` command for this server: the
// first scan must pin the ledger's verifier key.
func scanCommand(server string, l *LedgerDeps) string {
	cmd := "license scan --server " + server
	if l != nil && l.VerifierKey != "" {
		cmd += " --ledger-key " + l.VerifierKey
	}
	return cmd
}
