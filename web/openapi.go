package web

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openapiYAML is the OpenAPI 3 description of the public JSON API.
// TestOpenAPIMatchesRoutes fails when a route under /v1/ or /ledger/ and the
// document disagree, so keep it with the handlers.
//
//go:embed openapi.yaml
var openapiYAML []byte

// openapi is GET /openapi.yaml.
func (s *Server) openapi(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/yaml", openapiYAML)
}
