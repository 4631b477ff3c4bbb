package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"
)

type codedErr struct{ code, msg string }

func (e codedErr) Error() string { return e.msg }
func (e codedErr) Code() string  { return e.code }

func TestErrorAnswers(t *testing.T) {
	var logs bytes.Buffer
	s := New(Config{BodyLimit: 64}, Deps{}, slog.New(slog.NewTextHandler(&logs, nil)))
	s.echo.GET("/internal", func(c echo.Context) error { return errors.New("secret detail: dsn=postgres://u:pw@db") })
	s.echo.GET("/coded", func(c echo.Context) error {
		return codedErr{"tag_used", "This tag was already used for another message."}
	})
	s.echo.GET("/coded-unlisted", func(c echo.Context) error { return codedErr{"bad_plan", "Unknown plan."} })
	s.echo.GET("/truncated", func(c echo.Context) error { return fmt.Errorf("reading: %w", io.ErrUnexpectedEOF) })
	s.echo.GET("/not-utf8", func(c echo.Context) error {
		return fmt.Errorf("query: %w", &pgconn.PgError{Code: "22021", Message: `invalid byte sequence for encoding "UTF8": 0xff`})
	})
	s.echo.POST("/body", func(c echo.Context) error {
		_, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
	cases := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"internal error hides detail", "GET", "/internal", "", 500, "internal"},
		{"coded error mapped by table", "GET", "/coded", "", 409, "tag_used"},
		{"unlisted code is 400", "GET", "/coded-unlisted", "", 400, "bad_plan"},
		{"unknown route", "GET", "/nothing-here", "", 404, "not_found"},
		{"wrong method", "DELETE", "/coded", "", 405, "method_not_allowed"},
		{"body over the limit", "POST", "/body", strings.Repeat("x", 65), 413, "body_too_large"},
		{"body cut short", "GET", "/truncated", "", 400, "malformed"},
		{"text that is not UTF-8", "GET", "/not-utf8", "", 400, "bad_encoding"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body)))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.status, rec.Body)
			}
			var e Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("body is not a JSON error: %s", rec.Body)
			}
			if e.Code != tc.code || e.Message == "" {
				t.Fatalf("got %+v, want code %q and a message", e, tc.code)
			}
			if strings.Contains(rec.Body.String(), "secret detail") {
				t.Fatal("internal detail leaked to the client")
			}
		})
	}
	if !strings.Contains(logs.String(), "secret detail") {
		t.Fatal("the internal error was not logged for the operator")
	}
}
