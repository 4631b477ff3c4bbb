package web

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"
)

// Error is an answer to a request that went wrong, as the client sees it:
// JSON {"code": ..., "message": ...} with Status.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds a client error.
func Errorf(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// coded is implemented by domain errors that a client can fix.
type coded interface {
	error
	Code() string
}

// statusOf maps every domain error code to its HTTP status. It is the one place
// where domain errors meet HTTP. Codes not listed are 400.
var statusOf = map[string]int{
	"not_found":            http.StatusNotFound,
	"tag_used":             http.StatusConflict,
	"conflict":             http.StatusConflict,
	"rate_limited":         http.StatusTooManyRequests,
	"unavailable":          http.StatusServiceUnavailable,
	"btc_unavailable":      http.StatusServiceUnavailable,
	"card_unavailable":     http.StatusServiceUnavailable,
	"database_unavailable": http.StatusServiceUnavailable,
	"body_too_large":       http.StatusRequestEntityTooLarge,
	"unauthorized":         http.StatusUnauthorized,
	"forbidden":            http.StatusForbidden,
	"method_not_allowed":   http.StatusMethodNotAllowed,
	"not_revocable":        http.StatusConflict, // the order's state or erased link forbids it
	"not_settlable":        http.StatusConflict,
}

// toError turns any error into what the client may see. ok is false for
// internal errors, which must be logged.
func toError(err error) (e *Error, ok bool) {
	if errors.As(err, &e) {
		return e, true
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return Errorf(he.Code, "not_found", "There is nothing at this address."), true
		case http.StatusMethodNotAllowed:
			return Errorf(he.Code, "method_not_allowed", "This address does not accept that method."), true
		case http.StatusRequestEntityTooLarge:
			return Errorf(he.Code, "body_too_large", "The request body is too large."), true
		case http.StatusUnsupportedMediaType:
			return Errorf(he.Code, "unsupported_media_type", "Send the request body as application/json."), true
		}
		if he.Code < 500 {
			msg, _ := he.Message.(string)
			if msg == "" {
				msg = http.StatusText(he.Code)
			}
			return Errorf(he.Code, "bad_request", msg), true
		}
	}
	// Client input that only fails deep down: text that is not UTF-8
	// reaching Postgres (ids and query values go to SQL as text), from any
	// handler. (A body cut short is caught where it is read: readBody.)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "22021" || pe.Code == "22P05") { // character_not_in_repertoire, untranslatable_character
		return Errorf(http.StatusBadRequest, "bad_encoding", "The request holds text that is not valid UTF-8."), true
	}
	if databaseUnavailable(err) {
		return Errorf(http.StatusServiceUnavailable, "database_unavailable", "The server's database is not reachable right now: try again in a few seconds."), true
	}
	var c coded
	if errors.As(err, &c) {
		status, known := statusOf[c.Code()]
		if !known {
			status = http.StatusBadRequest
		}
		return Errorf(status, c.Code(), sentence(c.Error())), true
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}, false
}

// retryAfterUnavailable is the Retry-After of a 503, in seconds: long enough
// for a restarted database or a reconnected processor, short for a person.
const retryAfterUnavailable = "5"

// databaseUnavailable is whether err is Postgres out of reach: no
// connection could be made (refused, timed out), or the server is shutting
// down, starting up or crashed (SQLSTATE class 08, 57P01-57P03). A failure
// inside a statement is not.
func databaseUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return false
}

// readBody reads the request body whole. A body over the server's limit is
// echo's 413; any other failure to read it (a body that ends before its
// Content-Length, a client that goes away) is the client's: 400 malformed.
// Only here: elsewhere an unexpected EOF is a server's connection failing
// (Postgres, btcd), which is a 500 and logged.
func readBody(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return nil, err
		}
		return nil, Errorf(http.StatusBadRequest, "malformed", "The request body ended before its declared length; send it whole.")
	}
	return b, nil
}

func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	e, ok := toError(err)
	if !ok {
		s.log.Error("request failed", "method", c.Request().Method, "route", c.Path(), "err", err)
	}
	if c.Response().Header().Get("Retry-After") == "" {
		switch e.Status {
		case http.StatusTooManyRequests:
			c.Response().Header().Set("Retry-After", "1")
		case http.StatusServiceUnavailable:
			c.Response().Header().Set("Retry-After", retryAfterUnavailable)
		}
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(e.Status)
		return
	}
	if wantsHTML(c.Request()) {
		if err := s.renderError(c, e); err == nil {
			return
		}
	}
	c.JSON(e.Status, e)
}

// wantsHTML reports whether the request is a browser's navigation to a page
// (its Accept names text/html) rather than an API call: API clients, the
// invoice page's script and mirrors ask for JSON or anything, and the API,
// ledger and webhook paths always answer JSON.
func wantsHTML(r *http.Request) bool {
	p := r.URL.Path
	for _, api := range []string{"/v1/", "/ledger/", "/openapi", "/healthz", "/readyz", "/metrics"} {
		if strings.HasPrefix(p, api) {
			return false
		}
	}
	if strings.HasSuffix(p, "/status") || strings.HasSuffix(p, ".csv") || strings.HasSuffix(p, ".svg") {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// errorView is what the error page shows: the message, one action that
// leads on (log in again, go back to the form, the storefront) and the way
// home.
type errorView struct {
	Status             int
	Code, Message      string
	Action, ActionText string
	Home, HomeText     string
}

// errorTitles name the error pages by status.
var errorTitles = map[int]string{
	http.StatusBadRequest:            "Something in the request is not right",
	http.StatusUnauthorized:          "Please log in again",
	http.StatusForbidden:             "This form has expired",
	http.StatusNotFound:              "Page not found",
	http.StatusMethodNotAllowed:      "Page not found",
	http.StatusConflict:              "Already done",
	http.StatusRequestEntityTooLarge: "Too much at once",
	http.StatusTooManyRequests:       "Too many requests",
	http.StatusServiceUnavailable:    "Temporarily unavailable",
	http.StatusInternalServerError:   "Something went wrong on our side",
}

// renderError answers a browser with an HTML page for e, with navigation:
// back to the page the form was on, to the login (with a way back) after a
// session ended, or home.
func (s *Server) renderError(c echo.Context, e *Error) error {
	r := c.Request()
	v := errorView{Status: e.Status, Code: e.Code, Message: e.Message, Home: "/", HomeText: "Back to the shop"}
	ops := strings.HasPrefix(r.URL.Path, "/ops")
	if ops {
		v.Home, v.HomeText = "/ops", "Back to the dashboard"
	}
	// The page a form was posted from is its action without the last
	// segment (/ops/orders/ID/revoke → /ops/orders/ID; /checkout → /).
	back := r.URL.Path
	if r.Method == http.MethodPost {
		if i := strings.LastIndexByte(strings.TrimSuffix(back, "/"), '/'); i > 0 {
			back = back[:i]
		} else {
			back = "/"
		}
	}
	switch {
	case e.Status == http.StatusUnauthorized && ops:
		v.Action, v.ActionText = "/ops/login?next="+url.QueryEscape(back), "Log in"
		v.Message = "Your session has ended. Log in again; you will come back here. What you submitted was not saved."
	case e.Code == "csrf_failed" || e.Status == http.StatusConflict || e.Status == http.StatusBadRequest:
		v.Action, v.ActionText = back, "Go back to the form"
	case e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable:
		wait := c.Response().Header().Get("Retry-After")
		if wait != "" {
			v.Message += " Wait " + plural(wait, "second") + ", then try again."
		}
		v.Action, v.ActionText = back, "Try again"
		if r.Method == http.MethodGet {
			v.Action = r.URL.RequestURI()
		}
	}
	if e.Status == http.StatusInternalServerError {
		v.Message = "The server could not finish this. Try again in a minute; if it keeps happening, tell the operator."
	}
	title := errorTitles[e.Status]
	if title == "" {
		title = http.StatusText(e.Status)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.render(c, e.Status, "error", title, v)
}

// plural writes n and noun, with an s unless n is "1".
func plural(n, noun string) string {
	if n == "1" {
		return n + " " + noun
	}
	return n + " " + noun + "s"
}
