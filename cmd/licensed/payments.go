package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/ledger"
	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/web"
)

// stripeMock is a running stripe-mock (github.com/stripe/stripe-mock, pinned
// as a tool in go.mod): a stateless fake of the Stripe API. It sends no
// webhooks; the dev checkout page stands in for them.
type stripeMock struct {
	URL  string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// stripeMockBinary finds the stripe-mock binary: $LICENSED_STRIPE_MOCK_BIN,
// then stripe-mock in PATH (`go install tool` puts it there), then the
// module's pinned tool (`go tool -n stripe-mock`, which builds it once).
func stripeMockBinary(ctx context.Context) (string, error) {
	if p := os.Getenv("LICENSED_STRIPE_MOCK_BIN"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p, nil
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "-n", "stripe-mock").Output()
	if err != nil {
		return "", fmt.Errorf("couldn't find stripe-mock: run 'go install tool' in the repository, or set LICENSED_STRIPE_MOCK_BIN (%v)", err)
	}
	p := string(out)
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p, nil
}

// freePort returns a free TCP port on loopback (free when asked: another
// process may take it before stripe-mock does, then start fails and says so).
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startStripeMock starts stripe-mock with both its HTTP and HTTPS listeners
// on loopback (by default it binds every interface) and waits until it
// answers. log receives its output.
func startStripeMock(ctx context.Context, log io.Writer) (*stripeMock, error) {
	bin, err := stripeMockBinary(ctx)
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort()
	if err != nil {
		return nil, err
	}
	httpsPort, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:"+strconv.Itoa(httpPort), "-https-addr", "127.0.0.1:"+strconv.Itoa(httpsPort))
	cmd.Stdout, cmd.Stderr = log, log
	// If licensed dies, even by SIGKILL, stripe-mock goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("couldn't start stripe-mock: %w", err)
	}
	sm := &stripeMock{URL: "http://127.0.0.1:" + strconv.Itoa(httpPort), cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(sm.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(httpPort), time.Second)
		if err == nil {
			c.Close()
			return sm, nil
		}
		select {
		case <-sm.done:
			return nil, fmt.Errorf("stripe-mock exited at start: %v", cmd.ProcessState)
		case <-ctx.Done():
			sm.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			sm.Stop()
			return nil, errors.New("stripe-mock did not answer within 30 s")
		}
	}
}

// Stop ends stripe-mock and waits for it.
func (sm *stripeMock) Stop() {
	sm.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-sm.done:
	case <-time.After(5 * time.Second):
		sm.cmd.Process.Kill()
		<-sm.done
	}
}

// openPayments wires payments (issue 5): the plans, the card method (real
// Stripe with STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET; under dev without
// them, stripe-mock and the dev checkout page), the issuer's minter, the
// sequencer's hook that records minted orders, and the retention job. Without
// plans (serve without a plans file) payments stay off.
func (m *Main) openPayments(ctx context.Context, deps *web.Deps, led *ledger.Ledger) error {
	cfg := &m.Config
	plans, err := m.loadPlans()
	if err != nil {
		return err
	}
	if plans == nil {
		m.Log.Info("payments are off: no plans file (--plans-file)")
		return nil
	}
	public := strings.TrimSuffix(cfg.PublicURL, "/")
	if public == "" {
		public = "http://" + cfg.Addr
	}
	var methods []payments.Method
	cardCfg := payments.CardConfig{
		SecretKey: cfg.StripeSecretKey, WebhookSecret: cfg.StripeWebhookSecret, APIURL: cfg.StripeAPIURL,
		SuccessURL: public + "/invoice/{ORDER_ID}", CancelURL: public + "/", Log: m.Log,
	}
	switch {
	case cfg.StripeSecretKey != "":
		if cfg.StripeWebhookSecret == "" {
			return usageError("STRIPE_SECRET_KEY is set but STRIPE_WEBHOOK_SECRET is not: set the webhook endpoint's signing secret too")
		}
	case m.Dev && cfg.StripeMock:
		if cfg.StripeAPIURL == "" {
			sm, err := startStripeMock(ctx, io.Discard)
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
		deps.DevCheckout = &web.DevCheckout{WebhookSecret: cardCfg.WebhookSecret}
	default:
		m.Log.Info("card payments are off: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET")
	}
	if cardCfg.SecretKey != "" {
		card, err := payments.NewCard(cardCfg)
		if err != nil {
			return usageError(err.Error())
		}
		methods = append(methods, card)
	}
	minter := issuer.NewMinter(nil)
	svc, err := payments.New(m.DB, payments.Config{
		Plans: plans, Methods: methods, Minter: minter, ParseAddress: minter.CheckAddress,
		Retention: map[string]time.Duration{payments.MethodCard: cfg.CardRetention, payments.MethodBTC: cfg.BTCRetention},
		Log:       m.Log,
	})
	if err != nil {
		return err
	}
	led.SetOnSequenced(svc.OnSequenced)
	deps.Payments = svc
	bg, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); svc.RunRetention(bg, time.Hour) }()
	m.closers = append(m.closers, func() { stop(); <-done })
	return nil
}
