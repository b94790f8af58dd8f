package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/auth/authtest"
	"github.com/billingd/billingd/internal/benchbaseline"
	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/config"
	"github.com/billingd/billingd/internal/httpapi"
	"github.com/billingd/billingd/internal/metrics"
	"github.com/billingd/billingd/internal/stripe"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// BenchmarkEntitlementRead is billingd's HTTP layer on its commonest request,
// GET /api/billing/entitlement of an active org whose view is cached, beside
// the bare Echo + JWT handler that cmd/billingd-bench compares it with: the
// ratio of their cpu-ns/op is the in-process view of that load test's CPU per
// request, without net/http.
//
//	go test -run '^$' -bench EntitlementRead -benchtime 20000x ./internal/httpapi/
func BenchmarkEntitlementRead(b *testing.B) {
	bearer := authtest.HS256Token(b, jwtSecret, benchClaims())
	b.Run("Baseline", func(b *testing.B) {
		benchmarkEntitlementRead(b, benchbaseline.New(jwtSecret), bearer)
	})
	// The load test runs its replicas at the default LOG_LEVEL (info: a line
	// per request, written here to nowhere) and the rate limits off; by
	// default billingd also counts reads (here against a limit this loop
	// never reaches).
	b.Run("Billingd/LoadTest", func(b *testing.B) {
		benchmarkEntitlementRead(b, newBenchBillingd(b, slog.LevelInfo, httpapi.Limits{}), bearer)
	})
	b.Run("Billingd/Defaults", func(b *testing.B) {
		limits := httpapi.Limits{
			Checkout: config.RateLimit{Count: 10, Per: time.Minute},
			Poll:     config.RateLimit{Count: 1 << 30, Per: time.Minute},
		}
		benchmarkEntitlementRead(b, newBenchBillingd(b, slog.LevelInfo, limits), bearer)
	})
}

func benchmarkEntitlementRead(b *testing.B, h http.Handler, bearer string) {
	req := httptest.NewRequest(http.MethodGet, "/api/billing/entitlement", nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req) // warm the cache
	if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"plan":"pro"`)) {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	b.ReportAllocs()
	cpu0, measured := processCPU()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	// CPU time, GC included, is what the load test compares, and a busy
	// machine inflates it less than ns/op.
	if cpu1, ok := processCPU(); measured && ok {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

// benchClaims are the load test's tokens: a user of an org, no issuer or
// audience configured.
func benchClaims() jwt.MapClaims {
	return jwt.MapClaims{"sub": "user_1", auth.DefaultOrgClaim: "org_bench", "exp": time.Now().Add(time.Hour).Unix()}
}

// newBenchBillingd is httpapi.New wired as cmd/billingd's serve does (HS256,
// metrics, CORS for the app's origin), logging JSON at level, with org_bench
// on pro.
func newBenchBillingd(b *testing.B, level slog.Level, limits httpapi.Limits) http.Handler {
	svc, st, _ := newTestService(b)
	verifier, err := auth.NewVerifier(b.Context(), auth.Options{HS256Secret: jwtSecret})
	if err != nil {
		b.Fatal(err)
	}
	h, err := httpapi.New(httpapi.Deps{
		Service: svc, Verifier: verifier, Database: st,
		ParseEvent:         stripe.WebhookVerifier{Secret: webhookSecret}.ParseEvent,
		Logger:             slog.New(httpapi.LogHandler(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level}))),
		Limits:             limits,
		Metrics:            metrics.New(),
		CORSAllowedOrigins: []string{"https://app.example.com"},
	})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.EnsureOrganization(context.Background(), billing.Organization{ID: "org_bench"}); err != nil {
		b.Fatal(err)
	}
	payload := stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionCreated},
		stripeevent.SubscriptionSpec{OrgID: "org_bench", LookupKey: "pro_monthly"})
	req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(payload))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", stripeevent.Sign(payload, webhookSecret, time.Now()))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("webhook: status %d: %s", rec.Code, rec.Body)
	}
	return h
}
