package web

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/licensed/licensed/internal/pgtest"
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
	s.echo.GET("/lost-connection", func(c echo.Context) error { return fmt.Errorf("query: %w", io.ErrUnexpectedEOF) })
	db := pgtest.Pool(t)
	s.echo.GET("/text/:v", func(c echo.Context) error {
		var v string
		if err := db.QueryRow(c.Request().Context(), `select $1::text`, c.Param("v")).Scan(&v); err != nil {
			return fmt.Errorf("query: %w", err)
		}
		return c.NoContent(http.StatusNoContent)
	})
	s.echo.POST("/body", func(c echo.Context) error {
		if _, err := readBody(c); err != nil {
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
		{"a server's connection cut short is not the client's", "GET", "/lost-connection", "", 500, "internal"},
		{"text that is not UTF-8 reaching Postgres", "GET", "/text/%FF", "", 400, "bad_encoding"},
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
	if !strings.Contains(logs.String(), "secret detail") || !strings.Contains(logs.String(), "unexpected EOF") {
		t.Fatal("the internal errors were not logged for the operator")
	}

	// A body that ends before its Content-Length, over a real connection.
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n0123456789")
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	var e Error
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != http.StatusBadRequest || e.Code != "malformed" {
		t.Fatalf("body cut short: %d %+v %v, want 400 malformed", resp.StatusCode, e, err)
	}
}
