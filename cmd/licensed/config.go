package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/licensed/licensed/payments"
	"github.com/licensed/licensed/web"
)

// Config is every setting of the server, from flags and the environment.
// Each setting is one row of the flag table that register builds: a flag,
// and an environment variable named after it (LICENSED_ + the flag's name in
// upper case with - as _, unless the row names another). A flag wins over
// its environment variable, which wins over the default. Both go through the
// flag's own parser, so a value means the same wherever it is given, and one
// that does not parse stops the program with a line naming the variable and
// the form it takes. An empty variable counts as unset.
//
// A secret has no flag, so it never shows in a process listing or in -h's
// defaults: it comes from its environment variable or from a file whose path
// is in NAME_FILE (Docker and systemd credentials style).
type Config struct {
	// Addr is the address to listen on.
	Addr string
	// DatabaseURL is the Postgres URL (secret: may contain a password). Empty
	// under `dev` means the managed cluster in DataDir.
	DatabaseURL string
	// DataDir holds what the server keeps on disk: keys, and under `dev` the
	// managed Postgres cluster.
	DataDir string
	// Migrate applies pending migrations at start (always on under `dev`).
	Migrate bool
	// LogFormat is "text" or "json".
	LogFormat string
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// BodyLimit bounds request bodies in bytes.
	BodyLimit int64
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration

	// TrustProxy takes client addresses (rate limits, login throttling) from
	// X-Forwarded-For and the scheme (Secure cookies, HSTS) from
	// X-Forwarded-Proto: only behind a proxy that overwrites both.
	TrustProxy bool
	// MetricsAddr is where /metrics is served, apart from the customer
	// port (default 127.0.0.1:9464; under dev a free loopback port; "off"
	// serves none). PublicMetrics serves it on the customer port too.
	MetricsAddr   string
	PublicMetrics bool
	// OrderRate/OrderBurst and AdmitRate/AdmitBurst rate-limit POST /v1/orders
	// and the admission endpoints per client (requests per second; 0 disables).
	OrderRate, AdmitRate   float64
	OrderBurst, AdmitBurst int
	// AdmitInFlight bounds the admission proofs one anonymous client may
	// have in flight (and so its largest batch); AdmitTotalInFlight those of
	// all clients together. RelayKeysFile and RelayKeys hold the relay keys
	// (hashes, see web.ParseRelayKeys); RelayRate, RelayBurst and
	// RelayInFlight are the limits of a key whose line sets none. See
	// web.AdmitLimits and admission.go.
	AdmitInFlight, AdmitTotalInFlight int
	RelayKeysFile, RelayKeys          string
	RelayRate                         float64
	RelayBurst, RelayInFlight         int

	// Ledger: see ledger.go.
	LedgerOrigin  string
	LedgerKeyFile string // signer key file
	// WitnessesFile is the C2SP tlog-policy file of the ledger's witnesses:
	// see witness.go.
	WitnessesFile string

	// Operators: the dashboard under /ops. OpsPasswordHash is the bcrypt hash of
	// the operator password (make one with `licensed ops-hash`; secret, no
	// flag): env LICENSED_OPS_PASSWORD_HASH or LICENSED_OPS_PASSWORD_HASH_FILE.
	// Empty turns the dashboard off, except under `dev`, which makes a password
	// on first run, keeps it in DATA_DIR/ops-password (mode 0600) and prints it
	// once.
	OpsPasswordHash string

	// Payments. PlansFile is the TOML file of the plans on sale (see
	// payments.ParsePlans). Empty under `dev` means two sample plans; empty
	// under `serve` turns orders off.
	PlansFile string
	// StripeSecretKey is the Stripe API secret key (secret, no flag). Without it
	// card payments are off, except under `dev`, which then uses stripe-mock.
	StripeSecretKey string
	// StripeWebhookSecret is the webhook endpoint's signing secret (secret, no
	// flag).
	StripeWebhookSecret string
	// StripeAPIURL sends Stripe API calls to another server (a stripe-mock you
	// run yourself).
	StripeAPIURL string
	// StripeMock makes `dev` start the pinned stripe-mock on loopback and serve
	// the dev checkout page (default under dev when no Stripe keys are set).
	StripeMock bool
	// PublicURL is the server's address as customers reach it, for Stripe's
	// return URLs; default http://ADDR.
	PublicURL string
	// OperatorContact is how customers reach the operator (an email
	// address, a URL or a sentence), shown where a page asks them to write:
	// refunds of partial, late or excess Bitcoin payments.
	OperatorContact string
	// CardRetention and BTCRetention are how long the exact order → ledger entry
	// link is kept so a refund or dispute can revoke the license (0: never
	// stored).
	CardRetention, BTCRetention time.Duration

	// Admission: POST /v1/admit, /v1/admit/batch, GET /v1/licenses/valid
	// (package ledger/admission). Network is the network name, the first part of
	// every scope ("<network>/<YYYY-MM-DD>").
	Network string
	// ClockSkew is how long around midnight UTC the previous or next day's scope
	// is also accepted.
	ClockSkew time.Duration
	// RingMin and RingMax bound ring sizes (11 ≤ min ≤ max ≤ 1024).
	RingMin, RingMax int
	// PoWDifficulty asks every admission for a proof of work of that many
	// leading zero bits (0: none); PoWWindow is its timestamp's freshness.
	PoWDifficulty int
	PoWWindow     time.Duration
	// FreeDifficulty, when > 0, admits blocks without a ring proof as plan
	// "free" with a proof of work of that many bits (the free tier).
	FreeDifficulty int
	// AdmitLinger is how long, under load, a tag round trip to the database
	// waits for more admissions to join it (never for a lone one): fewer
	// statements per admission for that much more latency.
	AdmitLinger time.Duration

	// Bitcoin: see BitcoinConfig in btcd.go.
	Bitcoin BitcoinConfig
	// Anchor: the ledger's Bitcoin timestamps, see AnchorConfig in anchor.go.
	Anchor AnchorConfig
}

// register builds the flag table of cfg on fs. Its environment variables
// are read by parseFlags once the command line is parsed.
func (cfg *Config) register(fs *flag.FlagSet, dev bool) {
	defData, defFormat, defNet := serveDataDir, "json", "main"
	if dev {
		defData, defFormat, defNet = devDataDir, "text", "dev"
	}
	t := newFlagTable(fs)
	t.String(&cfg.Addr, "addr", "127.0.0.1:8080", "address to listen on")
	t.String(&cfg.DatabaseURL, "database-url", "", "Postgres URL").Env("DATABASE_URL").File()
	t.String(&cfg.DataDir, "data-dir", defData, "folder for keys and, under dev, the managed database")
	t.Bool(&cfg.Migrate, "migrate", dev, "apply pending migrations at start")
	t.Choice(&cfg.LogFormat, "log-format", defFormat, "log format", "text", "json")
	t.Choice(&cfg.LogLevel, "log-level", "info", "log level", "debug", "info", "warn", "error")
	t.Int64(&cfg.BodyLimit, "body-limit", 1<<20, "largest request body in bytes")
	t.Duration(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")
	t.Bool(&cfg.TrustProxy, "trust-proxy", false, "take the client address from X-Forwarded-For and the scheme from X-Forwarded-Proto (rate limits, login throttling, Secure cookies, HSTS); only behind a proxy that overwrites both")
	defMetrics := "127.0.0.1:9464"
	if dev {
		defMetrics = "127.0.0.1:0"
	}
	t.String(&cfg.MetricsAddr, "metrics-addr", defMetrics, "address of the Prometheus /metrics listener, apart from the customer port; \"off\" for none")
	t.Bool(&cfg.PublicMetrics, "public-metrics", false, "also serve /metrics on the customer port (it shows sales volume and operator activity)")
	t.Float64(&cfg.OrderRate, "order-rate", 1, "orders per second per client; 0 disables")
	t.Int(&cfg.OrderBurst, "order-burst", 10, "burst of orders per client")
	t.Float64(&cfg.AdmitRate, "admit-rate", web.DefaultAdmitRate, "admission proofs per second per anonymous client (a batch of n costs n); 0 disables")
	t.Int(&cfg.AdmitBurst, "admit-burst", web.DefaultAdmitBurst, "burst of admission proofs per anonymous client")
	t.Int(&cfg.AdmitInFlight, "admit-in-flight", web.DefaultAdmitInFlight, "proofs one anonymous client may have in flight, and its largest batch; 0: no bound")
	t.Int(&cfg.AdmitTotalInFlight, "admit-total-in-flight", web.DefaultAdmitTotalInFlight, "proofs in flight over all clients before admission answers 503 overloaded; 0: no bound")
	t.String(&cfg.RelayKeysFile, "relay-keys-file", "", "file of relay keys, one 'NAME sha256:HEX [rate=R] [burst=B] [inflight=N]' a line (licensed relay-key new prints them)")
	t.String(&cfg.RelayKeys, "relay-keys", "", "relay key lines as in --relay-keys-file, separated by newlines or ';' (added to the file's)")
	t.Float64(&cfg.RelayRate, "relay-rate", web.DefaultRelayRate, "admission proofs per second per relay key whose line sets none; 0 disables")
	t.Int(&cfg.RelayBurst, "relay-burst", web.DefaultRelayBurst, "burst of admission proofs per relay key whose line sets none")
	t.Int(&cfg.RelayInFlight, "relay-in-flight", web.DefaultRelayInFlight, "proofs one relay key may have in flight, when its line sets none; 0: no bound")
	t.String(&cfg.LedgerOrigin, "ledger-origin", "licensed.example/ledger", "origin line of the ledger's checkpoints")
	t.String(&cfg.LedgerKeyFile, "ledger-key-file", "", "file with the ledger's note signer key; default DATA_DIR/ledger.key")
	t.String(&cfg.WitnessesFile, "witnesses-file", "", "C2SP tlog-policy file of the ledger's witnesses: each with a URL is sent every checkpoint, and a checkpoint is served once its quorum cosigned; under dev default: three local witnesses")
	t.Secret(&cfg.OpsPasswordHash, "LICENSED_OPS_PASSWORD_HASH")
	t.String(&cfg.PlansFile, "plans-file", "", "TOML file of the plans on sale; under dev default two sample plans")
	t.Secret(&cfg.StripeSecretKey, "STRIPE_SECRET_KEY")
	t.Secret(&cfg.StripeWebhookSecret, "STRIPE_WEBHOOK_SECRET")
	t.String(&cfg.StripeAPIURL, "stripe-api-url", "", "send Stripe API calls to this URL instead of api.stripe.com, e.g. a stripe-mock")
	mock := t.Bool(&cfg.StripeMock, "stripe-mock", dev, "under dev, start stripe-mock and serve the dev checkout page; default when no STRIPE_SECRET_KEY is set")
	t.Then(func() {
		if !mock.given {
			cfg.StripeMock = dev && cfg.StripeSecretKey == ""
		}
	})
	t.String(&cfg.PublicURL, "public-url", "", "the server's URL as customers reach it; default http://ADDR")
	defContact := ""
	if dev {
		defContact = "operator@localhost (licensed dev: set --operator-contact)"
	}
	t.String(&cfg.OperatorContact, "operator-contact", defContact, "how customers reach you for refunds (email, URL or a sentence), shown on the pages that ask them to write")
	t.Retention(&cfg.CardRetention, "card-retention", payments.DefaultCardRetention, "how long a card order stays linked to its ledger entry")
	t.Retention(&cfg.BTCRetention, "btc-retention", 0, "how long a Bitcoin order stays linked to its ledger entry")
	cfg.Bitcoin.register(t, dev)
	cfg.Anchor.register(t)
	t.String(&cfg.Network, "network", defNet, "network name, the first part of every admission scope")
	t.Duration(&cfg.ClockSkew, "clock-skew", 10*time.Minute, "how long around midnight UTC the neighbouring day's scope is accepted")
	t.Int(&cfg.RingMin, "ring-min", 16, "smallest ring admitted, at least 11")
	t.Int(&cfg.RingMax, "ring-max", 16, "largest ring admitted, at most 1024")
	t.Int(&cfg.PoWDifficulty, "pow-difficulty", 0, "leading zero bits of the proof of work every admission needs; 0: none")
	t.Duration(&cfg.PoWWindow, "pow-window", 5*time.Minute, "how far a proof of work's timestamp may be from the server's clock")
	t.Int(&cfg.FreeDifficulty, "free-difficulty", 0, "proof-of-work bits that admit a block without a license (free tier); 0: no free tier")
	t.Duration(&cfg.AdmitLinger, "admit-linger", 3*time.Millisecond, "under load, how long a tag round trip waits for more admissions to join it")
}

// env is an environment variable of a flag outside the table (a verb's own
// string flag), or def. Prefer a row of the table.
func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// A flagTable is the settings one register call defines on a flag set:
// flags with their environment variables, and secrets (environment only).
type flagTable struct {
	fs    *flag.FlagSet
	rows  []*setting
	then  []func()
	ready bool // loadEnv ran
}

// A setting is one row of a flagTable. It is also the flag.Value the flag
// set holds, so parseFlags finds the table from the flags.
type setting struct {
	flag.Value // the row's parser and where its value goes
	table      *flagTable
	name       string // the flag; "" for a secret
	env        string // the environment variable
	kind       string // "int", "duration"…, for -h
	form       string // the accepted form, for errors: "a whole number such as 400"
	file       bool   // NAME_FILE may give the value
	given      bool   // set by its flag or its environment variable
}

func newFlagTable(fs *flag.FlagSet) *flagTable { return &flagTable{fs: fs} }

// envName is the environment variable of a flag: LICENSED_ and the flag's
// name in upper case, - as _.
func envName(flagName string) string {
	return "LICENSED_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// add wraps the flag name, just defined on the flag set, into a row.
func (t *flagTable) add(name, kind, form string) *setting {
	f := t.fs.Lookup(name)
	s := &setting{Value: f.Value, table: t, name: name, env: envName(name), kind: kind, form: form}
	f.Value = s
	t.rows = append(t.rows, s)
	return s
}

func (t *flagTable) String(p *string, name, def, usage string) *setting {
	t.fs.StringVar(p, name, def, usage)
	return t.add(name, "string", "")
}

func (t *flagTable) Int(p *int, name string, def int, usage string) *setting {
	t.fs.IntVar(p, name, def, usage)
	return t.add(name, "int", fmt.Sprintf("a whole number such as %d", def))
}

func (t *flagTable) Int64(p *int64, name string, def int64, usage string) *setting {
	t.fs.Int64Var(p, name, def, usage)
	return t.add(name, "int", fmt.Sprintf("a whole number such as %d", def))
}

func (t *flagTable) Float64(p *float64, name string, def float64, usage string) *setting {
	t.fs.Float64Var(p, name, def, usage)
	return t.add(name, "number", fmt.Sprintf("a number such as %g or 0.5", def))
}

func (t *flagTable) Bool(p *bool, name string, def bool, usage string) *setting {
	t.fs.BoolVar(p, name, def, usage)
	return t.add(name, "", "true or false (or 1 or 0)")
}

func (t *flagTable) Duration(p *time.Duration, name string, def time.Duration, usage string) *setting {
	t.fs.DurationVar(p, name, def, usage)
	return t.add(name, "duration", "a duration such as 30s, 5m or 1h30m")
}

// Retention is a duration that also takes whole days ("30d"), never
// negative: how long something is kept.
func (t *flagTable) Retention(p *time.Duration, name string, def time.Duration, usage string) *setting {
	*p = def
	t.fs.Var((*retention)(p), name, usage)
	return t.add(name, "days", "a number of days such as 30d, or a duration such as 720h (0: not kept)")
}

// Choice is a string that must be one of choices (compared without case).
func (t *flagTable) Choice(p *string, name, def, usage string, choices ...string) *setting {
	*p = def
	t.fs.Var(&choice{p, choices}, name, usage+": "+orList(choices))
	return t.add(name, "string", "one of "+orList(choices))
}

// Secret is an environment-only setting, also read from the file named by
// NAME_FILE.
func (t *flagTable) Secret(p *string, env string) *setting {
	s := &setting{Value: (*secret)(p), table: t, env: env, file: true}
	t.rows = append(t.rows, s)
	return s
}

// Then runs f once every row has its value, for defaults that depend on
// other settings.
func (t *flagTable) Then(f func()) { t.then = append(t.then, f) }

// Env names the row's environment variable instead of deriving it.
func (s *setting) Env(name string) *setting { s.env = name; return s }

// File lets NAME_FILE give the value too, for a flag whose value can hold a
// secret (a URL with a password).
func (s *setting) File() *setting { s.file = true; return s }

func (s *setting) Set(v string) error {
	if err := s.Value.Set(v); err != nil {
		return err
	}
	s.given = true
	return nil
}

func (s *setting) String() string {
	if s == nil || s.Value == nil { // flag.PrintDefaults' zero value
		return ""
	}
	return s.Value.String()
}

func (s *setting) IsBoolFlag() bool {
	b, ok := s.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// envNames is how -h names the row's environment: "LICENSED_ADDR", or
// "DATABASE_URL or DATABASE_URL_FILE".
func (s *setting) envNames() string {
	if s.file {
		return s.env + " or " + s.env + "_FILE"
	}
	return s.env
}

// load sets every row its flag did not set from its environment variable.
func (t *flagTable) load() error {
	if t.ready {
		return nil
	}
	t.ready = true
	for _, s := range t.rows {
		if s.given {
			continue
		}
		v := os.Getenv(s.env)
		if v == "" && s.file {
			p := os.Getenv(s.env + "_FILE")
			if p == "" {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return fmt.Errorf("couldn't read %s_FILE: %w", s.env, err)
			}
			if err := s.Set(strings.TrimSpace(string(b))); err != nil {
				return fmt.Errorf("%s_FILE %s: want %s", s.env, p, s.form)
			}
			continue
		}
		if v == "" {
			continue
		}
		if err := s.Set(v); err != nil {
			if s.name == "" || s.file {
				return fmt.Errorf("%s does not parse: want %s", s.env, s.form) // never echo a secret
			}
			return fmt.Errorf("%s=%q: want %s", s.env, v, s.form)
		}
	}
	for _, f := range t.then {
		f()
	}
	return nil
}

// loadEnv reads the environment of every flag table defined on fs, after
// the command line: a value that does not parse is a usage error.
func loadEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if s, ok := f.Value.(*setting); ok && err == nil {
			if e := s.table.load(); e != nil {
				err = usageError(e.Error())
			}
		}
	})
	return err
}

// printDefaults is -h: each flag with its kind, usage, default and
// environment variable, then the secrets, which have no flags.
func printDefaults(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintf(w, "Usage of %s:\n", fs.Name())
	var secrets []string
	seen := map[*flagTable]bool{}
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		s, ok := f.Value.(*setting)
		if ok {
			kind = s.kind
			usage += " (env " + s.envNames() + ")"
			if !seen[s.table] {
				seen[s.table] = true
				for _, r := range s.table.rows {
					if r.name == "" {
						secrets = append(secrets, r.envNames())
					}
				}
			}
		}
		line := "  -" + f.Name
		if kind != "" {
			line += " " + kind
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
			line += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintln(w, line)
	})
	if len(secrets) > 0 {
		fmt.Fprintf(w, "\nSecrets, from the environment only (or a file named by NAME_FILE):\n  %s\n", strings.Join(secrets, "\n  "))
	}
}

// retention is a non-negative duration given as Go's "720h" or as whole
// days, "30d".
type retention time.Duration

func (r *retention) Set(v string) error {
	var d time.Duration
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil {
			return errors.New("want a whole number of days, such as 30d")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return err
		}
	}
	if d < 0 {
		return errors.New("a retention is never negative")
	}
	*r = retention(d)
	return nil
}

func (r *retention) String() string {
	d := time.Duration(*r)
	if d > 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

// choice is a string among a fixed few.
type choice struct {
	p       *string
	choices []string
}

func (c *choice) Set(v string) error {
	for _, x := range c.choices {
		if strings.EqualFold(v, x) {
			*c.p = x
			return nil
		}
	}
	return fmt.Errorf("want %s", orList(c.choices))
}

func (c *choice) String() string {
	if c == nil || c.p == nil {
		return ""
	}
	return *c.p
}

// secret is a secret's value; it prints as nothing.
type secret string

func (s *secret) Set(v string) error { *s = secret(v); return nil }
func (s *secret) String() string     { return "" }

// orList is "a, b or c".
func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}
