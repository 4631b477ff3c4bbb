package bitcoin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/licensed/licensed/payments"
)

// Defaults of Config.
const (
	DefaultExpiry        = 15 * time.Minute
	DefaultConfirmations = 1
	DefaultReorgDepth    = 6
	DefaultGapLimit      = 20
	DefaultWatchFor      = 7 * 24 * time.Hour
	DefaultTick          = 5 * time.Second
)

// Config configures the Bitcoin method and its watcher.
type Config struct {
	// Params is the network (chaincfg.MainNetParams, RegressionNetParams…).
	Params *chaincfg.Params
	// Account is the operator's BIP84 account key (see ParseAccount).
	Account *Account
	// Rates prices invoices.
	Rates RateSource
	// RPC reaches btcd's websocket RPC (Endpoint "ws"); HTTPPostMode must be
	// false, since the watcher needs notifications.
	RPC *rpcclient.ConnConfig
	// Expiry is how long an invoice may be paid (default 15 minutes).
	Expiry time.Duration
	// Confirmations is how many confirmations settle a payment (default 1).
	Confirmations int
	// ReorgDepth is how many confirmations bury a payment: until all of an
	// order's payments have that many, the order keeps its link to its
	// license entry (whatever the retention), so a reorg that takes the
	// payment back suspends the license in the index (default 6; never
	// less than Confirmations).
	ReorgDepth int
	// GapLimit: when more invoice addresses than this follow the last one
	// that received a payment, the operator is warned (log and metric): a
	// wallet restored from the seed only looks this far (default 20).
	GapLimit int
	// WatchFor is how long after its creation an invoice's address stays in
	// the transaction filter, so late payments are still seen (default 7
	// days).
	WatchFor time.Duration
	// Tick is how often the watcher looks for expiries, dropped mempool
	// transactions and invoices made by other processes (default 5 s).
	Tick time.Duration
	// InvoiceURL, when set, is returned with every invoice; "{ORDER_ID}" is
	// replaced by the order id.
	InvoiceURL string
	Log        *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Orders is what the Bitcoin method needs of the payments service
// (*payments.Service implements it).
type Orders interface {
	OrderTx(ctx context.Context, tx pgx.Tx, id string) (*payments.Order, error)
	Transition(ctx context.Context, tx pgx.Tx, orderID string, to payments.State, set payments.Flags, reason string) (bool, error)
	ClearFlags(ctx context.Context, tx pgx.Tx, orderID string, clear payments.Flags, reason string) (bool, error)
	// HeldLinks and ReleaseLinks: see payments.Service.
	HeldLinks(ctx context.Context, tx pgx.Tx, limit int) ([]string, error)
	ReleaseLinks(ctx context.Context, tx pgx.Tx, ids []string) error
}

// Bitcoin is the "btc" payment method and its chain watcher.
type Bitcoin struct {
	db  *pgxpool.Pool
	cfg Config
	log *slog.Logger

	// filter is the one state the method and its watcher share.
	filter watchedSet

	wake      chan struct{}
	connected chan struct{}
	txs       chan []byte

	unused    prometheus.Gauge
	tipHeight prometheus.Gauge
	up        prometheus.Gauge
	paymentsC *prometheus.CounterVec
}

// watchedSet is the state Prepare and the watcher share, under mu: Prepare
// adds each new invoice's address (to addrs and fresh); the watcher puts the
// fresh ones into btcd's transaction filter through client (the connection
// of the current watch, nil while none is set up), and forgets addresses
// that left the watch window.
type watchedSet struct {
	mu     sync.Mutex
	client *rpcclient.Client
	addrs  map[string]watchedAddr // by address
	fresh  []btcutil.Address      // addresses not yet in btcd's filter
}

// New returns the Bitcoin method on db; Run(ctx, orders) watches the chain.
func New(db *pgxpool.Pool, cfg Config) (*Bitcoin, error) {
	if cfg.Params == nil || cfg.Account == nil || cfg.Rates == nil || cfg.RPC == nil {
		return nil, errors.New("bitcoin: network, account key, rate source and btcd RPC are all required")
	}
	if cfg.Account.params.Net != cfg.Params.Net {
		return nil, errors.New("bitcoin: the account key was parsed for another network")
	}
	if cfg.Expiry <= 0 {
		cfg.Expiry = DefaultExpiry
	}
	if cfg.Confirmations <= 0 {
		cfg.Confirmations = DefaultConfirmations
	}
	if cfg.ReorgDepth <= 0 {
		cfg.ReorgDepth = DefaultReorgDepth
	}
	if cfg.ReorgDepth < cfg.Confirmations {
		cfg.ReorgDepth = cfg.Confirmations
	}
	if cfg.GapLimit <= 0 {
		cfg.GapLimit = DefaultGapLimit
	}
	if cfg.WatchFor <= 0 {
		cfg.WatchFor = DefaultWatchFor
	}
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Bitcoin{db: db, cfg: cfg, log: cfg.Log, filter: watchedSet{addrs: map[string]watchedAddr{}},
		wake: make(chan struct{}, 1), connected: make(chan struct{}, 1), txs: make(chan []byte, 1024)}
	b.unused = prometheus.NewGauge(prometheus.GaugeOpts{Name: "licensed_btc_unused_addresses",
		Help: "Invoice addresses after the last one that received a payment; above the gap limit a restored wallet misses payments."})
	b.tipHeight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "licensed_btc_tip_height",
		Help: "Height of the last block the watcher processed."})
	b.up = prometheus.NewGauge(prometheus.GaugeOpts{Name: "licensed_btc_connected",
		Help: "1 while the watcher is connected to btcd."})
	b.paymentsC = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "licensed_btc_payment_events_total",
		Help: "Invoice payment events by kind (seen, confirmed, unconfirmed, dropped)."}, []string{"kind"})
	return b, nil
}

// Collectors are the method's Prometheus metrics.
func (b *Bitcoin) Collectors() []prometheus.Collector {
	return []prometheus.Collector{b.unused, b.tipHeight, b.up, b.paymentsC}
}

// Name implements payments.Method.
func (b *Bitcoin) Name() string { return payments.MethodBTC }

// Confirmations is the number of confirmations that settle a payment.
func (b *Bitcoin) Confirmations() int { return b.cfg.Confirmations }

// Params is the network.
func (b *Bitcoin) Params() *chaincfg.Params { return b.cfg.Params }

// Prepare implements payments.Method. Before the order's transaction it
// prices the order in satoshis (the rate source may be a remote ticker),
// takes the next address index (a sequence, which no transaction would roll
// back anyway) and adds the address to the watcher's filter (btcd may be
// slow): nothing outside the database is waited on while a transaction is
// open. Its begin function stores the invoice in the order's transaction and
// returns the invoice fields: address, amount_sats, amount_btc, bip21,
// expires_at, confirmations (and invoice_url when configured). When the rate
// source fails it returns ErrUnavailable (503 btc_unavailable). An order
// that is then not stored leaves an unused address index, as a failed
// transaction always did.
func (b *Bitcoin) Prepare(ctx context.Context, o *payments.Order, p payments.Plan) (payments.BeginFunc, error) {
	rate, err := b.cfg.Rates.Rate(ctx, o.Currency)
	if err != nil {
		b.log.Warn("bitcoin: no exchange rate; refusing btc orders", "currency", o.Currency, "err", err)
		return nil, ErrUnavailable
	}
	sats, err := Sats(o.Amount, rate)
	if err != nil {
		return nil, err
	}
	var idx int64
	if err := b.db.QueryRow(ctx, `select nextval('btc_address_index')`).Scan(&idx); err != nil {
		return nil, fmt.Errorf("bitcoin: couldn't take an address index: %w", err)
	}
	addr, err := b.cfg.Account.Address(uint32(idx))
	if err != nil {
		return nil, err
	}
	b.watch(addr, o.ID)
	return func(ctx context.Context, tx pgx.Tx) (map[string]any, error) {
		expires := b.cfg.Now().Add(b.cfg.Expiry).UTC().Truncate(time.Second)
		if _, err := tx.Exec(ctx, `insert into btc_invoices (order_id, address_index, address, amount_sats, rate, expires_at) values ($1, $2, $3, $4, $5, $6)`,
			o.ID, idx, addr.EncodeAddress(), sats, rate, expires); err != nil {
			return nil, fmt.Errorf("bitcoin: couldn't store the invoice: %w", err)
		}
		var unused int64
		if err := tx.QueryRow(ctx, `select $1 - coalesce((select max(i.address_index) from btc_invoices i
			where exists (select 1 from btc_payments p where p.order_id = i.order_id)), -1)`, idx).Scan(&unused); err != nil {
			return nil, err
		}
		b.unused.Set(float64(unused))
		if unused > int64(b.cfg.GapLimit) {
			b.log.Warn("bitcoin: unused invoice addresses exceed the gap limit; raise your wallet's gap limit to see every payment",
				"unused", unused, "gap_limit", b.cfg.GapLimit)
		}
		out := map[string]any{
			"address":       addr.EncodeAddress(),
			"amount_sats":   sats,
			"amount_btc":    FormatBTC(sats),
			"bip21":         URI{Address: addr.EncodeAddress(), Sats: sats}.String(),
			"expires_at":    expires,
			"confirmations": b.cfg.Confirmations,
		}
		if b.cfg.InvoiceURL != "" {
			out["invoice_url"] = strings.ReplaceAll(b.cfg.InvoiceURL, "{ORDER_ID}", o.ID)
		}
		return out, nil
	}, nil
}

// A watchedAddr is an address whose payments the watcher records.
type watchedAddr struct {
	orderID string
	since   time.Time // when it was added to the set
}

// watch adds an address to the in-memory set and to btcd's filter. The
// filter is updated before the order is created (when the watcher is connected), so
// a payment the customer sends right away is not missed in the mempool; the
// address is also queued, in case btcd is away.
func (b *Bitcoin) watch(addr btcutil.Address, orderID string) {
	b.filter.mu.Lock()
	if _, ok := b.filter.addrs[addr.EncodeAddress()]; !ok {
		b.filter.addrs[addr.EncodeAddress()] = watchedAddr{orderID, b.cfg.Now()}
		b.filter.fresh = append(b.filter.fresh, addr)
	}
	c := b.filter.client
	b.filter.mu.Unlock()
	if c != nil {
		done := make(chan error, 1)
		go func() { done <- c.LoadTxFilter(false, []btcutil.Address{addr}, nil) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second): // btcd is slow or away: the watcher adds it later
		}
	}
	poke(b.wake)
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Invoice is a Bitcoin order's invoice as the customer and the operator see it.
type Invoice struct {
	OrderID    string
	Address    string
	AmountSats int64
	// Rate is the price of one bitcoin the amount was fixed at, in minor
	// units of the order's currency.
	Rate          int64
	ExpiresAt     time.Time
	Confirmations int // required
	Payments      []Payment
	Tip           int32 // last processed block height
	Verdict       Verdict
}

// BIP21 returns the invoice's payment URI.
func (inv *Invoice) BIP21() string {
	return URI{Address: inv.Address, Sats: inv.AmountSats}.String()
}

// ErrNoInvoice is returned for an order that has no Bitcoin invoice.
var ErrNoInvoice = payments.NewError("not_found", "There is no Bitcoin invoice for this order.")

// Invoice returns the invoice of order id and its payments.
func (b *Bitcoin) Invoice(ctx context.Context, id string) (*Invoice, error) {
	inv := &Invoice{OrderID: id, Confirmations: b.cfg.Confirmations}
	err := b.db.QueryRow(ctx, `select address, amount_sats, rate, expires_at, coalesce((select height from btc_chain), 0)
		from btc_invoices where order_id = $1`, id).Scan(&inv.Address, &inv.AmountSats, &inv.Rate, &inv.ExpiresAt, &inv.Tip)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoInvoice
	}
	if err != nil {
		return nil, err
	}
	if inv.Payments, err = loadPayments(ctx, b.db, id); err != nil {
		return nil, err
	}
	inv.Verdict = decide(inv.AmountSats, inv.ExpiresAt, inv.Payments, inv.Tip, b.cfg.Confirmations, b.cfg.Now())
	return inv, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func loadPayments(ctx context.Context, q querier, orderID string) ([]Payment, error) {
	rows, err := q.Query(ctx, `select outpoint, amount_sats, seen_at, coalesce(block_height, 0), dropped
		from btc_payments where order_id = $1 order by seen_at, outpoint`, orderID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Payment, error) {
		var p Payment
		err := r.Scan(&p.Outpoint, &p.Sats, &p.SeenAt, &p.Height, &p.Dropped)
		return p, err
	})
}
