package payments

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// State is the state of an order, after BTCPay's invoice states.
type State string

// The states of an order (DESIGN §4).
const (
	StateNew        State = "new"        // created, nothing paid yet
	StateProcessing State = "processing" // paid, waiting for the payment to clear
	StateSettled    State = "settled"    // paid: the license is minted
	StateExpired    State = "expired"    // not paid in time
	StateInvalid    State = "invalid"    // the payment failed
)

// Valid reports whether s is one of the five states.
func (s State) Valid() bool {
	switch s {
	case StateNew, StateProcessing, StateSettled, StateExpired, StateInvalid:
		return true
	}
	return false
}

// Flags qualify an order's state. They are only ever added.
type Flags uint32

// The flags of an order.
const (
	FlagPaidPartial Flags = 1 << iota // less than the amount was paid
	FlagPaidOver                      // more than the amount was paid
	FlagPaidLate                      // paid after the order expired
	FlagMarked                        // an operator settled it by hand
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{FlagPaidPartial, "paid_partial"},
	{FlagPaidOver, "paid_over"},
	{FlagPaidLate, "paid_late"},
	{FlagMarked, "marked"},
}

// Names returns the names of the flags set in f, in a fixed order.
func (f Flags) Names() []string {
	names := []string{}
	for _, n := range flagNames {
		if f&n.f != 0 {
			names = append(names, n.name)
		}
	}
	return names
}

// String returns the flag names joined by "|", or "" for none.
func (f Flags) String() string { return strings.Join(f.Names(), "|") }

// LicenseState is the state of the license an order paid for. Refunds and
// disputes change it; they are payment events, not order states.
type LicenseState string

// The states of a license. An order that never settled has none ("").
const (
	LicenseNone      LicenseState = ""
	LicenseActive    LicenseState = "active"
	LicenseSuspended LicenseState = "suspended" // open dispute, or a Bitcoin payment no longer confirmed
	LicenseRevoked   LicenseState = "revoked"   // refunded or dispute lost
)

// The methods of payment.
const (
	MethodCard = "card"
	MethodBTC  = "btc"
)

// Order is a customer's order of a plan. It holds no email, name or IP
// address; the license address is erased once the license entry is on the
// ledger.
type Order struct {
	ID       string
	Plan     string
	Method   string
	Amount   int64  // in the currency's minor units
	Currency string // ISO 4217, lower case
	State    State
	Flags    Flags
	License  LicenseState
	// Address is the license address to mint to; "" once minted.
	Address string
	// MintRound is the sequencer round that committed the license entry,
	// 0 until then.
	MintRound int64
	Refunded  bool
	Dispute   string // "", "open", "won" or "lost"
	// StripeSession is the id of the card order's Checkout Session, "" for
	// other methods: only events about that session may change the order.
	StripeSession string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	SettledAt     time.Time // zero until settled
}

// Minted reports whether the order's license entry is on the ledger.
func (o *Order) Minted() bool { return o.MintRound != 0 }

// orderIDEncoding is lower-case base32 without padding: 26 characters for
// 128 bits, safe in URLs and case-insensitive to read aloud.
var orderIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// OrderIDLen is the length of an order id.
const OrderIDLen = 26

// newOrderID returns 128 random bits, unguessable.
func newOrderID() string {
	var b [16]byte
	rand.Read(b[:])
	return orderIDEncoding.EncodeToString(b[:])
}

// ValidOrderID reports whether id has the shape of an order id.
func ValidOrderID(id string) bool {
	if len(id) != OrderIDLen {
		return false
	}
	_, err := orderIDEncoding.DecodeString(id)
	return err == nil
}

const orderColumns = `id, plan, method, amount, currency, state, flags, coalesce(license_state, ''),
	coalesce(address, ''), coalesce(mint_round, 0), refunded, coalesce(dispute, ''),
	coalesce(stripe_session, ''), created_at, updated_at, settled_at`

func scanOrder(row pgx.Row) (*Order, error) {
	var o Order
	var settled *time.Time
	var license string
	err := row.Scan(&o.ID, &o.Plan, &o.Method, &o.Amount, &o.Currency, &o.State, &o.Flags, &license,
		&o.Address, &o.MintRound, &o.Refunded, &o.Dispute, &o.StripeSession, &o.CreatedAt, &o.UpdatedAt, &settled)
	if err != nil {
		if err == pgx.ErrNoRows {
			return nil, ErrOrderNotFound
		}
		return nil, err
	}
	o.License = LicenseState(license)
	if settled != nil {
		o.SettledAt = *settled
	}
	return &o, nil
}

// querier is a pool, a connection or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func getOrder(ctx context.Context, q querier, id string, forUpdate bool) (*Order, error) {
	if !ValidOrderID(id) {
		return nil, ErrOrderNotFound
	}
	sql := `select ` + orderColumns + ` from orders where id = $1`
	if forUpdate {
		sql += ` for update`
	}
	return scanOrder(q.QueryRow(ctx, sql, id))
}
