package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/bitcoin"
	"github.com/licensed/licensed/payments/reconcile"
)

// pageRows is how many orders a list shows; the CSV exports have them all
// (up to reconcile.MaxRows).
const pageRows = 500

// period reads from and to (YYYY-MM-DD, UTC, to inclusive) with defaults:
// the last days days.
func opsPeriod(c echo.Context, days int) (from, to time.Time, err error) {
	today := time.Now().UTC().Truncate(24 * time.Hour)
	from, to = today.AddDate(0, 0, -days+1), today.AddDate(0, 0, 1)
	if v := c.QueryParam("from"); v != "" {
		if from, err = time.Parse("2006-01-02", v); err != nil {
			return from, to, Errorf(http.StatusBadRequest, "bad_date", "Write dates as YYYY-MM-DD.")
		}
	}
	if v := c.QueryParam("to"); v != "" {
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return from, to, Errorf(http.StatusBadRequest, "bad_date", "Write dates as YYYY-MM-DD.")
		}
		to = t.AddDate(0, 0, 1)
	}
	if !from.Before(to) {
		return from, to, Errorf(http.StatusBadRequest, "bad_date", "The start date must not be after the end date.")
	}
	return from, to, nil
}

type periodView struct {
	From, To string       // YYYY-MM-DD, To inclusive
	Query    template.URL // from=…&to=… for links (url.Values.Encode)
}

func newPeriodView(from, to time.Time) periodView {
	f, t := from.Format("2006-01-02"), to.AddDate(0, 0, -1).Format("2006-01-02")
	return periodView{From: f, To: t, Query: template.URL(url.Values{"from": {f}, "to": {t}}.Encode())}
}

type queueCount struct {
	Kind  reconcile.Kind
	Count int
}

type homeView struct {
	Period periodView
	Queues []queueCount
	Total  int
	Audit  []reconcile.AuditEntry
	// Revenue is the chart's data, as a table for screen readers and for
	// copying.
	Revenue []reconcile.Revenue
}

func (s *Server) opsHome(c echo.Context) error {
	from, to, err := opsPeriod(c, 30)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	books := s.deps.Pages.Books
	ex, err := books.Queues(ctx, time.Time{}, time.Time{})
	if err != nil {
		return err
	}
	v := homeView{Period: newPeriodView(from, to), Total: len(ex)}
	counts := map[reconcile.Kind]int{}
	for _, x := range ex {
		counts[x.Kind]++
	}
	for _, k := range reconcile.QueueKinds {
		v.Queues = append(v.Queues, queueCount{k, counts[k]})
	}
	if v.Audit, err = books.Audit(ctx, 10); err != nil {
		return err
	}
	if v.Revenue, err = books.Revenue(ctx, from, to); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "ops_home", "Dashboard", v)
}

type ordersView struct {
	Period  periodView
	Filter  reconcile.Filter
	States  []string
	Methods []string
	Plans   []string
	Rows    []reconcile.Row
	Query   template.URL // the filter as a query string (url.Values.Encode)
	Payment bool         // the payments view
	// Page is the page shown (1 for the newest pageRows); PrevQuery and
	// NextQuery link the neighbouring pages ("" when there is none).
	Page                 int
	PrevQuery, NextQuery template.URL
}

func (s *Server) orderFilter(c echo.Context, days int) (reconcile.Filter, periodView, error) {
	from, to, err := opsPeriod(c, days)
	if err != nil {
		return reconcile.Filter{}, periodView{}, err
	}
	f := reconcile.Filter{State: c.QueryParam("state"), Method: c.QueryParam("method"), Plan: c.QueryParam("plan"), From: from, To: to, Limit: pageRows + 1}
	if f.State != "" && !payments.State(f.State).Valid() {
		return f, periodView{}, Errorf(http.StatusBadRequest, "bad_filter", "Unknown state: use new, processing, settled, expired or invalid.")
	}
	if f.Method != "" && f.Method != payments.MethodCard && f.Method != payments.MethodBTC {
		return f, periodView{}, Errorf(http.StatusBadRequest, "bad_filter", "Unknown method: use card or btc.")
	}
	if id := strings.TrimSpace(c.QueryParam("id")); id != "" {
		f = reconcile.Filter{ID: id}
	}
	return f, newPeriodView(from, to), nil
}

func (s *Server) listView(c echo.Context, payment bool) (ordersView, error) {
	f, pv, err := s.orderFilter(c, 30)
	if err != nil {
		return ordersView{}, err
	}
	page := 1
	if v := c.QueryParam("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || (n-1)*pageRows >= reconcile.MaxRows {
			return ordersView{}, Errorf(http.StatusBadRequest, "bad_page", fmt.Sprintf("Pages are numbered from 1 to %d: narrow the filter, or export the orders.", reconcile.MaxRows/pageRows))
		}
		page = n
	}
	f.Offset = (page - 1) * pageRows
	rows, err := s.deps.Pages.Books.Orders(c.Request().Context(), f)
	if err != nil {
		return ordersView{}, err
	}
	more := len(rows) > pageRows
	if more {
		rows = rows[:pageRows]
	}
	if payment {
		rows = paymentsOf(rows)
	}
	q := url.Values{"from": {pv.From}, "to": {pv.To}}
	for k, v := range map[string]string{"state": f.State, "method": f.Method, "plan": f.Plan, "id": f.ID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var plans []string
	if s.deps.Payments != nil {
		plans = s.deps.Payments.Plans().IDs()
	}
	v := ordersView{Period: pv, Filter: f, Rows: rows, Query: template.URL(q.Encode()), Payment: payment, Plans: plans, Page: page,
		States:  []string{"new", "processing", "settled", "expired", "invalid"},
		Methods: []string{payments.MethodCard, payments.MethodBTC}}
	pageQuery := func(n int) template.URL {
		pq := url.Values{}
		for k, vs := range q {
			pq[k] = vs
		}
		pq.Set("page", strconv.Itoa(n))
		return template.URL(pq.Encode())
	}
	if page > 1 {
		v.PrevQuery = pageQuery(page - 1)
	}
	if more && page*pageRows < reconcile.MaxRows {
		v.NextQuery = pageQuery(page + 1)
	}
	return v, nil
}

// paymentsOf keeps the orders money arrived for: settled or processing, or
// paid at all (flags), or refunded.
func paymentsOf(rows []reconcile.Row) []reconcile.Row {
	out := rows[:0:0]
	for _, r := range rows {
		if r.State == payments.StateSettled || r.State == payments.StateProcessing || r.Refunded || r.PaymentRef != "" ||
			r.Flags&(payments.FlagPaidLate|payments.FlagPaidPartial|payments.FlagPaidOver) != 0 {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) opsOrders(c echo.Context) error {
	v, err := s.listView(c, false)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "ops_orders", "Orders", v)
}

func (s *Server) opsPayments(c echo.Context) error {
	v, err := s.listView(c, true)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "ops_orders", "Payments", v)
}

type opsOrderView struct {
	Row       reconcile.Row
	CSRF      string
	Settlable bool
	Revocable bool
	Message   string
	// Invoice is a Bitcoin order's payment picture: what was due, what
	// arrived, where, its confirmations, the rate and the deadline.
	Invoice *Invoice
	BTC     struct{ Due, Received, Rate string }
}

func (s *Server) opsOrder(c echo.Context) error {
	rows, err := s.deps.Pages.Books.Orders(c.Request().Context(), reconcile.Filter{ID: c.Param("id")})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return s.render(c, http.StatusNotFound, "notfound", "No such order", nil)
	}
	r := rows[0]
	// Only the server's own words: a link with ?done=<anything> must not
	// put text of an attacker's choosing in the green notice.
	v := opsOrderView{Row: r, CSRF: sessionOf(c).CSRF, Message: doneMessages[c.QueryParam("done")]}
	paid := r.Flags&(payments.FlagPaidLate|payments.FlagPaidPartial) != 0
	v.Settlable = paid && (r.State == payments.StateExpired || r.State == payments.StateNew || r.State == payments.StateProcessing) && s.deps.Payments != nil
	v.Revocable = r.Linked && (r.License == payments.LicenseActive || r.License == payments.LicenseSuspended) && s.deps.Payments != nil
	if r.Method == payments.MethodBTC && s.deps.Pages.Invoices != nil {
		inv, err := s.deps.Pages.Invoices.Invoice(c.Request().Context(), r.ID)
		if err == nil {
			v.Invoice = &inv
			v.BTC.Due, v.BTC.Received = bitcoin.FormatBTC(inv.AmountSat), bitcoin.FormatBTC(inv.PaidSat)
			if inv.Rate > 0 {
				v.BTC.Rate = formatRate(inv.Rate, r.Currency)
			}
		} else {
			var cd coded
			if !errors.As(err, &cd) || cd.Code() != "not_found" {
				return err
			}
		}
	}
	return s.render(c, http.StatusOK, "ops_order", "Order "+r.ID, v)
}

// doneMessages are the notices an order page shows after an action, by
// the code in ?done=.
var doneMessages = map[string]string{
	"settled": "the order is marked settled and its license is being minted",
	"revoked": "the license is revoked; the revoke entry is on the ledger within a second",
}

// opsNote is the operator's reason for an action, bounded and on one line.
// An action that changes money or a license needs a reason and the
// operator's confirmation (the form's checkbox), so a stray click does
// nothing.
func opsNote(c echo.Context) (string, error) {
	n := strings.Join(strings.Fields(c.FormValue("note")), " ")
	if len(n) > 200 {
		// Cut on a character boundary: a split character is not text,
		// and Postgres would refuse the audit row (and the action).
		i := 200
		for i > 0 && !utf8.RuneStart(n[i]) {
			i--
		}
		n = n[:i]
	}
	if n == "" {
		return "", Errorf(http.StatusBadRequest, "reason_missing", "Write why you do this: the reason is kept in the audit log.")
	}
	if c.FormValue("confirm") != "yes" {
		return "", Errorf(http.StatusBadRequest, "confirmation_missing", "Tick the box that confirms this action: it cannot be undone.")
	}
	return n, nil
}

func (s *Server) opsSettle(c echo.Context) error {
	if s.deps.Payments == nil {
		return Errorf(http.StatusNotFound, "not_found", "Payments are not configured.")
	}
	id := c.Param("id")
	note, err := opsNote(c)
	if err != nil {
		return err
	}
	if err := reconcile.MarkSettled(c.Request().Context(), s.deps.Payments, sessionOf(c).Label, id, note); err != nil {
		return err
	}
	s.log.Info("operator settled an order by hand", "order_id", id)
	return c.Redirect(http.StatusSeeOther, "/ops/orders/"+id+"?done=settled")
}

// opsRevoke revokes through the payments service's own revoke
// (reconcile.Revoke, payments.Service.RevokeByOperator), with the service's
// minter.
func (s *Server) opsRevoke(c echo.Context) error {
	if s.deps.Payments == nil {
		return Errorf(http.StatusNotFound, "not_found", "Revocation is not configured.")
	}
	id := c.Param("id")
	note, err := opsNote(c)
	if err != nil {
		return err
	}
	if err := reconcile.Revoke(c.Request().Context(), s.deps.Payments, sessionOf(c).Label, id, note); err != nil {
		return err
	}
	s.log.Info("operator revoked a license", "order_id", id)
	return c.Redirect(http.StatusSeeOther, "/ops/orders/"+id+"?done=revoked")
}

type exceptionsView struct {
	Period     periodView
	Exceptions []reconcile.Exception
}

func (s *Server) opsExceptions(c echo.Context) error {
	from, to, err := opsPeriod(c, 30)
	if err != nil {
		return err
	}
	ex, err := s.deps.Pages.Books.Queues(c.Request().Context(), from, to)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "ops_exceptions", "Exceptions", exceptionsView{Period: newPeriodView(from, to), Exceptions: ex})
}

// opsExport answers orders.csv, payments.csv or exceptions.csv for the
// period.
func (s *Server) opsExport(c echo.Context) error {
	f, pv, err := s.orderFilter(c, 30)
	if err != nil {
		return err
	}
	f.Limit = reconcile.MaxRows
	ctx := c.Request().Context()
	var buf bytes.Buffer
	what := c.Param("what")
	switch what {
	case "orders.csv", "payments.csv":
		rows, err := s.deps.Pages.Books.Orders(ctx, f)
		if err != nil {
			return err
		}
		if what == "payments.csv" {
			rows = paymentsOf(rows)
		}
		err = reconcile.WriteOrdersCSV(&buf, rows)
		if err != nil {
			return err
		}
	case "exceptions.csv":
		ex, err := s.deps.Pages.Books.Queues(ctx, f.From, f.To)
		if err != nil {
			return err
		}
		if err := reconcile.WriteExceptionsCSV(&buf, ex); err != nil {
			return err
		}
	default:
		return Errorf(http.StatusNotFound, "not_found", "Export orders.csv, payments.csv or exceptions.csv.")
	}
	name := strings.TrimSuffix(what, ".csv") + "_" + pv.From + "_" + pv.To + ".csv"
	if err := s.audit(ctx, sessionOf(c).Label, "export", "", name); err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", buf.Bytes())
}

func (s *Server) opsRevenueSVG(c echo.Context) error {
	from, to, err := opsPeriod(c, 30)
	if err != nil {
		return err
	}
	rev, err := s.deps.Pages.Books.Revenue(c.Request().Context(), from, to)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	return c.Blob(http.StatusOK, "image/svg+xml", RevenueChart(rev, from, to))
}

type reconcileView struct {
	Period periodView
	Report *reconcile.Report
	Error  string
}

func (s *Server) opsReconcile(c echo.Context) error {
	from, to, err := opsPeriod(c, 7)
	if err != nil {
		return err
	}
	v := reconcileView{Period: newPeriodView(from, to)}
	r := s.deps.Pages.Reconciler
	if r == nil {
		r = &reconcile.Reconciler{Books: s.deps.Pages.Books}
	}
	if c.QueryParam("run") != "" {
		rep, err := r.Run(c.Request().Context(), from, to)
		if err != nil {
			var cd coded
			if errors.As(err, &cd) {
				return err
			}
			s.log.Error("reconciliation failed", "err", err)
			v.Error = "The reconciliation could not finish: " + sentence(err.Error())
		}
		v.Report = rep
		detail := fmt.Sprintf("%s to %s: ", v.Period.From, v.Period.To)
		if rep != nil {
			detail += fmt.Sprintf("%d orders, %d exceptions", rep.Orders, len(rep.Exceptions))
		} else {
			detail += "did not finish"
		}
		if err := s.audit(c.Request().Context(), sessionOf(c).Label, "reconcile", "", detail); err != nil {
			return err
		}
	}
	return s.render(c, http.StatusOK, "ops_reconcile", "Reconciliation", v)
}

func (s *Server) opsAudit(c echo.Context) error {
	a, err := s.deps.Pages.Books.Audit(c.Request().Context(), 500)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, "ops_audit", "Audit log", a)
}
