package web

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// routes registers every route of the server, here and nowhere else,
// grouped by who may call them. The handlers live beside their area's code
// (ledger.go, orders.go, admit.go, pages.go, ops.go, …). An area whose
// dependency is not configured (nil in Deps) has no routes: its paths
// answer 404.
func (s *Server) routes() {
	e := s.echo
	d := s.deps

	// Public: anyone, without credentials or a rate limit. Health and
	// metrics, the API description, static assets, the ledger (C2SP
	// tlog-tiles paths under /ledger/, a JSON API under /v1/ledger/), the
	// valid licenses clients pick decoys from (relays mirror them too), the
	// tag filter of a scope, and the explorer page.
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if s.cfg.PublicMetrics {
		e.GET("/metrics", echo.WrapHandler(s.MetricsHandler()))
	}
	e.GET("/openapi.yaml", s.openapi)
	e.GET("/static/*", s.staticAssets())
	if d.Ledger != nil {
		e.GET("/ledger/checkpoint", s.ledgerCheckpoint)
		e.GET("/ledger/key", s.ledgerKey)
		e.GET("/ledger/anchors", s.ledgerAnchors)
		e.GET("/ledger/tile/*", s.ledgerTile)
		e.GET("/ledger/suspensions/checkpoint", s.suspensionCheckpoint)
		e.GET("/ledger/suspensions/tile/*", s.suspensionTile)
		e.GET("/v1/ledger/entries", s.ledgerEntries)
		e.GET("/v1/ledger/proof/inclusion", s.ledgerInclusion)
		e.GET("/v1/ledger/proof/consistency", s.ledgerConsistency)
		s.registerLedgerMetrics()
	}
	if d.Admission != nil {
		e.GET("/v1/licenses/valid", s.validLicenses)
		if d.DB != nil {
			e.GET("/v1/tags/filter", s.newTagFilterHandler().serve)
		}
	}
	if d.Pages != nil && d.Pages.Explorer != nil {
		e.GET("/explorer", s.explorerPage)
	}

	// Customers: anonymous buyers of a license, by API and by the pages;
	// creating an order is rate-limited (Config.OrderLimit).
	if d.Payments != nil {
		e.GET("/v1/plans", s.listPlans)
		e.POST("/v1/orders", s.createOrder, s.rateLimiter("orders", s.cfg.OrderLimit))
		e.GET("/v1/orders/:id", s.getOrder)
		if d.Pages != nil {
			e.GET("/", s.storefront)
			e.POST("/checkout", s.checkout, s.rateLimiter("orders_page", s.cfg.OrderLimit))
			e.GET("/invoice/:id", s.invoicePage)
			e.GET("/invoice/:id/pay", s.invoicePay)
			e.GET("/invoice/:id/status", s.invoiceStatus)
		}
	}

	// Voters (anyone holding a license of an eligible plan, anonymously):
	// the polls, their tallies and ballot logs, and the ballot box,
	// rate-limited per client (PollDeps.BallotLimit).
	if p := d.Polls; p != nil {
		e.GET("/v1/polls", s.listPolls)
		e.GET("/v1/polls/:id", s.getPoll)
		e.GET("/v1/polls/:id/ballots", s.pollBallots)
		e.POST("/v1/polls/:id/ballots", s.castBallot, s.rateLimiter("ballots", p.BallotLimit))
		e.GET("/polls", s.pollsPage)
	}

	// Relays (and anonymous clients): admission, limited by cost (see
	// AdmitLimits); relays that sign with a relay key get their own limits.
	if d.Admission != nil {
		s.admitGate = newAdmitGate(s, s.cfg.AdmitLimit, s.cfg.Admit)
		limit := s.admitGate.middleware
		e.POST("/v1/admit", s.admit, limit)
		e.POST("/v1/admit/batch", s.admitBatch, limit)
		e.POST("/v1/tags/register", s.registerTags, limit)
		s.registerAdmissionMetrics()
		s.registerRegistryMetrics()
	}

	// Webhooks: Stripe, authenticated by its signature. The global
	// middleware sees the route's refusals of other methods (405) too.
	if d.Payments != nil {
		e.POST(webhookPath, s.stripeWebhook)
		e.Use(s.webhookFailures())
	}

	// Operators: the dashboard, behind the login (requireOps).
	if p := d.Pages; p != nil && p.Ops != nil && d.DB != nil && p.Books != nil {
		e.GET("/ops/login", s.opsLoginPage)
		e.POST("/ops/login", s.opsLogin)
		g := e.Group("/ops", s.requireOps)
		g.GET("", s.opsHome)
		g.GET("/orders", s.opsOrders)
		g.GET("/orders/:id", s.opsOrder)
		g.POST("/orders/:id/settle", s.opsSettle)
		g.POST("/orders/:id/revoke", s.opsRevoke)
		g.GET("/payments", s.opsPayments)
		g.GET("/exceptions", s.opsExceptions)
		g.GET("/export/:what", s.opsExport)
		g.GET("/revenue.svg", s.opsRevenueSVG)
		g.GET("/reconcile", s.opsReconcile)
		g.GET("/audit", s.opsAudit)
		g.POST("/logout", s.opsLogout)
	}

	// Dev: `licensed dev` only. The stand-in for Stripe's hosted checkout,
	// and the regtest wallet; both refuse cross-site posts.
	if d.Payments != nil && d.DevCheckout != nil {
		e.GET("/dev/checkout/:id", s.devCheckoutPage)
		e.POST("/dev/checkout/:id/complete", s.devCheckoutComplete, sameSiteOnly)
	}
	if d.BitcoinDev != nil {
		e.GET("/dev/btc/:id", s.devBitcoinPage)
		e.POST("/dev/btc/:id/pay", s.devBitcoinPay, sameSiteOnly)
		e.POST("/dev/btc/mine", s.devBitcoinMine, sameSiteOnly)
	}
}

// staticAssets serves the embedded static folder: files only (the one 404
// page for anything else, no directory listings), cached for an hour.
func (s *Server) staticAssets() echo.HandlerFunc {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	assets := http.StripPrefix("/static/", http.FileServer(http.FS(static)))
	return func(c echo.Context) error {
		name := strings.TrimPrefix(c.Request().URL.Path, "/static/")
		if fi, err := fs.Stat(static, name); err != nil || fi.IsDir() {
			return echo.ErrNotFound // the one 404 page; no directory listings
		}
		c.Response().Header().Set("Cache-Control", "public, max-age=3600")
		c.Response().Header().Set("X-Content-Type-Options", "nosniff")
		assets.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}
