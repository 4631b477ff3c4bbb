package payments

import (
	"strings"
	"testing"
)

func TestParsePlans(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		wantErr string // substring; "" means valid
		wantIDs []string
	}{
		{"sample", SamplePlans, "", []string{"basic-30d", "pro-365d"}},
		{"one plan", `[[plan]]
id = "a"
name = "A"
price = 1
currency = "eur"
duration_days = 1
daily_quota = 1`, "", []string{"a"}},
		{"empty", ``, "no plans", nil},
		{"not toml", `[[plan`, "not valid TOML", nil},
		{"unknown key", `[[plan]]
id = "a"
name = "A"
price = 1
currency = "eur"
duration_days = 1
daily_quota = 1
dayly_quota = 2`, "unknown key", nil},
		{"duplicate id", strings.Replace(SamplePlans, "pro-365d", "basic-30d", 1), "used twice", nil},
		{"space in id", strings.Replace(SamplePlans, `"basic-30d"`, `"basic 30d"`, 1), "printable ASCII", nil},
		{"id too long", strings.Replace(SamplePlans, `"basic-30d"`, `"`+strings.Repeat("a", 65)+`"`, 1), "1 to 64", nil},
		{"zero price", strings.Replace(SamplePlans, "price = 500", "price = 0", 1), "price", nil},
		{"upper-case currency", strings.Replace(SamplePlans, `currency = "usd"`, `currency = "USD"`, 1), "currency", nil},
		{"long currency", strings.Replace(SamplePlans, `currency = "usd"`, `currency = "usdt"`, 1), "currency", nil},
		{"zero days", strings.Replace(SamplePlans, "duration_days = 30", "duration_days = 0", 1), "duration_days", nil},
		{"too many days", strings.Replace(SamplePlans, "duration_days = 30", "duration_days = 3661", 1), "duration_days", nil},
		{"zero quota", strings.Replace(SamplePlans, "daily_quota = 100\n", "daily_quota = 0\n", 1), "daily_quota", nil},
		{"negative quota", strings.Replace(SamplePlans, "daily_quota = 100\n", "daily_quota = -1\n", 1), "", nil},
		{"no name", strings.Replace(SamplePlans, `name = "Basic, 30 days"`, ``, 1), "name", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePlans([]byte(tt.file))
			if tt.name == "negative quota" {
				// TOML decodes -1 into a uint32 as an error.
				if err == nil {
					t.Fatal("negative quota accepted")
				}
				return
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(p.IDs(), ","); got != strings.Join(tt.wantIDs, ",") {
				t.Fatalf("ids = %s, want %v", got, tt.wantIDs)
			}
		})
	}
}

func TestPlansGet(t *testing.T) {
	p, err := ParsePlans([]byte(SamplePlans))
	if err != nil {
		t.Fatal(err)
	}
	pl, ok := p.Get("pro-365d")
	want := Plan{ID: "pro-365d", Name: "Pro, one year", Price: 4800, Currency: "usd", DurationDays: 365, DailyQuota: 1000}
	if !ok || pl != want {
		t.Fatalf("Get = %+v, %v; want %+v", pl, ok, want)
	}
	if _, ok := p.Get("nope"); ok {
		t.Fatal("unknown plan found")
	}
	if l := p.List(); len(l) != 2 || l[0].ID != "basic-30d" {
		t.Fatalf("List = %+v, want file order", l)
	}
}

// FuzzParsePlans checks that whatever ParsePlans accepts obeys every rule
// of a plan, and that it never panics.
func FuzzParsePlans(f *testing.F) {
	f.Add([]byte(SamplePlans))
	f.Add([]byte("[[plan]]\nid = \"a\"\nname = \"A\"\nprice = 1\ncurrency = \"eur\"\nduration_days = 1\ndaily_quota = 1\n"))
	f.Add([]byte("[[plan]]\nid = 1\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePlans(b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, pl := range p.List() {
			if err := pl.validate(); err != nil {
				t.Fatalf("accepted an invalid plan %+v: %v", pl, err)
			}
			if seen[pl.ID] {
				t.Fatalf("accepted a duplicate id %q", pl.ID)
			}
			seen[pl.ID] = true
		}
	})
}
