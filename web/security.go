package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// hstsValue is the Strict-Transport-Security of answers served over https:
// two years, the value hstspreload.org asks for. Subdomains are not included:
// the operator's other hosts are not this server's to decide.
const hstsValue = "max-age=63072000"

// securityHeaders sets, on every answer, the headers that hold whatever the
// route: nosniff (a JSON, CSV or SVG answer is never run as a script or
// page), no framing (frame-ancestors, and X-Frame-Options for old
// browsers), no powerful browser features, no referrer, and HSTS when the
// request came over https (see https). HTML pages set their own, stricter,
// Content-Security-Policy on top; this one only keeps other answers out of
// frames and away from scripts.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()")
		h.Set("Referrer-Policy", "no-referrer")
		if s.https(c) {
			h.Set("Strict-Transport-Security", hstsValue)
		}
		return next(c)
	}
}

// https reports whether the request reached the server over TLS: its own
// connection is TLS, the configured public URL is https (the operator says
// a TLS proxy is in front: a browser reaches no other way), or a trusted
// proxy says so in X-Forwarded-Proto (only with Config.TrustProxy, since a
// client can set that header itself).
func (s *Server) https(c echo.Context) bool {
	r := c.Request()
	switch {
	case r.TLS != nil:
		return true
	case strings.HasPrefix(strings.ToLower(s.configuredURL()), "https://"):
		return true
	case s.cfg.TrustProxy && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https"):
		return true
	}
	return false
}

// configuredURL is the server's address as customers reach it, "" when not
// configured.
func (s *Server) configuredURL() string {
	if s.cfg.PublicURL != "" {
		return s.cfg.PublicURL
	}
	if s.deps.Pages != nil {
		return s.deps.Pages.PublicURL
	}
	return ""
}

// headAsGet answers a HEAD request as the GET of the same path (monitors,
// mirrors and `curl -I` use HEAD; echo alone would answer 405). The GET
// handler sees a copy of the request; net/http still holds the HEAD request
// and sends no body, so the answer is the GET's status and headers alone.
func headAsGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			get := r.Clone(r.Context())
			get.Method = http.MethodGet
			r = get
		}
		h.ServeHTTP(w, r)
	})
}

// sameSiteOnly refuses a POST that the browser says comes from another
// site (Sec-Fetch-Site, or Origin): the dev pages' forms move money on the
// dev chain and settle orders, and must not be posted by another page.
func sameSiteOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Request().Method == http.MethodPost && crossSite(c.Request()) {
			return Errorf(http.StatusForbidden, "cross_site", "This form can only be sent from this site's own page.")
		}
		return next(c)
	}
}
