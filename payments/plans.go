package payments

import (
	"bytes"
	"fmt"
	"os"
	"sort"

	"github.com/BurntSushi/toml"
)

// Plan is what a customer can buy. Plans come from the plans file.
type Plan struct {
	// ID identifies the plan in orders, on the ledger and in license
	// payloads: 1 to 64 bytes of printable ASCII other than space.
	ID string `toml:"id" json:"id"`
	// Name is shown to customers.
	Name string `toml:"name" json:"name"`
	// Price is in the currency's minor units (cents).
	Price int64 `toml:"price" json:"price"`
	// Currency is an ISO 4217 code in lower case, as Stripe writes it.
	Currency string `toml:"currency" json:"currency"`
	// DurationDays is how long a license of the plan is valid.
	DurationDays int `toml:"duration_days" json:"duration_days"`
	// DailyQuota is how many ring proofs a license makes per day.
	DailyQuota uint32 `toml:"daily_quota" json:"daily_quota"`
}

// Plans is the validated set of plans, in file order.
type Plans struct {
	list []Plan
	byID map[string]int
}

// Limits of a plan, checked when the file is read.
const (
	MaxPlanDays = 3660
	MaxPlans    = 100
)

// SamplePlans is the plans file `licensed dev` uses when none is given.
const SamplePlans = `# Plans: one [[plan]] table each. Prices are in minor units (cents).
[[plan]]
id = "basic-30d"
name = "Basic, 30 days"
price = 500
currency = "usd"
duration_days = 30
daily_quota = 100

[[plan]]
id = "pro-365d"
name = "Pro, one year"
price = 4800
currency = "usd"
duration_days = 365
daily_quota = 1000
`

// LoadPlans reads and validates a plans file.
func LoadPlans(path string) (*Plans, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("payments: couldn't read the plans file: %w", err)
	}
	p, err := ParsePlans(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// ParsePlans decodes and validates a plans file in TOML:
//
//	[[plan]]
//	id = "basic-30d"
//	name = "Basic, 30 days"
//	price = 500           # minor units
//	currency = "usd"
//	duration_days = 30
//	daily_quota = 100
//
// Unknown keys are an error (a misspelt key must not silently take a default).
func ParsePlans(b []byte) (*Plans, error) {
	var file struct {
		Plan []Plan `toml:"plan"`
	}
	md, err := toml.NewDecoder(bytes.NewReader(b)).Decode(&file)
	if err != nil {
		return nil, fmt.Errorf("payments: the plans file is not valid TOML: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("payments: the plans file has an unknown key %q", und[0].String())
	}
	return NewPlans(file.Plan)
}

// NewPlans validates plans.
func NewPlans(list []Plan) (*Plans, error) {
	if len(list) == 0 {
		return nil, fmt.Errorf("payments: no plans: add at least one [[plan]]")
	}
	if len(list) > MaxPlans {
		return nil, fmt.Errorf("payments: %d plans, more than %d", len(list), MaxPlans)
	}
	p := &Plans{byID: map[string]int{}}
	for i, pl := range list {
		if err := pl.validate(); err != nil {
			return nil, fmt.Errorf("payments: plan %d (%q): %w", i+1, pl.ID, err)
		}
		if _, dup := p.byID[pl.ID]; dup {
			return nil, fmt.Errorf("payments: plan id %q is used twice", pl.ID)
		}
		p.byID[pl.ID] = len(p.list)
		p.list = append(p.list, pl)
	}
	return p, nil
}

func (pl Plan) validate() error {
	if len(pl.ID) < 1 || len(pl.ID) > 64 {
		return fmt.Errorf("id must be 1 to 64 characters")
	}
	for i := 0; i < len(pl.ID); i++ {
		if pl.ID[i] < 0x21 || pl.ID[i] > 0x7e {
			return fmt.Errorf("id must be printable ASCII without spaces")
		}
	}
	if pl.Name == "" {
		return fmt.Errorf("name is missing")
	}
	if pl.Price <= 0 {
		return fmt.Errorf("price must be a positive number of minor units")
	}
	if len(pl.Currency) != 3 {
		return fmt.Errorf("currency must be a 3-letter ISO 4217 code in lower case, like \"usd\"")
	}
	for i := 0; i < 3; i++ {
		if pl.Currency[i] < 'a' || pl.Currency[i] > 'z' {
			return fmt.Errorf("currency must be a 3-letter ISO 4217 code in lower case, like \"usd\"")
		}
	}
	if pl.DurationDays < 1 || pl.DurationDays > MaxPlanDays {
		return fmt.Errorf("duration_days must be 1 to %d", MaxPlanDays)
	}
	if pl.DailyQuota < 1 {
		return fmt.Errorf("daily_quota must be at least 1")
	}
	return nil
}

// Get returns the plan with id.
func (p *Plans) Get(id string) (Plan, bool) {
	i, ok := p.byID[id]
	if !ok {
		return Plan{}, false
	}
	return p.list[i], true
}

// List returns the plans in file order.
func (p *Plans) List() []Plan { return append([]Plan(nil), p.list...) }

// IDs returns the plan ids, sorted.
func (p *Plans) IDs() []string {
	ids := make([]string, 0, len(p.list))
	for _, pl := range p.list {
		ids = append(ids, pl.ID)
	}
	sort.Strings(ids)
	return ids
}
