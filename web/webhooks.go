package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/payments/reconcile"
)

// webhookPath is where Stripe delivers events.
const webhookPath = "/v1/webhooks/stripe"

// stripeWebhook is POST /v1/webhooks/stripe. The body is read up to
// payments.MaxWebhookBody (a longer one is a 400), verified and applied in
// one transaction. It answers 200 for every verified event, handled or
// ignored, 400 for a delivery that fails verification, and 500 if the
// database failed, so that Stripe retries. The body is never logged.
func (s *Server) stripeWebhook(c echo.Context) error {
	body, err := payments.ReadWebhookBody(c.Request().Body)
	if err != nil {
		return err
	}
	if err := s.deps.Payments.HandleStripe(c.Request().Context(), body, c.Request().Header.Get("Stripe-Signature")); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]bool{"received": true})
}

// webhookFailures returns the middleware that accounts for every webhook
// delivery the server does not take: it counts it in
// licensed_webhook_failures_total by reason, and records it for the
// operators' "failed webhooks" queue (reconcile.Books.RecordWebhookFailure).
//
// Anyone can post to the webhook, so refusals are bounded: a refusal
// (unsigned, bad signature, stale, too large, another API version,
// malformed, another method) adds one to the row of its reason and hour,
// and is logged, without its body, when that count reaches 1, 10, 100….
// A delivery that passed verification and failed to apply (a 5xx) is
// logged and kept as an exception of its own. A signed event that does not
// decode as its type says is one exception per event: Stripe's retries add
// to its count (payments.UnreadableEventKey), logged at 1, 10, 100….
func (s *Server) webhookFailures() echo.MiddlewareFunc {
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "licensed_webhook_failures_total",
		Help: "Webhook deliveries refused or failed, by source and reason (unsigned, bad_signature, stale, too_large, api_version, malformed, method_not_allowed, apply_failed…).",
	}, []string{"source", "reason"})
	s.reg.MustRegister(failures)
	books := s.webhookBooks()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			err := next(c)
			if err == nil || c.Path() != webhookPath {
				return err
			}
			e, _ := toError(err)
			f := reconcile.WebhookFailure{Source: "stripe", Status: e.Status, Code: e.Code, Reason: webhookReason(c.Request(), e)}
			// A signed event that could not be applied is the operator's to
			// look at, each on its own; refusals are counted by reason and
			// hour (another API version too: one setting to fix, however
			// many events it refused).
			f.Alone = e.Status >= 500 || e.Code == payments.ErrWebhookUnreadable.Code()
			// Stripe retries a 400 for days: an unreadable event's deliveries
			// count in its one row.
			f.Event = payments.UnreadableEventKey(err)
			failures.WithLabelValues(f.Source, f.Reason).Inc()
			count := int64(1)
			if books != nil {
				// Recorded even when the client has gone away.
				ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), 2*time.Second)
				defer cancel()
				n, rerr := books.RecordWebhookFailure(ctx, f)
				if rerr != nil {
					s.log.Warn("couldn't record a webhook failure", "reason", f.Reason, "err", rerr)
				}
				count = n
			}
			switch {
			case f.Event != "":
				if isPowerOfTen(count) {
					s.log.Warn("webhook event refused", "source", f.Source, "reason", f.Reason,
						"status", f.Status, "code", f.Code, "event_id", f.Event, "deliveries", count)
				}
			case f.Alone || isPowerOfTen(count):
				s.log.Warn("webhook delivery refused", "source", f.Source, "reason", f.Reason,
					"status", f.Status, "code", f.Code, "count_this_hour", count)
			}
			return err
		}
	}
}

// webhookBooks is where webhook failures are recorded: the dashboard's
// books, or the database's; nil without a database.
func (s *Server) webhookBooks() *reconcile.Books {
	if s.deps.Pages != nil && s.deps.Pages.Books != nil {
		return s.deps.Pages.Books
	}
	if s.deps.DB != nil {
		return reconcile.NewBooks(s.deps.DB)
	}
	return nil
}

// webhookReason names why a delivery failed, finer than the code Stripe
// sees: a webhook_signature is "unsigned" (no header), "stale" (its
// timestamp older than payments.WebhookTolerance) or "bad_signature".
func webhookReason(r *http.Request, e *Error) string {
	if e.Status >= 500 {
		return "apply_failed"
	}
	switch e.Code {
	case payments.ErrWebhookSignature.Code():
		h := r.Header.Get("Stripe-Signature")
		if h == "" {
			return "unsigned"
		}
		if t, ok := signatureTime(h); ok && time.Since(t) > payments.WebhookTolerance {
			return "stale"
		}
		return "bad_signature"
	case payments.ErrWebhookTooLarge.Code():
		return "too_large"
	case payments.ErrWebhookAPIVersion.Code():
		return "api_version"
	case payments.ErrWebhookMalformed.Code():
		return "malformed"
	case payments.ErrWebhookUnreadable.Code():
		return "unreadable"
	}
	return e.Code // method_not_allowed, card_unavailable…
}

// signatureTime is the t= of a Stripe-Signature header.
func signatureTime(h string) (time.Time, bool) {
	for _, part := range strings.Split(h, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
			sec, err := strconv.ParseInt(v, 10, 64)
			return time.Unix(sec, 0), err == nil
		}
	}
	return time.Time{}, false
}

// isPowerOfTen is whether n is 1, 10, 100….
func isPowerOfTen(n int64) bool {
	for n >= 10 && n%10 == 0 {
		n /= 10
	}
	return n == 1
}
