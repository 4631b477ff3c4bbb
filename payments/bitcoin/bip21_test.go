package bitcoin

import "testing"

func TestFormatParseBTC(t *testing.T) {
	for _, tc := range []struct {
		sats int64
		s    string
	}{
		{1, "0.00000001"}, {123000, "0.00123"}, {1e8, "1"}, {2_100_000_000_000_000, "21000000"}, {150_000_000, "1.5"},
	} {
		if got := FormatBTC(tc.sats); got != tc.s {
			t.Errorf("FormatBTC(%d) = %q, want %q", tc.sats, got, tc.s)
		}
		if got, err := ParseBTC(tc.s); err != nil || got != tc.sats {
			t.Errorf("ParseBTC(%q) = %d, %v; want %d", tc.s, got, err, tc.sats)
		}
	}
	for _, bad := range []string{"", ".", "1.000000001", "-1", "1e3", "abc", "21000001", " 1"} {
		if _, err := ParseBTC(bad); err == nil {
			t.Errorf("ParseBTC(%q) accepted", bad)
		}
	}
}

func TestURI(t *testing.T) {
	for _, tc := range []struct {
		name string
		u    URI
		want string
	}{
		{"amount", URI{Address: "bcrt1qxyz", Sats: 12345}, "bitcoin:bcrt1qxyz?amount=0.00012345"},
		{"no amount", URI{Address: "bc1qabc"}, "bitcoin:bc1qabc"},
		{"label", URI{Address: "bc1qabc", Sats: 1e8, Label: "order 1&2"}, "bitcoin:bc1qabc?amount=1&label=order%201%262"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.u.String(); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			back, err := ParseURI(tc.u.String())
			if err != nil || back != tc.u {
				t.Fatalf("round trip: %+v, %v; want %+v", back, err, tc.u)
			}
		})
	}
	for _, bad := range []string{"bc1qabc", "bitcoin:", "bitcoin:a?amount=x", "bitcoin:a?req-foo=1", "bitcoin:a?amount=1&amount=2", "bitcoin:a?label=%zz"} {
		if _, err := ParseURI(bad); err == nil {
			t.Errorf("ParseURI(%q) accepted", bad)
		}
	}
	if u, err := ParseURI("BITCOIN:a?amount=0.5&other=1"); err != nil || u.Sats != 5e7 {
		t.Errorf("upper-case scheme and unknown parameter: %+v, %v", u, err)
	}
}

func FuzzParseURI(f *testing.F) {
	f.Add("bitcoin:bcrt1qxyz?amount=0.00012345&label=x")
	f.Add("bitcoin:a?req-x=1")
	f.Add("BITCOIN:a?amount=21000000")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			return
		}
		if u.Sats < 0 || u.Sats > 21e14 {
			t.Fatalf("amount out of range: %d", u.Sats)
		}
		again, err := ParseURI(u.String())
		if err != nil || again.Sats != u.Sats || again.Address != u.Address {
			t.Fatalf("re-encoding %q → %q does not parse back: %+v, %v", s, u.String(), again, err)
		}
	})
}
