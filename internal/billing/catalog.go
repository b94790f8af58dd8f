package billing

import (
	"fmt"
	"sort"
)

// Interval is a billing interval of a recurring price.
type Interval string

const (
	Month Interval = "month"
	Year  Interval = "year"
)

// Valid reports whether i is one of the supported intervals.
func (i Interval) Valid() bool { return i == Month || i == Year }

// FreePlan is the plan slug of an org without a subscription that grants access.
const FreePlan = "free"

// Plan is one paid plan of the catalog. Prices are never hard-coded: each interval
// names a Stripe Price lookup key, resolved at run time.
type Plan struct {
	Slug       string              `json:"slug" yaml:"slug"`
	Name       string              `json:"name" yaml:"name"`
	LookupKeys map[Interval]string `json:"lookupKeys" yaml:"lookupKeys"`
	TrialDays  int                 `json:"trialDays" yaml:"trialDays"`
	Features   []string            `json:"features" yaml:"features"`
	// PerSeat plans take a quantity at checkout, up to MaxSeats (0 = no limit).
	PerSeat  bool `json:"perSeat" yaml:"perSeat"`
	MaxSeats int  `json:"maxSeats" yaml:"maxSeats"`
}

// Catalog is the set of plans an org can buy.
type Catalog struct {
	plans map[string]Plan
}

// NewCatalog validates plans and returns a catalog.
func NewCatalog(plans []Plan) (*Catalog, error) {
	c := &Catalog{plans: make(map[string]Plan, len(plans))}
	seenKeys := map[string]string{}
	for _, p := range plans {
		if p.Slug == "" || p.Slug == FreePlan {
			return nil, fmt.Errorf("plan slug %q is empty or reserved", p.Slug)
		}
		if _, dup := c.plans[p.Slug]; dup {
			return nil, fmt.Errorf("plan %q is listed twice", p.Slug)
		}
		if len(p.LookupKeys) == 0 {
			return nil, fmt.Errorf("plan %q has no lookup keys", p.Slug)
		}
		for iv, key := range p.LookupKeys {
			if !iv.Valid() {
				return nil, fmt.Errorf("plan %q: interval %q is not month or year", p.Slug, iv)
			}
			if key == "" {
				return nil, fmt.Errorf("plan %q: empty lookup key for %s", p.Slug, iv)
			}
			if other, dup := seenKeys[key]; dup {
				return nil, fmt.Errorf("lookup key %q is used by plans %q and %q", key, other, p.Slug)
			}
			seenKeys[key] = p.Slug
		}
		if p.TrialDays < 0 || p.MaxSeats < 0 {
			return nil, fmt.Errorf("plan %q: trialDays and maxSeats must not be negative", p.Slug)
		}
		c.plans[p.Slug] = p
	}
	if len(c.plans) == 0 {
		return nil, fmt.Errorf("the plan catalog is empty")
	}
	return c, nil
}

// DefaultPlans is the built-in catalog used when no PLANS_FILE is given.
func DefaultPlans() []Plan {
	return []Plan{
		{
			Slug: "pro", Name: "Pro", TrialDays: 14,
			LookupKeys: map[Interval]string{Month: "pro_monthly", Year: "pro_yearly"},
			Features:   []string{"projects.unlimited", "support.email", "exports"},
		},
		{
			Slug: "team", Name: "Team", PerSeat: true, MaxSeats: 500,
			LookupKeys: map[Interval]string{Month: "team_monthly", Year: "team_yearly"},
			Features:   []string{"projects.unlimited", "support.email", "exports", "sso", "audit_log"},
		},
	}
}

// Plan returns the plan with slug.
func (c *Catalog) Plan(slug string) (Plan, bool) {
	p, ok := c.plans[slug]
	return p, ok
}

// Plans returns every plan, ordered by slug.
func (c *Catalog) Plans() []Plan {
	out := make([]Plan, 0, len(c.plans))
	for _, p := range c.plans {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out
}

// ByLookupKey returns the plan and interval a lookup key belongs to.
func (c *Catalog) ByLookupKey(key string) (Plan, Interval, bool) {
	for _, p := range c.plans {
		for iv, k := range p.LookupKeys {
			if k == key {
				return p, iv, true
			}
		}
	}
	return Plan{}, "", false
}

// WithTrialDays returns a copy of c in which every plan has the given trial days;
// it implements CHECKOUT_TRIAL_DAYS.
func (c *Catalog) WithTrialDays(days int) *Catalog {
	out := &Catalog{plans: make(map[string]Plan, len(c.plans))}
	for slug, p := range c.plans {
		p.TrialDays = days
		out.plans[slug] = p
	}
	return out
}
