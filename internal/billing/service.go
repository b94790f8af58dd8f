package billing

import (
	"log/slog"
	"time"
)

// Options configure a Service. Zero values get the defaults noted.
type Options struct {
	Catalog *Catalog
	Access  Access
	// AutomaticTax turns on Stripe Tax on Checkout Sessions.
	AutomaticTax bool
	// DefaultSuccessURL and DefaultCancelURL are used when a checkout names none.
	DefaultSuccessURL string
	DefaultCancelURL  string
	// DefaultReturnURL is where the Customer Portal links back to when the
	// client names no return URL (default DefaultCancelURL: the app's billing page).
	DefaultReturnURL string
	// RedirectAllowed reports whether a client-given redirect URL is on an allowed origin.
	RedirectAllowed func(rawURL string) bool
	// PriceCacheTTL is how long a resolved lookup key is trusted (default 10 minutes).
	PriceCacheTTL time.Duration
	// EntitlementCacheTTL bounds how long a cached entitlement read is served
	// (default 1 s). Reads are cached only when the Notifier is a ChangeFeed,
	// which drops them as soon as they change; negative turns the cache off.
	EntitlementCacheTTL time.Duration
	Logger              *slog.Logger
	Now                 func() time.Time
}

// Service is billingd's use cases. It is safe for concurrent use.
type Service struct {
	store    Store
	payments Payments
	notifier Notifier
	opts     Options
	log      *slog.Logger
	now      func() time.Time

	prices   *priceCache
	batches  *eventBatches     // nil: the store does not batch events
	views    *entitlementCache // nil: no caching
	orgLocks keyedMutex
	// pollReads admits long-polls' reads pollReadsAtOnce at a time, in the
	// order they came (see WaitEntitlement).
	pollReads chan struct{}
}

// NewService returns a Service over its ports.
func NewService(store Store, payments Payments, notifier Notifier, opts Options) *Service {
	if opts.Catalog == nil {
		c, err := NewCatalog(DefaultPlans())
		if err != nil {
			panic(err) // the built-in catalog is valid; a test proves it
		}
		opts.Catalog = c
	}
	if opts.EntitlementCacheTTL == 0 {
		opts.EntitlementCacheTTL = defaultEntitlementTTL
	}
	if opts.PriceCacheTTL == 0 {
		opts.PriceCacheTTL = 10 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DefaultReturnURL == "" {
		opts.DefaultReturnURL = opts.DefaultCancelURL
	}
	if opts.RedirectAllowed == nil {
		opts.RedirectAllowed = func(string) bool { return false }
	}
	svc := &Service{
		store:    store,
		payments: payments,
		notifier: notifier,
		opts:     opts,
		log:      opts.Logger,
		now:      opts.Now,
		prices:   newPriceCache(payments, opts.PriceCacheTTL, opts.Now),
		batches:  newEventBatches(store),

		pollReads: make(chan struct{}, pollReadsAtOnce),
	}
	if feed, ok := notifier.(ChangeFeed); ok && opts.EntitlementCacheTTL > 0 {
		svc.views = newEntitlementCache(opts.EntitlementCacheTTL, opts.Now)
		feed.OnChange(svc.views.invalidate)
	}
	return svc
}
