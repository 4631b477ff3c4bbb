package payments_test

import (
	"crypto/rand"
	"testing"

	"github.com/licensed/licensed/internal/paytest"
	"github.com/licensed/licensed/internal/pgtest"
	"github.com/licensed/licensed/issuer"
	"github.com/licensed/licensed/payments"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newEnv is a payments service on its own database with a license index, a
// running ledger sequencer and, withStripe, a stripe-mock.
func newEnv(t *testing.T, withStripe bool) *paytest.Env {
	return newEnvOpts(t, withStripe, true)
}

// newEnvOpts is newEnv; without run, no sequencer runs: the test calls
// e.Round().
func newEnvOpts(t *testing.T, withStripe, run bool, mods ...func(*payments.Config)) *paytest.Env {
	t.Helper()
	return paytest.New(t, paytest.Options{Stripe: withStripe, ManualRounds: !run, Config: func(c *payments.Config) {
		for _, mod := range mods {
			mod(c)
		}
	}})
}

func newAccount(t *testing.T) *issuer.Account {
	t.Helper()
	a, err := issuer.NewAccount(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
