package bitcoin

import (
	"sort"
	"time"

	"github.com/licensed/licensed/payments"
)

// Payment is an output that paid an invoice's address.
type Payment struct {
	Outpoint string // "txid:vout"
	Sats     int64
	SeenAt   time.Time // first seen (mempool), or the block's time if earlier
	Height   int32     // block height; 0 while unconfirmed
	Dropped  bool      // left the mempool unconfirmed (replaced, double spent)
}

// Verdict is what an invoice's payments say about its order.
type Verdict struct {
	State     payments.State
	Flags     payments.Flags
	Amount    int64 // the invoice's amount
	Seen      int64 // sats paid by live payments, confirmed or not
	Confirmed int64 // sats with at least the required confirmations
}

// decide applies DESIGN §4 (after BTCPay) to an invoice of amount sats that
// expires at expires, given its payments, the chain tip and the number of
// confirmations required:
//
//   - nothing paid: new, or expired after the expiry;
//   - less than the amount: new (expired after the expiry) with paid_partial;
//   - the amount reached after the expiry: expired with paid_late;
//   - the amount reached in time: processing until the payments that reach
//     it have the confirmations, then settled; paid_over when more was paid.
//
// Dropped payments count for nothing, which is how a reorg or a replacement
// paying less moves the order back.
func decide(amount int64, expires time.Time, pays []Payment, tip int32, confs int, now time.Time) Verdict {
	live := make([]Payment, 0, len(pays))
	for _, p := range pays {
		if !p.Dropped {
			live = append(live, p)
		}
	}
	sort.SliceStable(live, func(i, j int) bool { return live[i].SeenAt.Before(live[j].SeenAt) })
	v := Verdict{Amount: amount}
	var paidAt time.Time
	for _, p := range live {
		v.Seen += p.Sats
		if p.Height > 0 && int(tip-p.Height)+1 >= confs {
			v.Confirmed += p.Sats
		}
		if paidAt.IsZero() && v.Seen >= amount {
			paidAt = p.SeenAt
		}
	}
	expired := now.After(expires)
	switch {
	case v.Seen == 0:
		v.State = payments.StateNew
	case v.Seen < amount:
		v.State, v.Flags = payments.StateNew, payments.FlagPaidPartial
	case paidAt.After(expires):
		v.State, v.Flags = payments.StateExpired, payments.FlagPaidLate
	case v.Confirmed >= amount:
		v.State = payments.StateSettled
	default:
		v.State = payments.StateProcessing
	}
	if v.State == payments.StateNew && expired {
		v.State = payments.StateExpired
	}
	if v.Seen > amount {
		v.Flags |= payments.FlagPaidOver
	}
	return v
}
