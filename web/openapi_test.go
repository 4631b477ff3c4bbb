package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// openapiDoc is the part of the document the tests read.
type openapiDoc struct {
	OpenAPI string                                 `yaml:"openapi"`
	Paths   map[string]map[string]openapiOperation `yaml:"paths"`
}

type openapiOperation struct {
	OperationID string         `yaml:"operationId"`
	Responses   map[string]any `yaml:"responses"`
}

// allRoutesServer builds the server with every dependency present (zero
// values: the routes are registered, not called), so that every route group
// is listed.
func allRoutesServer(t *testing.T) *Server {
	t.Helper()
	var deps Deps
	v := reflect.ValueOf(&deps).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Pointer && f.IsNil() && v.Type().Field(i).Name != "Pages" {
			f.Set(reflect.New(f.Type().Elem()))
		}
	}
	return New(Config{}, deps, slog.New(slog.DiscardHandler))
}

var (
	echoParam    = regexp.MustCompile(`:[A-Za-z_]+|\*`)
	openapiParam = regexp.MustCompile(`\{[A-Za-z_]+\}`)
)

// TestOpenAPIMatchesRoutes fails when a public route (under /v1/, /ledger/,
// or /openapi.yaml) is not in the document, or the document lists an
// operation the server does not route. Path parameters are compared by
// position (echo's :id and * against OpenAPI's {id}).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc openapiDoc
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	public := func(p string) bool {
		return strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/ledger/") || p == "/openapi.yaml"
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m, op := range ops {
			m = strings.ToUpper(m)
			if m == "PARAMETERS" {
				continue
			}
			if len(op.Responses) == 0 || op.OperationID == "" {
				t.Errorf("%s %s: operationId and responses are required", m, p)
			}
			if public(p) {
				documented[m+" "+openapiParam.ReplaceAllString(p, "{}")] = true
			}
		}
	}
	routed := map[string]bool{}
	for _, r := range allRoutesServer(t).echo.Routes() {
		if public(r.Path) && r.Method != "echo_route_not_found" {
			routed[r.Method+" "+echoParam.ReplaceAllString(r.Path, "{}")] = true
		}
	}
	for k := range routed {
		if !documented[k] {
			t.Errorf("route %s is not in openapi.yaml", k)
		}
	}
	for k := range documented {
		if !routed[k] {
			t.Errorf("openapi.yaml documents %s, which the server does not route", k)
		}
	}
	for _, want := range []string{"POST /v1/admit", "POST /v1/admit/batch", "GET /v1/licenses/valid", "POST /v1/orders", "GET /ledger/checkpoint"} {
		if !routed[want] {
			t.Errorf("the test server does not route %s: the route listing is incomplete", want)
		}
	}
	t.Logf("%d public routes, all documented", len(routed))
}

// TestOpenAPIRefs checks that every $ref in the document resolves.
func TestOpenAPIRefs(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(openapiYAML, &doc); err != nil {
		t.Fatal(err)
	}
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					refs = append(refs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if len(refs) == 0 {
		t.Fatal("no $ref found")
	}
	for _, r := range refs {
		var cur any = doc
		for _, part := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[part]
		}
		if cur == nil {
			t.Errorf("$ref %s does not resolve", r)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	s := New(Config{}, Deps{}, slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/openapi.yaml", nil))
	if rec.Code != http.StatusOK || !slices.Equal(rec.Body.Bytes(), openapiYAML) || !strings.Contains(rec.Header().Get("Content-Type"), "yaml") {
		t.Fatalf("GET /openapi.yaml: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}
