package web

import (
	"bytes"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/labstack/echo/v4"
	"github.com/skip2/go-qrcode"

	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/payments/reconcile"
)

// Pages are the components of the HTML pages (Deps.Pages). The storefront
// and invoice pages need Deps.Payments; each other part is left out when its
// component is nil.
type Pages struct {
	// Ops turns on the operator dashboard under /ops; it needs Deps.DB and
	// Books.
	Ops *Ops
	// Books are the operator's lists, queues, revenue and audit log.
	Books *reconcile.Books
	// Reconciler runs the dashboard's reconciliation page.
	Reconciler *reconcile.Reconciler
	// Invoices gives the invoice page the Bitcoin details of an order.
	Invoices InvoiceSource
	// Explorer is the ledger's store, read by /explorer.
	Explorer ledger.Store
	// PublicURL is the server's address as customers reach it, shown in the
	// `license scan` command; default the address of the request.
	PublicURL string
	// Contact is how customers reach the operator (an email address, a
	// URL, or a sentence), shown where a page asks them to write: refunds
	// of partial, late or excess Bitcoin payments. Empty: the pages say
	// "the operator of this shop".
	Contact string

	qrOnce sync.Once
	qr     *qrCache // see invoiceQRs
}

// The HTML pages: server-rendered html/template, templates and static assets
// embedded in the binary, no external CDN. Every page works without
// JavaScript (forms post normally, the invoice page refreshes itself); the
// little JavaScript there is adds the live status and the countdown.

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageFuncs are the helpers templates may call.
var pageFuncs = template.FuncMap{
	"money": formatMoney,
	"date":  func(t time.Time) string { return fmtTime(t, "2006-01-02") },
	"time":  func(t time.Time) string { return fmtTime(t, "2006-01-02 15:04:05 UTC") },
	"join":  strings.Join,
	"badge": badgeClass,
	"splitFlags": func(f fmt.Stringer) []string {
		if f.String() == "" {
			return nil
		}
		return strings.Split(f.String(), "|")
	},
	"words": stateWords,
}

// badgeClass is the colour of a state's badge: ok (green), bad (red), wait
// (blue) or plain.
func badgeClass(state string) string {
	switch state {
	case "settled", "active":
		return "ok"
	case "expired", "invalid", "revoked", "suspended":
		return "bad"
	case "new", "processing":
		return "wait"
	}
	return ""
}

// stateWords says an order's state, flags and license in plain words for
// operators (the codes stay in the CSV and the filters).
var stateWords = func(code string) string {
	if w, ok := stateWordsTable[code]; ok {
		return w
	}
	return code
}

var stateWordsTable = map[string]string{
	"new": "awaiting payment", "processing": "paid, confirming", "settled": "settled", "expired": "expired", "invalid": "failed",
	"paid_partial": "partly paid", "paid_over": "overpaid", "paid_late": "paid late", "marked": "settled by hand",
	"active": "active", "suspended": "suspended", "revoked": "revoked", "": "none",
}

func fmtTime(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(layout)
}

// formatMoney writes minor units as a decimal amount with the currency code,
// for the two-decimal currencies plans use ("5.00 USD").
func formatMoney(amount int64, currency string) string {
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, amount/100, amount%100, strings.ToUpper(currency))
}

// pageTemplates holds one template set per page: the layout plus the page.
var pageTemplates = mustParsePages()

func mustParsePages() map[string]*template.Template {
	layout := template.Must(template.New("layout.html").Funcs(pageFuncs).ParseFS(templateFS, "templates/layout.html"))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t := template.Must(template.Must(layout.Clone()).ParseFS(templateFS, n))
		out[name] = t
	}
	return out
}

// pageData is what the layout gets.
type pageData struct {
	Title string
	// Ops is set on dashboard pages: the navigation and the logout form.
	Ops  *opsSession
	Data any
}

// render writes the page name with data in the layout.
func (s *Server) render(c echo.Context, status int, name, title string, data any) error {
	t, ok := pageTemplates[name]
	if !ok {
		return fmt.Errorf("web: no page template %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", pageData{Title: title, Ops: sessionOf(c), Data: data}); err != nil {
		return fmt.Errorf("web: couldn't render %s: %w", name, err)
	}
	h := c.Response().Header()
	// Pages load nothing from elsewhere; inline images are the QR codes.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; form-action 'self' https://checkout.stripe.com; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	return c.HTMLBlob(status, buf.Bytes())
}

// invoiceQRs keeps the QR codes of the invoice pages. An invoice's BIP21 URI
// never changes, and its page reloads itself every few seconds while the
// customer waits: the code is encoded once, not on every load.
func (p *Pages) invoiceQRs() *qrCache {
	p.qrOnce.Do(func() { p.qr = newQRCache(qrCacheSize, encodeQR) })
	return p.qr
}

// qrCacheSize bounds invoiceQRs: a code is about 1 KB as a data URL, and
// more invoices than this are rarely open at once (each expires in 15
// minutes by default); an evicted one is encoded again.
const qrCacheSize = 1024

// encodeQR makes the PNG of the invoice page's QR code.
func encodeQR(text string) ([]byte, error) { return qrcode.Encode(text, qrcode.Medium, 256) }

// qrCache is a bounded least-recently-used cache of QR codes as data URLs,
// by the text they encode. It is safe for concurrent use.
type qrCache struct {
	encode  func(string) ([]byte, error)
	urls    *lru.Cache[string, template.URL]
	encoded atomic.Int64 // codes made: the misses
}

func newQRCache(size int, encode func(string) ([]byte, error)) *qrCache {
	urls, err := lru.New[string, template.URL](size)
	if err != nil {
		panic(err) // size is a positive constant
	}
	return &qrCache{encode: encode, urls: urls}
}

// dataURL returns the QR code of text as a data: URL of a PNG, encoding it
// only when it is not cached. Two first loads at once may both encode; one
// result is kept.
func (c *qrCache) dataURL(text string) (template.URL, error) {
	if u, ok := c.urls.Get(text); ok {
		return u, nil
	}
	png, err := c.encode(text)
	if err != nil {
		return "", err
	}
	c.encoded.Add(1)
	u := template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
	c.urls.Add(text, u)
	return u, nil
}
