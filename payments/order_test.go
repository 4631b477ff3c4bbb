package payments

import (
	"fmt"
	"testing"
)

func TestCanTransition(t *testing.T) {
	states := []State{StateNew, StateProcessing, StateSettled, StateExpired, StateInvalid}
	// The whole machine of DESIGN §4 and the Bitcoin contract, as a set.
	want := map[string]bool{
		"new>processing": true, "new>settled": true, "new>expired": true,
		"processing>settled": true, "processing>invalid": true, "processing>expired": true,
		"processing>new": true, "settled>processing": true,
		"expired>settled+marked": true,
	}
	for _, from := range states {
		for _, to := range states {
			for _, flags := range []Flags{0, FlagMarked, FlagPaidLate} {
				key := fmt.Sprintf("%s>%s", from, to)
				exp := want[key] || (flags&FlagMarked != 0 && want[key+"+marked"])
				name := fmt.Sprintf("%s>%s/%s", from, to, flags)
				t.Run(name, func(t *testing.T) {
					if got := CanTransition(from, to, flags); got != exp {
						t.Fatalf("CanTransition(%s, %s, %s) = %v, want %v", from, to, flags, got, exp)
					}
				})
			}
		}
	}
}

func TestOrderID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := newOrderID()
		if len(id) != OrderIDLen || !ValidOrderID(id) {
			t.Fatalf("bad id %q", id)
		}
		if seen[id] {
			t.Fatalf("repeated id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "abc", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxy1", "abcdefghijklmnopqrstuvwxyz2"} {
		if ValidOrderID(bad) {
			t.Errorf("ValidOrderID(%q) = true", bad)
		}
	}
}

func TestFlagsNames(t *testing.T) {
	tests := []struct {
		name string
		f    Flags
		want string
	}{
		{"none", 0, ""},
		{"one", FlagPaidLate, "paid_late"},
		{"all", FlagPaidPartial | FlagPaidOver | FlagPaidLate | FlagMarked, "paid_partial|paid_over|paid_late|marked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.String(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
