package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/licensed/licensed/ledger/admission"
	"github.com/licensed/licensed/payments"
)

// Config is the HTTP server's part of the configuration.
type Config struct {
	// BodyLimit bounds every request body, in bytes (default 1 MiB).
	BodyLimit int64
	// ShutdownTimeout bounds how long requests in flight may finish after
	// the server is told to stop (default 10 s).
	ShutdownTimeout time.Duration
	// TrustProxy takes the client address from X-Forwarded-For and the
	// scheme from X-Forwarded-Proto (set it only behind a reverse proxy that
	// sets both headers, overwriting what clients send); otherwise the
	// address and TLS state of the connection are used. The address feeds
	// the in-memory rate limits and login throttling; the scheme decides
	// Secure cookies and HSTS (see https).
	TrustProxy bool
	// PublicURL is the server's address as customers reach it. When it is
	// https, a TLS proxy is in front: cookies are Secure and answers carry
	// HSTS whatever the connection to this process.
	PublicURL string
	// PublicMetrics serves /metrics on this server too. Off by default:
	// the metrics tell sales volume and operator activity, so they belong
	// on a loopback or internal listener (MetricsHandler).
	PublicMetrics bool
	// OrderLimit and AdmitLimit rate-limit the public POST endpoints per
	// client (orders; admission).
	OrderLimit, AdmitLimit RateLimit
	// Admit holds the admission endpoints' cost-based limits and relay
	// keys (see AdmitLimits; ratelimit.go).
	Admit AdmitLimits
}

// Deps are the components the server serves. A nil component leaves its
// routes out, so tests can run the server with only what they exercise.
type Deps struct {
	// DB is the application database; /readyz pings it.
	DB *pgxpool.Pool
	// Ledger serves the public license ledger (ledger.go).
	Ledger *LedgerDeps
	// Payments serves plans, orders and the Stripe webhook.
	Payments *payments.Service
	// DevCheckout, when set, serves the dev checkout pages (dev mode only).
	DevCheckout *DevCheckout
	// BitcoinDev, when set, serves the regtest dev wallet pages (dev mode
	// only; see bitcoin.go).
	BitcoinDev *BitcoinDev
	// Admission serves POST /v1/admit, /v1/admit/batch and GET
	// /v1/licenses/valid (see admit.go), and POST /v1/tags/register
	// (registry.go; 404 registry_disabled unless its tag store is an
	// admission.Registry); nil leaves them out.
	Admission *admission.Service
	// Pages serves the storefront, invoice pages, ledger explorer and
	// operator dashboard (see pages.go); nil leaves them out.
	Pages *Pages
	// Polls serves the polls' API, ballot box and page (polls.go).
	Polls *PollDeps
}

// Server is the HTTP server.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	echo *echo.Echo
	reg  *prometheus.Registry

	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	rateLimited *prometheus.CounterVec
	clientKey   [32]byte // keys the in-memory rate limits; see RateLimit
	admitGate   *admitGate
}

// New builds the server and registers every route.
func New(cfg Config, deps Deps, log *slog.Logger) *Server {
	if cfg.BodyLimit <= 0 {
		cfg.BodyLimit = 1 << 20
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	s := &Server{cfg: cfg, deps: deps, log: log, echo: echo.New(), reg: prometheus.NewRegistry(), clientKey: newClientKey()}
	s.echo.HideBanner = true
	s.echo.IPExtractor = echo.ExtractIPDirect()
	if cfg.TrustProxy {
		s.echo.IPExtractor = echo.ExtractIPFromXFFHeader()
	}
	s.echo.HidePort = true
	s.echo.HTTPErrorHandler = s.handleError
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "licensed_http_requests_total", Help: "HTTP requests by route and status.",
	}, []string{"method", "route", "status"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "licensed_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.DefBuckets,
	}, []string{"method", "route"})
	s.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "licensed_rate_limited_total", Help: "Requests refused by a rate limit, by endpoint group.",
	}, []string{"group"})
	s.reg.MustRegister(s.requests, s.duration, s.rateLimited)
	s.echo.Use(middleware.Recover(), s.observe, s.securityHeaders, middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit: strconv.FormatInt(cfg.BodyLimit, 10) + "B",
		// The Stripe webhook reads at most payments.MaxWebhookBody itself and
		// answers a larger body with its own 400 webhook_too_large, which is
		// what Stripe's delivery log should show.
		Skipper: func(c echo.Context) bool { return c.Path() == webhookPath },
	}))
	s.routes()
	return s
}

// Registry is the Prometheus registry /metrics serves; components register
// their own collectors on it.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// MetricsHandler serves the Prometheus metrics, for a listener of its own
// (`licensed serve --metrics-addr`).
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})
}

// Handler returns the server as an http.Handler (for tests).
func (s *Server) Handler() http.Handler { return headAsGet(s.echo) }

// observe logs and counts every request. It never logs the client's address
// or the query string: both can identify a customer.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		status := c.Response().Status
		d := time.Since(start)
		s.requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(status)).Inc()
		s.duration.WithLabelValues(c.Request().Method, route).Observe(d.Seconds())
		if route != "/healthz" && route != "/readyz" && route != "/metrics" {
			s.log.Info("request", "method", c.Request().Method, "route", route, "status", status, "duration_ms", d.Milliseconds())
		}
		return nil
	}
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(c echo.Context) error {
	if s.deps.DB == nil {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.deps.DB.Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		return c.JSON(http.StatusServiceUnavailable, Errorf(http.StatusServiceUnavailable, "database_unavailable", "The database does not answer."))
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// Serve answers requests on l until ctx is done, then shuts down gracefully,
// letting requests in flight finish for up to Config.ShutdownTimeout.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
