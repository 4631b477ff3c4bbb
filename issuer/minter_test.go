package issuer_test

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/licensed/licensed/issuer"
)

func TestValidity(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name   string
		paidAt time.Time
		days   int
		nb, na time.Time
	}{
		{"midnight", day(2026, 11, 22), 30, day(2026, 11, 22), day(2026, 12, 23)},
		{"last second of the day", time.Date(2026, 11, 22, 23, 59, 59, 999, time.UTC), 30, day(2026, 11, 22), day(2026, 12, 23)},
		{"another zone, already the next UTC day", time.Date(2026, 11, 22, 20, 0, 0, 0, time.FixedZone("UTC-5", -5*3600)), 1, day(2026, 11, 23), day(2026, 11, 25)},
		{"leap year", day(2028, 2, 28), 1, day(2028, 2, 28), day(2028, 3, 1)},
		{"one year", time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), 365, day(2026, 1, 1), day(2027, 1, 2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nb, na := issuer.Validity(tt.paidAt, tt.days)
			if !nb.Equal(tt.nb) || !na.Equal(tt.na) || nb.Location() != time.UTC {
				t.Fatalf("Validity = %v, %v; want %v, %v", nb, na, tt.nb, tt.na)
			}
			if na.Sub(tt.paidAt) < time.Duration(tt.days)*24*time.Hour {
				t.Fatalf("less than %d days of validity", tt.days)
			}
		})
	}
}

func TestCheckAddress(t *testing.T) {
	acct, err := issuer.NewAccount(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := acct.Address().String()
	tests := []struct {
		name, in, code string
	}{
		{"good", good, ""},
		{"upper case", upper(good), ""},
		{"typo", good[:len(good)-1] + flip(good[len(good)-1]), "address_checksum"},
		{"garbage", "hello", "address_malformed"},
	}
	m := issuer.NewMinter(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.CheckAddress(tt.in)
			if tt.code == "" {
				if err != nil || got != good {
					t.Fatalf("CheckAddress = %q, %v; want the canonical address", got, err)
				}
				return
			}
			var c interface{ Code() string }
			if !errors.As(err, &c) || c.Code() != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
			if !errors.Is(err, issuer.ErrAddressChecksum) && tt.code == "address_checksum" {
				t.Fatal("the error does not match ErrAddressChecksum")
			}
		})
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func flip(c byte) string {
	if c == 'q' {
		return "p"
	}
	return "q"
}
