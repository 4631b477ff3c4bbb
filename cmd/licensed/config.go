package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/licensed/licensed/payments"
)

// Config is every setting of the server, from flags and the environment.
// A flag wins over its environment variable; a secret may also be given as a
// file whose path is in NAME_FILE (Docker and systemd credentials style), so it
// never has to appear in a process listing or a shell history.
type Config struct {
	// Addr is the address to listen on. Env LICENSED_ADDR.
	Addr string
	// DatabaseURL is the Postgres URL (secret: may contain a password).
	// Env DATABASE_URL or DATABASE_URL_FILE. Empty under `dev` means the
	// managed cluster in DataDir.
	DatabaseURL string
	// DataDir holds what the server keeps on disk: keys, and under `dev` the
	// managed Postgres cluster. Env LICENSED_DATA_DIR.
	DataDir string
	// Migrate applies pending migrations at start (always on under `dev`).
	// Env LICENSED_MIGRATE.
	Migrate bool
	// LogFormat is "text" or "json". Env LICENSED_LOG_FORMAT.
	LogFormat string
	// LogLevel is debug, info, warn or error. Env LICENSED_LOG_LEVEL.
	LogLevel string
	// BodyLimit bounds request bodies in bytes. Env LICENSED_BODY_LIMIT.
	BodyLimit int64
	// ShutdownTimeout bounds the graceful shutdown. Env LICENSED_SHUTDOWN_TIMEOUT.
	ShutdownTimeout time.Duration

	// TrustProxy takes client addresses (for the in-memory rate limits only)
	// from X-Forwarded-For. Env LICENSED_TRUST_PROXY.
	TrustProxy bool
	// OrderRate/OrderBurst and AdmitRate/AdmitBurst rate-limit POST
	// /v1/orders and the admission endpoints per client (requests per second;
	// 0 disables). Env LICENSED_ORDER_RATE, LICENSED_ORDER_BURST,
	// LICENSED_ADMIT_RATE, LICENSED_ADMIT_BURST.
	OrderRate, AdmitRate   float64
	OrderBurst, AdmitBurst int

	// Ledger: see ledger.go.
	LedgerOrigin  string // env LICENSED_LEDGER_ORIGIN
	LedgerKeyFile string // signer key file; env LICENSED_LEDGER_KEY_FILE

	// Operators (issue 8): the dashboard under /ops.
	// OpsPasswordHash is the bcrypt hash of the operator password (make one
	// with `licensed ops-hash`; secret, no flag): env
	// LICENSED_OPS_PASSWORD_HASH or LICENSED_OPS_PASSWORD_HASH_FILE. Empty
	// turns the dashboard off, except under `dev`, which makes a password on
	// first run, keeps it in DATA_DIR/ops-password (mode 0600) and prints it
	// once.
	OpsPasswordHash string

	// Payments (issue 5).
	// PlansFile is the TOML file of the plans on sale (see payments.ParsePlans).
	// Empty under `dev` means two sample plans; empty under `serve` turns
	// orders off. Env LICENSED_PLANS_FILE.
	PlansFile string
	// StripeSecretKey is the Stripe API secret key (secret, no flag). Env
	// STRIPE_SECRET_KEY or STRIPE_SECRET_KEY_FILE. Without it card payments
	// are off, except under `dev`, which then uses stripe-mock.
	StripeSecretKey string
	// StripeWebhookSecret is the webhook endpoint's signing secret (secret,
	// no flag).
	// Env STRIPE_WEBHOOK_SECRET or STRIPE_WEBHOOK_SECRET_FILE.
	StripeWebhookSecret string
	// StripeAPIURL sends Stripe API calls to another server (a stripe-mock
	// you run yourself). Env LICENSED_STRIPE_API_URL.
	StripeAPIURL string
	// StripeMock makes `dev` start the pinned stripe-mock on loopback and
	// serve the dev checkout page (default under dev when no Stripe keys are
	// set). Env LICENSED_STRIPE_MOCK.
	StripeMock bool
	// PublicURL is the server's address as customers reach it, for Stripe's
	// return URLs; default http://ADDR. Env LICENSED_PUBLIC_URL.
	PublicURL string
	// CardRetention and BTCRetention are how long the exact order → ledger
	// entry link is kept so a refund or dispute can revoke the license
	// (0: never stored). Env LICENSED_CARD_RETENTION, LICENSED_BTC_RETENTION.
	CardRetention, BTCRetention time.Duration

	// Admission (issue 7): POST /v1/admit, /v1/admit/batch, GET
	// /v1/licenses/valid (package ledger/admission).
	// Network is the network name, the first part of every scope
	// ("<network>/<YYYY-MM-DD>"). Env LICENSED_NETWORK.
	Network string
	// ClockSkew is how long around midnight UTC the previous or next day's
	// scope is also accepted. Env LICENSED_CLOCK_SKEW.
	ClockSkew time.Duration
	// RingMin and RingMax bound ring sizes (11 ≤ min ≤ max ≤ 1024). Env
	// LICENSED_RING_MIN, LICENSED_RING_MAX.
	RingMin, RingMax int
	// PoWDifficulty asks every admission for a proof of work of that many
	// leading zero bits (0: none); PoWWindow is its timestamp's freshness.
	// Env LICENSED_POW_DIFFICULTY, LICENSED_POW_WINDOW.
	PoWDifficulty int
	PoWWindow     time.Duration
	// FreeDifficulty, when > 0, admits blocks without a ring proof as plan
	// "free" with a proof of work of that many bits (the free tier). Env
	// LICENSED_FREE_DIFFICULTY.
	FreeDifficulty int
	// AdmitLinger is how long, under load, a tag round trip to the database
	// waits for more admissions to join it (never for a lone one): fewer
	// statements per admission for that much more latency. Env
	// LICENSED_ADMIT_LINGER.
	AdmitLinger time.Duration

	// Bitcoin (issue 6): see BitcoinConfig in btcd.go.
	Bitcoin BitcoinConfig
}

// register defines the flags of cfg on fs, with defaults from the environment.
func (cfg *Config) register(fs *flag.FlagSet, dev bool) {
	defAddr, defData := "127.0.0.1:8080", "/var/lib/licensed"
	if dev {
		defData = ".licensed"
	}
	fs.StringVar(&cfg.Addr, "addr", env("LICENSED_ADDR", defAddr), "address to listen on (env LICENSED_ADDR)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", secretEnv("DATABASE_URL"), "Postgres URL (env DATABASE_URL or DATABASE_URL_FILE)")
	fs.StringVar(&cfg.DataDir, "data-dir", env("LICENSED_DATA_DIR", defData), "folder for keys and, under dev, the managed database (env LICENSED_DATA_DIR)")
	fs.BoolVar(&cfg.Migrate, "migrate", envBool("LICENSED_MIGRATE", dev), "apply pending migrations at start (env LICENSED_MIGRATE)")
	fs.StringVar(&cfg.LogFormat, "log-format", env("LICENSED_LOG_FORMAT", map[bool]string{true: "text", false: "json"}[dev]), "log format: text or json (env LICENSED_LOG_FORMAT)")
	fs.StringVar(&cfg.LogLevel, "log-level", env("LICENSED_LOG_LEVEL", "info"), "log level: debug, info, warn or error (env LICENSED_LOG_LEVEL)")
	fs.Int64Var(&cfg.BodyLimit, "body-limit", envInt("LICENSED_BODY_LIMIT", 1<<20), "largest request body in bytes (env LICENSED_BODY_LIMIT)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", envDuration("LICENSED_SHUTDOWN_TIMEOUT", 10*time.Second), "how long a graceful shutdown may take (env LICENSED_SHUTDOWN_TIMEOUT)")
	fs.BoolVar(&cfg.TrustProxy, "trust-proxy", envBool("LICENSED_TRUST_PROXY", false), "take client addresses from X-Forwarded-For, for rate limits (env LICENSED_TRUST_PROXY)")
	fs.Float64Var(&cfg.OrderRate, "order-rate", envFloat("LICENSED_ORDER_RATE", 1), "orders per second per client; 0 disables (env LICENSED_ORDER_RATE)")
	fs.IntVar(&cfg.OrderBurst, "order-burst", int(envInt("LICENSED_ORDER_BURST", 10)), "burst of orders per client (env LICENSED_ORDER_BURST)")
	fs.Float64Var(&cfg.AdmitRate, "admit-rate", envFloat("LICENSED_ADMIT_RATE", 200), "admission requests per second per client; 0 disables (env LICENSED_ADMIT_RATE)")
	fs.IntVar(&cfg.AdmitBurst, "admit-burst", int(envInt("LICENSED_ADMIT_BURST", 400)), "burst of admission requests per client (env LICENSED_ADMIT_BURST)")
	fs.StringVar(&cfg.LedgerOrigin, "ledger-origin", env("LICENSED_LEDGER_ORIGIN", "licensed.example/ledger"), "origin line of the ledger's checkpoints (env LICENSED_LEDGER_ORIGIN)")
	fs.StringVar(&cfg.LedgerKeyFile, "ledger-key-file", env("LICENSED_LEDGER_KEY_FILE", ""), "file with the ledger's note signer key; default DATA_DIR/ledger.key (env LICENSED_LEDGER_KEY_FILE)")
	cfg.OpsPasswordHash = secretEnv("LICENSED_OPS_PASSWORD_HASH")
	fs.StringVar(&cfg.PlansFile, "plans-file", env("LICENSED_PLANS_FILE", ""), "TOML file of the plans on sale; under dev default two sample plans (env LICENSED_PLANS_FILE)")
	// Stripe's secrets have no flags, so they never show in a process
	// listing or in -h's defaults.
	cfg.StripeSecretKey, cfg.StripeWebhookSecret = secretEnv("STRIPE_SECRET_KEY"), secretEnv("STRIPE_WEBHOOK_SECRET")
	fs.StringVar(&cfg.StripeAPIURL, "stripe-api-url", env("LICENSED_STRIPE_API_URL", ""), "send Stripe API calls to this URL instead of api.stripe.com, e.g. a stripe-mock (env LICENSED_STRIPE_API_URL)")
	fs.BoolVar(&cfg.StripeMock, "stripe-mock", envBool("LICENSED_STRIPE_MOCK", dev && cfg.StripeSecretKey == ""), "under dev, start stripe-mock and serve the dev checkout page (env LICENSED_STRIPE_MOCK)")
	fs.StringVar(&cfg.PublicURL, "public-url", env("LICENSED_PUBLIC_URL", ""), "the server's URL as customers reach it; default http://ADDR (env LICENSED_PUBLIC_URL)")
	fs.DurationVar(&cfg.CardRetention, "card-retention", envDuration("LICENSED_CARD_RETENTION", payments.DefaultCardRetention), "how long a card order stays linked to its ledger entry (env LICENSED_CARD_RETENTION)")
	fs.DurationVar(&cfg.BTCRetention, "btc-retention", envDuration("LICENSED_BTC_RETENTION", 0), "how long a Bitcoin order stays linked to its ledger entry (env LICENSED_BTC_RETENTION)")
	cfg.Bitcoin.register(fs, dev)
	fs.StringVar(&cfg.Network, "network", env("LICENSED_NETWORK", map[bool]string{true: "dev", false: "main"}[dev]), "network name, the first part of every admission scope (env LICENSED_NETWORK)")
	fs.DurationVar(&cfg.ClockSkew, "clock-skew", envDuration("LICENSED_CLOCK_SKEW", 10*time.Minute), "how long around midnight UTC the neighbouring day's scope is accepted (env LICENSED_CLOCK_SKEW)")
	fs.IntVar(&cfg.RingMin, "ring-min", int(envInt("LICENSED_RING_MIN", 16)), "smallest ring admitted, at least 11 (env LICENSED_RING_MIN)")
	fs.IntVar(&cfg.RingMax, "ring-max", int(envInt("LICENSED_RING_MAX", 16)), "largest ring admitted, at most 1024 (env LICENSED_RING_MAX)")
	fs.IntVar(&cfg.PoWDifficulty, "pow-difficulty", int(envInt("LICENSED_POW_DIFFICULTY", 0)), "leading zero bits of the proof of work every admission needs; 0: none (env LICENSED_POW_DIFFICULTY)")
	fs.DurationVar(&cfg.PoWWindow, "pow-window", envDuration("LICENSED_POW_WINDOW", 5*time.Minute), "how far a proof of work's timestamp may be from the server's clock (env LICENSED_POW_WINDOW)")
	fs.IntVar(&cfg.FreeDifficulty, "free-difficulty", int(envInt("LICENSED_FREE_DIFFICULTY", 0)), "proof-of-work bits that admit a block without a license (free tier); 0: no free tier (env LICENSED_FREE_DIFFICULTY)")
	fs.DurationVar(&cfg.AdmitLinger, "admit-linger", envDuration("LICENSED_ADMIT_LINGER", 3*time.Millisecond), "under load, how long a tag round trip waits for more admissions to join it (env LICENSED_ADMIT_LINGER)")
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// secretEnv reads NAME, or the file named by NAME_FILE.
func secretEnv(name string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	if p := os.Getenv(name + "_FILE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "licensed: couldn't read %s_FILE: %v\n", name, err)
			os.Exit(2)
		}
		return strings.TrimSpace(string(b))
	}
	return ""
}

func envBool(name string, def bool) bool {
	switch strings.ToLower(os.Getenv(name)) {
	case "1", "true", "yes", "on":
		return true
	case "0", "false", "no", "off":
		return false
	}
	return def
}

func envInt(name string, def int64) int64 {
	var v int64
	if _, err := fmt.Sscan(os.Getenv(name), &v); err == nil {
		return v
	}
	return def
}

func envFloat(name string, def float64) float64 {
	var v float64
	if _, err := fmt.Sscan(os.Getenv(name), &v); err == nil {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}
