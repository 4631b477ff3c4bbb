package bitcoin

import (
	"testing"
	"time"

	"github.com/licensed/licensed/payments"
)

func TestDecide(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	exp := t0.Add(15 * time.Minute)
	in := t0.Add(time.Minute)
	late := exp.Add(time.Minute)
	const amount = 10_000
	const tip = 100
	P := func(sats int64, seen time.Time, height int32) Payment {
		return Payment{Sats: sats, SeenAt: seen, Height: height}
	}
	for _, tc := range []struct {
		name  string
		pays  []Payment
		confs int
		now   time.Time
		state payments.State
		flags payments.Flags
	}{
		{"nothing yet", nil, 1, in, payments.StateNew, 0},
		{"nothing, expired", nil, 1, late, payments.StateExpired, 0},
		{"exact, unconfirmed", []Payment{P(amount, in, 0)}, 1, in, payments.StateProcessing, 0},
		{"exact, 1 conf", []Payment{P(amount, in, tip)}, 1, in, payments.StateSettled, 0},
		{"exact, 1 of 3 confs", []Payment{P(amount, in, tip)}, 3, in, payments.StateProcessing, 0},
		{"exact, 3 of 3 confs", []Payment{P(amount, in, tip-2)}, 3, in, payments.StateSettled, 0},
		{"processing survives expiry", []Payment{P(amount, in, 0)}, 1, late, payments.StateProcessing, 0},
		{"partial", []Payment{P(amount/2, in, tip)}, 1, in, payments.StateNew, payments.FlagPaidPartial},
		{"partial, expired", []Payment{P(amount/2, in, tip)}, 1, late, payments.StateExpired, payments.FlagPaidPartial},
		{"two payments", []Payment{P(amount/2, in, tip), P(amount/2, in.Add(time.Second), tip)}, 1, in, payments.StateSettled, 0},
		{"two payments, one unconfirmed", []Payment{P(amount/2, in, tip), P(amount/2, in, 0)}, 1, in, payments.StateProcessing, 0},
		{"over", []Payment{P(amount*2, in, tip)}, 1, in, payments.StateSettled, payments.FlagPaidOver},
		{"late", []Payment{P(amount, late, tip)}, 1, late, payments.StateExpired, payments.FlagPaidLate},
		{"late second half", []Payment{P(amount/2, in, tip), P(amount/2, late, tip)}, 1, late, payments.StateExpired, payments.FlagPaidLate},
		{"dropped (RBF) leaves the replacement", []Payment{{Sats: amount, SeenAt: in, Dropped: true}, P(amount/2, in, 0)}, 1, in, payments.StateNew, payments.FlagPaidPartial},
		{"all dropped", []Payment{{Sats: amount, SeenAt: in, Dropped: true}}, 1, in, payments.StateNew, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := decide(amount, exp, tc.pays, tip, tc.confs, tc.now)
			if v.State != tc.state || v.Flags != tc.flags {
				t.Fatalf("got %s %s, want %s %s", v.State, v.Flags, tc.state, tc.flags)
			}
		})
	}
}
