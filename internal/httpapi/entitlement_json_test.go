package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/api"
)

// wantJSON is what the generated response writes: json.Encoder's output.
func wantJSON(t *testing.T, r api.EntitlementResponse) ([]byte, bool) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(r); err != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

func assertEncodedAlike(t *testing.T, r api.EntitlementResponse) {
	t.Helper()
	want, wantOK := wantJSON(t, r)
	got, ok := appendEntitlementResponse(nil, r)
	if ok != wantOK {
		t.Fatalf("appendEntitlementResponse ok = %t, encoding/json ok = %t", ok, wantOK)
	}
	if ok && !bytes.Equal(got, want) {
		t.Fatalf("body differs from encoding/json's\n got: %s\nwant: %s", got, want)
	}
}

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return &t
}

// The entitlement body is, byte for byte, what encoding/json writes.
func TestEntitlementJSONIsEncodingJSONs(t *testing.T) {
	full := api.Entitlement{
		Active: true, CancelAt: at("2031-02-03T04:05:06.789Z"), CancelAtPeriodEnd: true,
		Checkout:         &api.CheckoutReadiness{Ready: true, SessionId: "cs_test_1", Status: "complete"},
		CurrentPeriodEnd: at("2030-01-01T00:00:00Z"), Features: []string{"api", "sso"},
		OrganizationId: "org_a", Plan: "team", Seats: 12, Status: "trialing",
		TrialEndsAt: at("2029-12-31T23:59:59.000000001Z"), UpdatedAt: at("2029-06-01T12:00:00.5+02:00"), Version: 42,
	}
	odd := "<script>&\"quote\"\\ \b\f\n\r\t\x00\x01\x1f\x7f é 😀 \u2028\u2029 \xff\xfe tail"
	cases := map[string]api.Entitlement{
		"Full":            full,
		"Free":            {OrganizationId: "org_never", Plan: "free", Status: "none", Features: []string{}},
		"NilFeatures":     {OrganizationId: "org_b", Plan: "free", Status: "none"},
		"NegativeNumbers": {Seats: -1, Version: -9},
		"OddStrings": {
			OrganizationId: odd, Plan: odd, Status: api.SubscriptionStatus(odd), Features: []string{odd, "", odd},
			Checkout: &api.CheckoutReadiness{SessionId: odd, Status: api.CheckoutStatus(odd)},
		},
		"LocalZone": {UpdatedAt: at("2020-02-29T23:00:00-07:30")},
	}
	for name, e := range cases {
		t.Run(name, func(t *testing.T) {
			assertEncodedAlike(t, api.EntitlementResponse{Success: true, Data: e})
			assertEncodedAlike(t, api.EntitlementResponse{Success: false, Data: e})
		})
	}
	t.Run("YearOutOfRange", func(t *testing.T) {
		far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		assertEncodedAlike(t, api.EntitlementResponse{Data: api.Entitlement{UpdatedAt: &far}})
	})
}

// FuzzEntitlementJSON: any strings, numbers and times encode as
// encoding/json encodes them.
func FuzzEntitlementJSON(f *testing.F) {
	f.Add("org_a", "pro", "active", "sso", 1, int64(3), int64(1700000000), int64(123456789), true)
	f.Add("<&>", "\u2028", "\xff", "\x00", -5, int64(-1), int64(-62135596800), int64(0), false)
	f.Fuzz(func(t *testing.T, org, plan, status, feature string, seats int, version, sec, nsec int64, checkout bool) {
		when := time.Unix(sec, nsec).UTC()
		e := api.Entitlement{
			OrganizationId: org, Plan: plan, Status: api.SubscriptionStatus(status), Features: []string{feature, org},
			Seats: seats, Version: version, UpdatedAt: &when, CurrentPeriodEnd: &when,
		}
		if checkout {
			e.Checkout = &api.CheckoutReadiness{SessionId: feature, Status: api.CheckoutStatus(status), Ready: seats > 0}
		}
		assertEncodedAlike(t, api.EntitlementResponse{Success: true, Data: e})
	})
}

// appendEntitlement writes these fields and no others: a field added to the
// generated types must be added there too.
func TestEntitlementJSONKnowsEveryField(t *testing.T) {
	for typ, want := range map[reflect.Type][]string{
		reflect.TypeFor[api.EntitlementResponse](): {"data", "success"},
		reflect.TypeFor[api.Entitlement](): {"active", "cancelAt", "cancelAtPeriodEnd", "checkout", "currentPeriodEnd",
			"features", "organizationId", "plan", "seats", "status", "trialEndsAt", "updatedAt", "version"},
		reflect.TypeFor[api.CheckoutReadiness](): {"ready", "sessionId", "status"},
	} {
		var got []string
		for f := range typ.Fields() {
			got = append(got, f.Tag.Get("json"))
		}
		for i, tag := range got {
			got[i], _, _ = strings.Cut(tag, ",")
		}
		if !slices.Equal(got, want) {
			t.Errorf("%v has JSON fields %v; appendEntitlement writes %v", typ, got, want)
		}
	}
}

// The response carries the generated response's status, headers and body.
func TestEntitlementOKIsTheGeneratedResponse(t *testing.T) {
	id := "req_1"
	r := api.GetEntitlement200JSONResponse{
		Body:    api.EntitlementResponse{Success: true, Data: api.Entitlement{OrganizationId: "org_a", Plan: "free", Status: "none", Features: []string{}}},
		Headers: api.GetEntitlement200ResponseHeaders{ETag: `"abc"`, XRequestId: &id},
	}
	want, got := httptest.NewRecorder(), httptest.NewRecorder()
	if err := r.VisitGetEntitlementResponse(want); err != nil {
		t.Fatal(err)
	}
	if err := entitlementOK(r).VisitGetEntitlementResponse(got); err != nil {
		t.Fatal(err)
	}
	if got.Code != want.Code || !reflect.DeepEqual(got.Header(), want.Header()) || got.Body.String() != want.Body.String() {
		t.Errorf("got %d %v %s\nwant %d %v %s", got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
	}
}
