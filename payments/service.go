package payments

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensed/licensed/ledger/pgledger"
)

// A Method takes payment for orders. CreateOrder calls Prepare before it
// takes a database connection, with the order's id fixed but the order not
// yet stored: that is where a method calls its payment provider or anything
// else that may be slow (Stripe's Checkout Session; a Bitcoin rate ticker
// and btcd). Then it calls the returned begin inside the transaction that
// stores the order. So a slow or failing provider holds no connection and
// no transaction, and when Prepare fails nothing is stored.
//
// What Prepare made at the provider stays there if the transaction then
// fails: it must be something nobody can pay without what begin returns
// (the card method's session is reached only through its URL).
type Method interface {
	Name() string // "card" or "btc"
	Prepare(ctx context.Context, o *Order, p Plan) (begin BeginFunc, err error)
}

// A BeginFunc stores, inside the order's creation transaction, what Prepare
// made for the order, and returns what the customer needs to pay (e.g.
// {"checkout_url": ...} or the invoice fields). It must not wait on anything
// outside the database.
type BeginFunc func(ctx context.Context, tx pgx.Tx) (map[string]any, error)

// A Minter turns settled orders into ledger entries inside the caller's
// transaction (LedgerMinter is the implementation). Every call is exactly
// once per ref: a repeated ref is a no-op.
type Minter interface {
	// MintLicense enqueues the license entry of a settled order for the
	// next sequencer round, with validity starting on paidAt's UTC day.
	MintLicense(ctx context.Context, tx pgx.Tx, ref, address, plan string, paidAt time.Time, durationDays int, dailyQuota uint32) (queued bool, err error)
	// RevokeLicense enqueues a revoke entry for the license at index.
	RevokeLicense(ctx context.Context, tx pgx.Tx, ref string, index uint64, reason string) (queued bool, err error)
	// SuspendLicense and UnsuspendLicense mark the license at index as
	// (no longer) suspended: admission refuses a suspended license.
	SuspendLicense(ctx context.Context, tx pgx.Tx, index uint64) error
	UnsuspendLicense(ctx context.Context, tx pgx.Tx, index uint64) error
}

// Config configures a Service.
type Config struct {
	Plans   *Plans
	Methods []Method
	Minter  Minter
	// ParseAddress validates a license address and returns its canonical
	// text form; its errors should carry a Code() (issuer.Minter.CheckAddress).
	ParseAddress func(string) (string, error)
	// Retention is how long the exact order → ledger index link is kept,
	// by method, so a refund or dispute can revoke the license. Defaults:
	// card 120 days, btc 0 (never stored).
	Retention map[string]time.Duration
	Log       *slog.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// DefaultCardRetention is how long a card order's link to its ledger entry is
// kept: Stripe allows disputes up to 120 days after the payment.
const DefaultCardRetention = 120 * 24 * time.Hour

// Service owns orders: creation, the state machine, and what happens to the
// license when a payment settles, is refunded or disputed.
type Service struct {
	db      *pgxpool.Pool
	cfg     Config
	methods map[string]Method
	log     *slog.Logger
}

// New returns the Service of cfg on db.
func New(db *pgxpool.Pool, cfg Config) (*Service, error) {
	if cfg.Plans == nil {
		return nil, errors.New("payments: no plans")
	}
	if cfg.Minter == nil {
		return nil, errors.New("payments: no minter")
	}
	if cfg.ParseAddress == nil {
		return nil, errors.New("payments: no address parser")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ret := map[string]time.Duration{MethodCard: DefaultCardRetention, MethodBTC: 0}
	for k, v := range cfg.Retention {
		ret[k] = v
	}
	cfg.Retention = ret
	s := &Service{db: db, cfg: cfg, methods: map[string]Method{}, log: cfg.Log}
	for _, m := range cfg.Methods {
		s.methods[m.Name()] = m
	}
	return s, nil
}

// AddMethod offers one more payment method (the Bitcoin wiring adds its
// method this way after the service is built). Call it before serving, never
// concurrently with requests.
func (s *Service) AddMethod(m Method) { s.methods[m.Name()] = m }

// Plans returns the plans on offer.
func (s *Service) Plans() *Plans { return s.cfg.Plans }

// Methods returns the names of the payment methods on offer.
func (s *Service) Methods() []string {
	var names []string
	for _, n := range []string{MethodCard, MethodBTC} {
		if _, ok := s.methods[n]; ok {
			names = append(names, n)
		}
	}
	return names
}

// Method returns the configured method called name, or nil.
func (s *Service) Method(name string) Method { return s.methods[name] }

// DB returns the database the service works on.
func (s *Service) DB() *pgxpool.Pool { return s.db }

// CreateOrder validates the request, prepares the payment with its method
// (before any database connection is taken), then stores the new order and
// begins the payment in one transaction: if the method fails, no order is
// left behind. It returns the order and what the customer needs to pay.
func (s *Service) CreateOrder(ctx context.Context, plan, address, method string) (*Order, map[string]any, error) {
	p, ok := s.cfg.Plans.Get(plan)
	if !ok {
		return nil, nil, ErrPlanUnknown
	}
	m, ok := s.methods[method]
	if !ok {
		return nil, nil, ErrMethodUnavailable
	}
	if strings.TrimSpace(address) == "" {
		return nil, nil, &Error{"address_missing", "The license address is missing: create one with the license tool and send it as \"address\"."}
	}
	if err := NotABitcoinAddress(address); err != nil {
		return nil, nil, err
	}
	addr, err := s.cfg.ParseAddress(strings.TrimSpace(address))
	if err != nil {
		return nil, nil, err
	}
	o := &Order{ID: newOrderID(), Plan: p.ID, Method: method, Amount: p.Price, Currency: p.Currency,
		State: StateNew, Address: addr}
	// Nothing is asked of a processor while the database is away.
	if err := CheckDatabase(ctx, s.db); err != nil {
		s.log.Warn("order refused: the database does not answer", "method", method, "err", err)
		return nil, nil, err
	}
	// The order id is already fixed: the provider learns it (Stripe's
	// idempotency key and client reference) before the row exists.
	begin, err := m.Prepare(ctx, o, p)
	if err != nil {
		return nil, nil, err
	}
	var pay map[string]any
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `insert into orders (id, plan, method, amount, currency, address)
			values ($1, $2, $3, $4, $5, $6) returning created_at, updated_at`,
			o.ID, o.Plan, o.Method, o.Amount, o.Currency, o.Address).Scan(&o.CreatedAt, &o.UpdatedAt)
		if err != nil {
			return fmt.Errorf("payments: couldn't store the order: %w", err)
		}
		pay, err = begin(ctx, tx)
		return err
	})
	if err != nil {
		// Its payment was prepared but nobody got what it takes to pay it
		// (see Method).
		s.log.Warn("order not stored after its payment was prepared", "order_id", o.ID, "method", o.Method, "err", err)
		s.AbandonPrepared(m, o)
		return nil, nil, err
	}
	s.log.Info("order created", "order_id", o.ID, "plan", o.Plan, "method", o.Method)
	return o, pay, nil
}

// Order returns the order with id, or ErrOrderNotFound.
func (s *Service) Order(ctx context.Context, id string) (*Order, error) {
	return getOrder(ctx, s.db, id, false)
}

// OrderTx is Order inside tx, locking the order row until tx ends.
func (s *Service) OrderTx(ctx context.Context, tx pgx.Tx, id string) (*Order, error) {
	return getOrder(ctx, tx, id, true)
}

// allowed is the state machine of DESIGN §4: from → the states it may move to.
var allowed = map[State][]State{
	StateNew:        {StateProcessing, StateSettled, StateExpired},
	StateProcessing: {StateSettled, StateInvalid, StateExpired, StateNew},
	StateExpired:    {StateSettled}, // only with FlagMarked
	StateSettled:    {StateProcessing},
	StateInvalid:    {},
}

// CanTransition reports whether the state machine allows from → to when the
// order will carry flags.
func CanTransition(from, to State, flags Flags) bool {
	if from == StateExpired && to == StateSettled && flags&FlagMarked == 0 {
		return false
	}
	for _, s := range allowed[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Transition moves order orderID to state to inside tx, adding the flags set,
// and does what the new state implies, in the same transaction:
//
//   - reaching settled the first time enqueues the license's mint (ref
//     "mint:<order id>"), exactly once whatever the retries;
//   - settled → processing (a Bitcoin reorg or replacement) suspends the
//     license until the payment confirms again, and processing → settled
//     restores it.
//
// Allowed: new→processing, new→settled, new→expired, processing→settled,
// processing→invalid, processing→expired, processing→new, settled→processing,
// and expired→settled only with FlagMarked (set now or before). A call to the
// current state only adds flags. Anything else is a stale or reordered event:
// it is ignored, with changed=false and no error. The order row is locked
// until tx ends, so concurrent transitions of one order serialise.
func (s *Service) Transition(ctx context.Context, tx pgx.Tx, orderID string, to State, set Flags, reason string) (changed bool, err error) {
	if !to.Valid() {
		return false, fmt.Errorf("payments: unknown state %q", to)
	}
	o, err := getOrder(ctx, tx, orderID, true)
	if err != nil {
		return false, err
	}
	flags := o.Flags | set
	if o.State == to {
		if flags == o.Flags {
			return false, nil
		}
		if _, err := tx.Exec(ctx, `update orders set flags = $2, updated_at = now() where id = $1`, o.ID, flags); err != nil {
			return false, err
		}
		return true, s.recordEvent(ctx, tx, o.ID, o.State, to, flags, reason)
	}
	if !CanTransition(o.State, to, flags) {
		s.log.Debug("order transition ignored", "order_id", o.ID, "from", o.State, "to", to, "reason", reason)
		return false, nil
	}
	now := s.cfg.Now()
	if _, err := tx.Exec(ctx, `update orders set state = $2, flags = $3, updated_at = $4,
		settled_at = case when $2 = 'settled' then coalesce(settled_at, $4) else settled_at end
		where id = $1`, o.ID, to, flags, now); err != nil {
		return false, err
	}
	if err := s.recordEvent(ctx, tx, o.ID, o.State, to, flags, reason); err != nil {
		return false, err
	}
	switch {
	case to == StateSettled && o.License == LicenseNone:
		if err := s.mint(ctx, tx, o, now); err != nil {
			return false, err
		}
	case to == StateSettled && o.License == LicenseSuspended:
		if err := s.unsuspendIf(ctx, tx, o, "reorg"); err != nil {
			return false, err
		}
	case o.State == StateSettled && to == StateProcessing && o.License == LicenseActive:
		if err := s.suspend(ctx, tx, o, "reorg"); err != nil {
			return false, err
		}
	}
	s.log.Info("order transition", "order_id", o.ID, "from", o.State, "to", to, "flags", flags.String(), "reason", reason)
	return true, nil
}

// ClearFlags takes the flags clear off order orderID inside tx, recording
// it with reason: the Bitcoin watcher's paid_partial and paid_over follow
// the money (an invoice paid in full after a partial payment is no longer
// partly paid). It reports whether a flag was set.
func (s *Service) ClearFlags(ctx context.Context, tx pgx.Tx, orderID string, clear Flags, reason string) (bool, error) {
	o, err := getOrder(ctx, tx, orderID, true)
	if err != nil {
		return false, err
	}
	if o.Flags&clear == 0 {
		return false, nil
	}
	flags := o.Flags &^ clear
	if _, err := tx.Exec(ctx, `update orders set flags = $2, updated_at = now() where id = $1`, o.ID, flags); err != nil {
		return false, err
	}
	return true, s.recordEvent(ctx, tx, o.ID, o.State, o.State, flags, reason)
}

func (s *Service) recordEvent(ctx context.Context, tx pgx.Tx, id string, from, to State, flags Flags, reason string) error {
	_, err := tx.Exec(ctx, `insert into order_events (order_id, from_state, to_state, flags, reason) values ($1, $2, $3, $4, $5)`,
		id, from, to, flags, reason)
	return err
}

func (s *Service) mint(ctx context.Context, tx pgx.Tx, o *Order, paidAt time.Time) error {
	p, ok := s.cfg.Plans.Get(o.Plan)
	if !ok {
		// The plan was removed from the file after the order: mint it anyway
		// would need its terms; refuse loudly so the operator fixes the file.
		return fmt.Errorf("payments: order %s is for plan %q, which is no longer in the plans file", o.ID, o.Plan)
	}
	if o.Address == "" {
		return fmt.Errorf("payments: order %s has no license address to mint to", o.ID)
	}
	if _, err := s.cfg.Minter.MintLicense(ctx, tx, MintRef(o.ID), o.Address, p.ID, paidAt, p.DurationDays, p.DailyQuota); err != nil {
		return fmt.Errorf("payments: couldn't enqueue the license of order %s: %w", o.ID, err)
	}
	// A refund or dispute that came while the order was still processing
	// (revoke and suspend only record it then) decides the license's state
	// from the start; OnSequenced tells the ledger when the entry commits.
	state, why := LicenseActive, ""
	switch {
	case o.Refunded || o.Dispute == "lost":
		state = LicenseRevoked
	case o.Dispute == "open":
		state, why = LicenseSuspended, "dispute"
	}
	_, err := tx.Exec(ctx, `update orders set license_state = $2, suspended_for = nullif($3, '') where id = $1`, o.ID, string(state), why)
	return err
}

// MintRef and RevokeRef are the ledger refs of an order's entries.
func MintRef(orderID string) string   { return "mint:" + orderID }
func RevokeRef(orderID string) string { return "revoke:" + orderID }

// link returns the ledger index of the order's license while the link is kept.
func link(ctx context.Context, tx pgx.Tx, orderID string) (uint64, bool, error) {
	var idx int64
	err := tx.QueryRow(ctx, `select ledger_index from order_links where order_id = $1`, orderID).Scan(&idx)
	if err == pgx.ErrNoRows {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return uint64(idx), true, nil
}

// suspend marks the license suspended for why ("dispute" or "reorg"); if the
// entry is already on the ledger, the index learns it now, otherwise
// OnSequenced does when the entry commits.
func (s *Service) suspend(ctx context.Context, tx pgx.Tx, o *Order, why string) error {
	if o.License != LicenseActive {
		return nil
	}
	if _, err := tx.Exec(ctx, `update orders set license_state = 'suspended', suspended_for = $2 where id = $1`, o.ID, why); err != nil {
		return err
	}
	idx, ok, err := link(ctx, tx, o.ID)
	if err != nil || !ok {
		if err == nil && o.Minted() {
			s.log.Warn("license suspended after its link was forgotten: the ledger cannot be told (reconciliation exception)", "order_id", o.ID)
		}
		return err
	}
	return s.cfg.Minter.SuspendLicense(ctx, tx, idx)
}

// unsuspendIf restores a license suspended for why.
func (s *Service) unsuspendIf(ctx context.Context, tx pgx.Tx, o *Order, why string) error {
	tag, err := tx.Exec(ctx, `update orders set license_state = 'active', suspended_for = null
		where id = $1 and license_state = 'suspended' and suspended_for = $2`, o.ID, why)
	if err != nil || tag.RowsAffected() == 0 {
		return err
	}
	idx, ok, err := link(ctx, tx, o.ID)
	if err != nil || !ok {
		return err
	}
	return s.cfg.Minter.UnsuspendLicense(ctx, tx, idx)
}

// revoke marks the license revoked and appends a revoke entry while the link
// exists (or when the entry commits, see OnSequenced).
func (s *Service) revoke(ctx context.Context, tx pgx.Tx, o *Order, reason string) error {
	if o.License == LicenseNone || o.License == LicenseRevoked {
		return nil
	}
	if _, err := tx.Exec(ctx, `update orders set license_state = 'revoked', suspended_for = null where id = $1`, o.ID); err != nil {
		return err
	}
	idx, ok, err := link(ctx, tx, o.ID)
	if err != nil {
		return err
	}
	if !ok {
		if o.Minted() {
			s.log.Warn("license to revoke after its link was forgotten: it stays valid (reconciliation exception)", "order_id", o.ID, "reason", reason)
		}
		return nil
	}
	if o.License == LicenseSuspended {
		if err := s.cfg.Minter.UnsuspendLicense(ctx, tx, idx); err != nil {
			return err
		}
	}
	return s.enqueueRevoke(ctx, tx, o.ID, idx, reason)
}

// enqueueRevoke enqueues the revoke entry of order id's license at index and
// records that it did: once the retention erases the link, this is what
// tells a license revoked on the ledger from one revoked too late
// (revoke_unreachable).
func (s *Service) enqueueRevoke(ctx context.Context, tx pgx.Tx, id string, index uint64, reason string) error {
	if _, err := s.cfg.Minter.RevokeLicense(ctx, tx, RevokeRef(id), index, reason); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `update orders set revoke_enqueued = true where id = $1`, id)
	return err
}

// OnSequenced is the ledger sequencer's hook (pgledger.Config.OnSequenced): it runs in the round's
// transaction with the entries the round committed. For each order's license
// entry it records the round (kept forever), the order → index link (kept
// for the method's retention; not at all when it is 0), erases the license
// address, and carries over what happened while the entry waited: a license
// revoked or suspended before its entry committed is revoked or suspended
// now.
func (s *Service) OnSequenced(ctx context.Context, tx pgx.Tx, round int64, seq []pgledger.Sequenced) error {
	now := s.cfg.Now()
	// Taken in ledger order, the round's orders could deadlock with the
	// Bitcoin watcher's (see LockOrders).
	var ids []string
	for _, e := range seq {
		if id, ok := strings.CutPrefix(e.Ref, "mint:"); ok {
			ids = append(ids, id)
		}
	}
	if err := LockOrders(ctx, tx, ids); err != nil {
		return err
	}
	for _, e := range seq {
		id, ok := strings.CutPrefix(e.Ref, "mint:")
		if !ok {
			continue
		}
		var method, license, dispute string
		err := tx.QueryRow(ctx, `update orders set mint_round = $2, address = null where id = $1
			returning method, coalesce(license_state, ''), coalesce(dispute, '')`, id, round).Scan(&method, &license, &dispute)
		if err == pgx.ErrNoRows {
			// Not an order of ours (e.g. an entry a tool appended).
			continue
		}
		if err != nil {
			return fmt.Errorf("payments: couldn't record the round of order %s: %w", id, err)
		}
		ret := s.cfg.Retention[method]
		// A license suspended when its entry commits keeps its link whatever
		// the retention: lifting the suspension later needs the index.
		// ForgetLinks drops it once the license is no longer suspended.
		// A Bitcoin payment can still be taken back by a reorg: its link is
		// held until the payment is buried (ReleaseLinks), whatever the
		// retention, so the reorg can suspend the license in the index.
		hold := method == MethodBTC
		if ret > 0 || hold || LicenseState(license) == LicenseSuspended {
			if _, err := tx.Exec(ctx, `insert into order_links (order_id, ledger_index, forget_after, hold) values ($1, $2, $3, $4)
				on conflict (order_id) do nothing`, id, int64(e.Index), now.Add(ret), hold); err != nil {
				return fmt.Errorf("payments: couldn't link order %s: %w", id, err)
			}
		}
		switch LicenseState(license) {
		case LicenseRevoked:
			reason := "refund"
			if dispute == "lost" {
				reason = "dispute_lost"
			}
			if err := s.enqueueRevoke(ctx, tx, id, e.Index, reason); err != nil {
				return err
			}
		case LicenseSuspended:
			if err := s.cfg.Minter.SuspendLicense(ctx, tx, e.Index); err != nil {
				return err
			}
		}
	}
	return nil
}

// LockOrders locks the rows of the orders ids (those that exist) until tx
// ends, in one statement and in id order. A transaction that changes several
// orders takes their locks through it before it changes any (the
// sequencer's round in OnSequenced, the Bitcoin watcher for the invoices of
// a block): two transactions that took rows in different orders could each
// hold a row the other waits for, until Postgres aborts one of them as a
// deadlock (SQLSTATE 40P01) and the block or round is retried. Locking one
// order's row again later in the same transaction (Transition) is free.
func LockOrders(ctx context.Context, tx pgx.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	// The rows are locked as the sorted result is produced, so in id order.
	if _, err := tx.Exec(ctx, `select id from orders where id = any($1) order by id for update`, ids); err != nil {
		return fmt.Errorf("payments: couldn't lock %d orders: %w", len(ids), err)
	}
	return nil
}

// HeldLinks returns settled orders whose link is held until their payment
// is buried (Bitcoin orders, see OnSequenced), at most limit of them. Orders
// that are not settled are left out, so that links held for good (a payment
// reorged away and double spent) never fill the window and keep later
// orders' links from being released.
func (s *Service) HeldLinks(ctx context.Context, tx pgx.Tx, limit int) ([]string, error) {
	rows, err := tx.Query(ctx, `select l.order_id from order_links l join orders o on o.id = l.order_id
		where l.hold and o.state = 'settled' order by l.order_id limit $1`, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// ReleaseLinks lets the retention erase the links of orders ids, whose
// payments are now buried deep enough that a reorg is no longer plausible.
func (s *Service) ReleaseLinks(ctx context.Context, tx pgx.Tx, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `update order_links set hold = false where hold and order_id = any($1)`, ids)
	return err
}

// ForgetLinks erases the order → ledger index links whose retention has
// passed, except while a dispute or a reorg keeps the license suspended and
// while a Bitcoin payment is not yet buried (hold). It returns how many it
// erased.
func (s *Service) ForgetLinks(ctx context.Context) (int64, error) {
	// A revoked license needs its link no more, held or not: its revoke
	// entry is on the ledger.
	tag, err := s.db.Exec(ctx, `delete from order_links l using orders o
		where o.id = l.order_id and l.forget_after <= $1 and (not l.hold or o.license_state = 'revoked')
		and coalesce(o.license_state, '') <> 'suspended'`, s.cfg.Now())
	if err != nil {
		return 0, fmt.Errorf("payments: couldn't forget links: %w", err)
	}
	// Stripe retries an event for up to 3 days: ids older than 30 days
	// cannot come back.
	if _, err := s.db.Exec(ctx, `delete from stripe_unmatched_charges where received_at < $1`, s.cfg.Now().Add(-30*24*time.Hour)); err != nil {
		return 0, fmt.Errorf("payments: couldn't forget unmatched charges: %w", err)
	}
	if _, err := s.db.Exec(ctx, `delete from stripe_events where received_at < $1`, s.cfg.Now().Add(-30*24*time.Hour)); err != nil {
		return 0, fmt.Errorf("payments: couldn't forget old Stripe event ids: %w", err)
	}
	return tag.RowsAffected(), nil
}

// RunRetention calls ForgetLinks every interval until ctx ends.
func (s *Service) RunRetention(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.ForgetLinks(ctx); err != nil {
			if ctx.Err() == nil {
				s.log.Warn("retention job failed", "err", err)
			}
		} else if n > 0 {
			s.log.Info("forgot order links past retention", "links", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// NotABitcoinAddress returns the address_is_bitcoin error when address looks
// like a Bitcoin address (bech32 bc1/tb1/bcrt1, or base58 P2PKH/P2SH):
// customers paste one where the license address goes, and "bad checksum"
// would not tell them what to change.
func NotABitcoinAddress(address string) error {
	a := strings.ToLower(strings.TrimSpace(address))
	bitcoin := strings.HasPrefix(a, "bc1") || strings.HasPrefix(a, "tb1") || strings.HasPrefix(a, "bcrt1")
	if !bitcoin && len(a) >= 26 && len(a) <= 35 && strings.IndexByte("132mn", a[0]) >= 0 {
		bitcoin = true
		for _, r := range strings.TrimSpace(address) {
			if !strings.ContainsRune("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", r) {
				bitcoin = false
				break
			}
		}
	}
	if bitcoin {
		return &Error{"address_is_bitcoin", "This is a Bitcoin address, not a license address: paste the address that `license account address` prints (it starts with lic1)."}
	}
	return nil
}
