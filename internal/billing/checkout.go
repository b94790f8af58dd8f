package billing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Caller is who asks: the verified user and their org.
type Caller struct {
	OrgID  string
	UserID string
	Email  string
}

// RequireOrg is the one rule for a caller whose token names no org: it may
// not act for one (403), whichever endpoint it calls.
func RequireOrg(orgID string) error {
	if orgID == "" {
		return Errorf(EForbidden, "Token has no organization claim")
	}
	return nil
}

// CheckoutRequest is a request to upgrade an org. Exactly one of Plan and PriceID.
type CheckoutRequest struct {
	Plan       string
	Interval   Interval // default Month
	PriceID    string
	Quantity   *int // per-seat plans only
	SuccessURL string
	CancelURL  string
	Metadata   map[string]string
}

// CheckoutResult is the session the client opens to pay.
type CheckoutResult struct {
	SessionID string
	URL       string
	ExpiresAt time.Time
}

// maxMetadataKeyLen is Stripe's limit on a metadata key. The other limits of
// the request (key count, value length, ranges, enums) are the contract's:
// openapi.yaml states them and the HTTP layer enforces them from there.
// OpenAPI 3.0 cannot state a limit on keys, so this one is checked here.
const maxMetadataKeyLen = 40

// idempotencyWindow is how long an Idempotency-Key replays its first response.
const idempotencyWindow = 24 * time.Hour

// checkoutPlan is a validated checkout request, resolved against the catalog.
type checkoutPlan struct {
	plan       Plan
	interval   Interval
	price      Price
	quantity   int
	successURL string
	cancelURL  string
	metadata   map[string]string
}

// hash fingerprints what the client asked for, to recognise an identical repeat.
func (cp checkoutPlan) hash() string {
	b, _ := json.Marshal(struct {
		Plan, Interval, Price string
		Quantity              int
		Success, Cancel       string
		Metadata              map[string]string // encoding/json sorts map keys
	}{cp.plan.Slug, string(cp.interval), cp.price.ID, cp.quantity, cp.successURL, cp.cancelURL, cp.metadata})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// CheckoutState is what a checkout decides on, read from the store at once so
// that a checkout of an org with a Customer costs one read before its Stripe
// call. Rows that do not exist are zero or nil.
type CheckoutState struct {
	Org         Organization // ID "" while the org has no row
	Entitlement *Entitlement
	// OpenSession is the org's newest session that is open and unexpired.
	OpenSession *CheckoutSession
	// LatestSessionID is the org's newest session in any status.
	LatestSessionID string
	// Idempotent is the response stored for the Idempotency-Key asked about.
	Idempotent *IdempotentResponse
}

// StartCheckout creates (or returns the open) hosted Checkout Session that
// upgrades the caller's org. Errors: EBadRequest for invalid input,
// EAlreadySubscribed when the org already has access, EConflict when
// idempotencyKey was used with another request, EUpstream when Stripe fails.
//
// For an org with a Customer it costs one read, one Stripe call and one
// transaction (the new session, with the response of idempotencyKey).
func (s *Service) StartCheckout(ctx context.Context, caller Caller, req CheckoutRequest, idempotencyKey string) (CheckoutResult, error) {
	if err := RequireOrg(caller.OrgID); err != nil {
		return CheckoutResult{}, err
	}
	if err := validateCheckoutInput(req, s.opts.RedirectAllowed); err != nil {
		return CheckoutResult{}, err
	}
	cp, err := s.resolveCheckout(ctx, req)
	if err != nil {
		return CheckoutResult{}, err
	}
	reqHash := cp.hash()

	// The lock comes before the read: a request that waited for another of
	// its org sees the session that one stored.
	unlock := s.orgLocks.Lock(caller.OrgID)
	defer unlock()
	state, err := s.store.CheckoutState(ctx, caller.OrgID, idempotencyKey, s.now())
	if err != nil {
		return CheckoutResult{}, fmt.Errorf("load checkout state: %w", err)
	}
	if state.Idempotent != nil {
		if res, ok, err := s.replayIdempotent(ctx, *state.Idempotent, reqHash); err != nil || ok {
			return res, err
		}
	}
	// Decided on the stored entitlement, never on a cached read.
	if ent := s.view(entitlementOrNone(state.Entitlement, caller.OrgID)); ent.Active {
		return CheckoutResult{}, Errorf(EAlreadySubscribed, "Organization already has an active %s subscription; change it in the Customer Portal", ent.Plan)
	}

	cs, isNew, err := s.openOrCreateSession(ctx, caller, cp, reqHash, state)
	if err != nil {
		return CheckoutResult{}, err
	}
	if err := s.storeCheckout(ctx, cs, isNew, idempotencyKey, reqHash); err != nil {
		return CheckoutResult{}, err
	}
	return CheckoutResult{SessionID: cs.ID, URL: cs.URL, ExpiresAt: cs.ExpiresAt}, nil
}

func entitlementOrNone(e *Entitlement, orgID string) Entitlement {
	if e == nil {
		return NoEntitlement(orgID)
	}
	return *e
}

// storeCheckout stores what a checkout made: its session when it is new, and
// the response of idempotencyKey when one was given. Both are written in one
// transaction, or neither, so that a retry after a failure finds neither and
// sends Stripe the same idempotency key again. A single write is a
// transaction of its own.
func (s *Service) storeCheckout(ctx context.Context, cs CheckoutSession, isNew bool, idempotencyKey, reqHash string) error {
	write := func(st Store) error {
		if isNew {
			if err := st.SaveCheckoutSession(ctx, cs); err != nil {
				return fmt.Errorf("save session %s: %w", cs.ID, err)
			}
		}
		if idempotencyKey == "" {
			return nil
		}
		rec := IdempotentResponse{OrgID: cs.OrgID, Key: idempotencyKey, RequestHash: reqHash, SessionID: cs.ID, CreatedAt: s.now()}
		if err := st.SaveIdempotentResponse(ctx, rec); err != nil {
			return fmt.Errorf("save idempotency key: %w", err)
		}
		return nil
	}
	if isNew && idempotencyKey != "" {
		return s.store.InTx(ctx, write)
	}
	return write(s.store)
}

// validateCheckoutInput checks what needs no Stripe call, so bad input fails fast.
func validateCheckoutInput(req CheckoutRequest, redirectAllowed func(string) bool) error {
	switch {
	case req.Plan == "" && req.PriceID == "":
		return Errorf(EBadRequest, "plan or priceId is required")
	case req.Plan != "" && req.PriceID != "":
		return Errorf(EBadRequest, "Give either plan or priceId, not both")
	case req.SuccessURL != "" && !redirectAllowed(req.SuccessURL):
		return Errorf(EBadRequest, "successUrl must be an absolute URL on an allowed origin")
	case req.CancelURL != "" && !redirectAllowed(req.CancelURL):
		return Errorf(EBadRequest, "cancelUrl must be an absolute URL on an allowed origin")
	}
	return validateMetadata(req.Metadata)
}

func validateMetadata(md map[string]string) error {
	if _, ok := md[OrgMetadataKey]; ok {
		return Errorf(EBadRequest, "metadata.organization_id is reserved and set from your token")
	}
	for k := range md {
		if k == "" || len(k) > maxMetadataKeyLen {
			return Errorf(EBadRequest, "metadata keys must be 1 to %d characters", maxMetadataKeyLen)
		}
	}
	return nil
}

// resolveCheckout maps the request onto the catalog and a Stripe price.
func (s *Service) resolveCheckout(ctx context.Context, req CheckoutRequest) (checkoutPlan, error) {
	cp := checkoutPlan{successURL: req.SuccessURL, cancelURL: req.CancelURL, metadata: req.Metadata}
	if cp.successURL == "" {
		cp.successURL = s.opts.DefaultSuccessURL
	}
	if cp.cancelURL == "" {
		cp.cancelURL = s.opts.DefaultCancelURL
	}
	if req.Plan != "" {
		plan, ok := s.opts.Catalog.Plan(req.Plan)
		if !ok {
			return cp, Errorf(EBadRequest, "Unknown plan %q", req.Plan)
		}
		cp.plan, cp.interval = plan, req.Interval
		if cp.interval == "" {
			cp.interval = Month
		}
		key, ok := plan.LookupKeys[cp.interval]
		if !ok {
			return cp, Errorf(EBadRequest, "Plan %q has no %sly price", plan.Slug, cp.interval)
		}
		price, err := s.prices.resolve(ctx, key)
		if err != nil {
			return cp, err
		}
		cp.price = price
	} else {
		found, err := s.catalogPrice(ctx, req.PriceID)
		if err != nil {
			return cp, err
		}
		if req.Interval != "" && req.Interval != found.interval {
			return cp, Errorf(EBadRequest, "priceId is a %sly price, not %sly", found.interval, req.Interval)
		}
		cp.plan, cp.interval, cp.price = found.plan, found.interval, found.price
	}
	quantity, err := seatQuantity(cp.plan, req.Quantity)
	if err != nil {
		return cp, err
	}
	cp.quantity = quantity
	return cp, nil
}

func seatQuantity(plan Plan, requested *int) (int, error) {
	if requested == nil {
		return 1, nil
	}
	q := *requested
	switch {
	case !plan.PerSeat && q != 1:
		return 0, Errorf(EBadRequest, "quantity is only allowed for per-seat plans; %q is not one", plan.Slug)
	case plan.MaxSeats > 0 && q > plan.MaxSeats:
		return 0, Errorf(EBadRequest, "quantity must be at most %d for plan %q", plan.MaxSeats, plan.Slug)
	}
	return q, nil
}

type catalogPriceMatch struct {
	plan     Plan
	interval Interval
	price    Price
}

// catalogPrice finds which catalog plan and interval a client-given price id is.
func (s *Service) catalogPrice(ctx context.Context, priceID string) (catalogPriceMatch, error) {
	for _, plan := range s.opts.Catalog.Plans() {
		for iv, key := range plan.LookupKeys {
			price, err := s.prices.resolve(ctx, key)
			if err != nil {
				return catalogPriceMatch{}, err
			}
			if price.ID == priceID {
				return catalogPriceMatch{plan: plan, interval: iv, price: price}, nil
			}
		}
	}
	return catalogPriceMatch{}, Errorf(EBadRequest, "Invalid price ID")
}

// replayIdempotent returns the stored response of an Idempotency-Key while it
// is within its window.
func (s *Service) replayIdempotent(ctx context.Context, rec IdempotentResponse, reqHash string) (CheckoutResult, bool, error) {
	if s.now().Sub(rec.CreatedAt) > idempotencyWindow {
		return CheckoutResult{}, false, nil
	}
	if rec.RequestHash != reqHash {
		return CheckoutResult{}, false, Errorf(EConflict, "Idempotency-Key was already used with a different request")
	}
	cs, err := s.store.CheckoutSession(ctx, rec.SessionID)
	if err != nil {
		return CheckoutResult{}, false, fmt.Errorf("load idempotent session %s: %w", rec.SessionID, err)
	}
	return CheckoutResult{SessionID: cs.ID, URL: cs.URL, ExpiresAt: cs.ExpiresAt}, true, nil
}

// openOrCreateSession keeps at most one open session per org: an identical
// repeat gets the open one back, a different request expires it first. It
// reports whether the session is new, and so still to be stored. Callers hold
// the org's lock, under which they read state.
func (s *Service) openOrCreateSession(ctx context.Context, caller Caller, cp checkoutPlan, reqHash string, state CheckoutState) (CheckoutSession, bool, error) {
	if open := state.OpenSession; open != nil {
		if open.RequestHash == reqHash {
			return *open, false, nil
		}
		if err := s.payments.ExpireCheckoutSession(ctx, open.ID); err != nil {
			return CheckoutSession{}, false, err
		}
		// Stored at once, not with the new session: if the create fails, the
		// old one must not be handed out again as open.
		expired := *open
		expired.Status, expired.UpdatedAt = CheckoutExpired, s.now()
		if err := s.store.SaveCheckoutSession(ctx, expired); err != nil {
			return CheckoutSession{}, false, fmt.Errorf("mark session %s expired: %w", open.ID, err)
		}
	}

	customerID := state.Org.StripeCustomerID
	if customerID == "" {
		var err error
		if customerID, err = s.ensureCustomer(ctx, caller); err != nil {
			return CheckoutSession{}, false, err
		}
	}
	metadata := map[string]string{}
	for k, v := range cp.metadata {
		metadata[k] = v
	}
	metadata[OrgMetadataKey] = caller.OrgID // last, so nothing overrides it
	params := CheckoutParams{
		OrgID: caller.OrgID, CustomerID: customerID, PriceID: cp.price.ID, Quantity: cp.quantity,
		TrialDays: cp.plan.TrialDays, SuccessURL: cp.successURL, CancelURL: cp.cancelURL,
		Metadata: metadata, AutomaticTax: s.opts.AutomaticTax,
	}
	var err error
	if params.IdempotencyKey, err = checkoutIdempotencyKey(params, state.LatestSessionID); err != nil {
		return CheckoutSession{}, false, err
	}
	created, err := s.payments.CreateCheckoutSession(ctx, params)
	if err != nil {
		return CheckoutSession{}, false, err
	}
	now := s.now()
	return CheckoutSession{
		ID: created.ID, OrgID: caller.OrgID, Plan: cp.plan.Slug, Interval: cp.interval, PriceID: cp.price.ID,
		Quantity: cp.quantity, Status: CheckoutOpen, URL: created.URL, ExpiresAt: created.ExpiresAt,
		CustomerID: customerID, CreatedBy: caller.UserID, RequestHash: reqHash, CreatedAt: now, UpdatedAt: now,
	}, true, nil
}

// checkoutIdempotencyKey is the Stripe idempotency key of a session create:
// what is sent, and the org's newest stored session (latestSessionID, read
// under the org's lock). Until a session is stored for the org, every attempt
// of the same request sends the same key, so a retry after Stripe created the
// session but billingd failed to store it (the store failed, the process died)
// gets that same session back instead of an orphaned second one; replicas
// racing on one request get one session too. Once a session is stored, the
// next create gets a new key.
func checkoutIdempotencyKey(p CheckoutParams, latestSessionID string) (string, error) {
	b, err := json.Marshal(struct {
		Params CheckoutParams // encoding/json sorts the metadata's keys
		After  string
	}{p, latestSessionID})
	if err != nil {
		return "", fmt.Errorf("checkout idempotency key: %w", err)
	}
	return "billingd-checkout-" + hashString(string(b)), nil
}

// ensureCustomer returns the org's Stripe Customer, creating the org row and the
// Customer on first use. The conditional update makes the first stored Customer
// win any race; the Stripe idempotency key makes racing replicas, and a retry
// after the Customer was created but not stored, get the same one. Its params
// come from the org row, never changed once written, so that every attempt
// sends what the key was first used with (Stripe refuses a key reused with
// other params).
func (s *Service) ensureCustomer(ctx context.Context, caller Caller) (string, error) {
	org, err := s.store.EnsureOrganization(ctx, Organization{ID: caller.OrgID, BillingEmail: caller.Email, CreatedAt: s.now(), UpdatedAt: s.now()})
	if err != nil {
		return "", fmt.Errorf("ensure organization: %w", err)
	}
	if org.StripeCustomerID != "" {
		return org.StripeCustomerID, nil
	}
	customerID, err := s.payments.CreateCustomer(ctx, CustomerParams{
		OrgID: org.ID, Email: org.BillingEmail, IdempotencyKey: "billingd-customer-" + hashString(org.ID),
	})
	if err != nil {
		return "", err
	}
	org, err = s.store.SetCustomerID(ctx, caller.OrgID, customerID)
	if err != nil {
		return "", fmt.Errorf("store customer: %w", err)
	}
	if org.StripeCustomerID != customerID {
		s.log.Warn("another replica stored a different Stripe Customer first; using it",
			"org_id", caller.OrgID, "kept", org.StripeCustomerID, "unused", customerID)
	}
	return org.StripeCustomerID, nil
}

func hashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}
