package web

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/licensed/licensed/payments"
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
