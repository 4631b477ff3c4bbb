package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensed/licensed/internal/fakestripe"
	"github.com/licensed/licensed/internal/launch/stripemock"
	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/ledger/pgledger"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/web"
)

// openPayments wires payments: the plans, the card method (real
// Stripe with STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET; under dev without
// them, stripe-mock and the dev checkout page), the issuer's minter and the
// retention job. It returns the sequencer's hook that records minted orders,
// nil when payments are off: without plans (serve without a plans file).
func (m *Main) openPayments(ctx context.Context, deps *web.Deps) (onSequenced func(ctx context.Context, tx pgx.Tx, round int64, seq []pgledger.Sequenced) error, err error) {
	cfg := &m.Config
	plans, err := m.loadPlans()
	if err != nil {
		return nil, err
	}
	if plans == nil {
		m.Log.Info("payments are off: no plans file (--plans-file)")
		return nil, nil
	}
	public := strings.TrimSuffix(cfg.PublicURL, "/")
	if public == "" {
		public = "http://" + cfg.Addr
	}
	var methods []payments.Method
	cardCfg := payments.CardConfig{
		SecretKey: cfg.StripeSecretKey, WebhookSecret: cfg.StripeWebhookSecret, APIURL: cfg.StripeAPIURL,
		SuccessURL: public + "/invoice/{ORDER_ID}", CancelURL: public + "/invoice/{ORDER_ID}?cancelled=1", Log: m.Log,
	}
	switch {
	case cfg.StripeSecretKey != "":
		if cfg.StripeWebhookSecret == "" {
			return nil, usageError("STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: set the webhook endpoint's signing secret too")
		}
	case m.Dev && cfg.StripeMock:
		if cfg.StripeAPIURL == "" {
			sm, err := stripemock.Run(ctx, nil)
			if err != nil {
				// Dev still runs: Bitcoin, the ledger and admission do
				// not need Stripe.
				m.Log.Warn("card payments are off: stripe-mock did not start", "err", err)
				break
			}
			m.closers = append(m.closers, sm.Stop)
			cardCfg.APIURL = sm.URL
			m.Log.Info("card payments through stripe-mock; pay on the dev checkout page", "stripe_mock", sm.URL)
		}
		var secret [24]byte
		rand.Read(secret[:])
		cardCfg.SecretKey = "sk_test_licenseddev"
		cardCfg.WebhookSecret = "whsec_dev_" + hex.EncodeToString(secret[:])
		cardCfg.CheckoutURL = "/dev/checkout/{ORDER_ID}"
		webhookSecret := cardCfg.WebhookSecret
		deps.DevCheckout = &web.DevCheckout{PaidEvent: func(o *payments.Order) ([]byte, string) {
			return fakestripe.PaidCheckout(webhookSecret, o.ID, o.StripeSession, o.Amount, o.Currency)
		}}
	default:
		m.Log.Info("card payments are off: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET")
	}
	if cardCfg.SecretKey != "" {
		card, err := payments.NewCard(cardCfg)
		if err != nil {
			return nil, usageError(err.Error())
		}
		methods = append(methods, card)
	}
	minter := issuer.NewMinter(nil)
	svc, err := payments.New(m.DB, payments.Config{
		Plans: plans, Methods: methods, Minter: payments.NewLedgerMinter(minter), ParseAddress: minter.CheckAddress,
		Retention: map[string]time.Duration{payments.MethodCard: cfg.CardRetention, payments.MethodBTC: cfg.BTCRetention},
		Log:       m.Log,
	})
	if err != nil {
		return nil, err
	}
	deps.Payments = svc
	bg, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.RunRetention(bg, time.Hour) }()
	m.closers = append(m.closers, func() { stop(); <-done })
	return svc.OnSequenced, nil
}
