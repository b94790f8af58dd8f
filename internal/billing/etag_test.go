package billing

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"
)

// etagAsReleased is ETag as billingd computed it before it was appended by
// hand: the bytes hashed must not change, or every client's ETag would.
func etagAsReleased(v EntitlementView) string {
	fmtTime := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%t|%d|%v|%s|%s|%t|%s|%s|%d", v.OrgID, v.Plan, v.Status, v.Active, v.Seats,
		v.Features, fmtTime(v.TrialEnd), fmtTime(v.CurrentPeriodEnd), v.CancelAtPeriodEnd, fmtTime(v.CancelAt), fmtTime(v.UpdatedAt), v.Version)
	if v.Checkout != nil {
		fmt.Fprintf(h, "|%s|%s|%t", v.Checkout.SessionID, v.Checkout.Status, v.Checkout.Ready)
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func TestETag_SameBytesAsReleased(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 30, 0, 123456000, time.FixedZone("CET", 3600))
	whole := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, v := range map[string]EntitlementView{
		"Empty": {},
		"Free":  {OrgID: "org_1", Plan: FreePlan, Status: StatusNone, Features: []string{}},
		"Pro": {OrgID: "org_2", Plan: "pro", Status: StatusActive, Active: true, Seats: 5, Features: []string{"api", "sso", "audit log"},
			TrialEnd: &at, CurrentPeriodEnd: &whole, CancelAtPeriodEnd: true, CancelAt: &whole, UpdatedAt: &at, Version: 1 << 40},
		"NegativeAndOdd": {OrgID: "org_|x", Plan: "p|", Status: Status("weird [status]"), Seats: -3, Features: []string{""}, Version: -1},
		"WithCheckout":   {OrgID: "org_3", Checkout: &CheckoutReadiness{SessionID: "cs_1", Status: CheckoutComplete, Ready: true}},
		"CheckoutZero":   {OrgID: "org_4", Checkout: &CheckoutReadiness{}},
	} {
		if got, want := v.ETag(), etagAsReleased(v); got != want {
			t.Errorf("%s: ETag %s, released %s", name, got, want)
		}
	}
}

func FuzzETag_SameBytesAsReleased(f *testing.F) {
	f.Add("org_1", "pro", "active", true, 3, "api", int64(1700000000123), int64(7), "cs_1", true)
	f.Fuzz(func(t *testing.T, org, plan, status string, active bool, seats int, feature string, nanos, version int64, session string, withCheckout bool) {
		ts := time.Unix(0, nanos)
		v := EntitlementView{OrgID: org, Plan: plan, Status: Status(status), Active: active, Seats: seats,
			Features: []string{feature, feature + "x"}, TrialEnd: &ts, UpdatedAt: &ts, Version: version}
		if withCheckout {
			v.Checkout = &CheckoutReadiness{SessionID: session, Status: CheckoutStatus(status), Ready: active}
		}
		if got, want := v.ETag(), etagAsReleased(v); got != want {
			t.Fatalf("ETag %s, released %s for %+v", got, want, v)
		}
	})
}
