package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

// BenchmarkContractCheck is what checking a request against openapi.yaml
// adds to an entitlement read: go test -run - -bench ContractCheck ./internal/httpapi/
func BenchmarkContractCheck(b *testing.B) {
	ct, err := newContract()
	if err != nil {
		b.Fatal(err)
	}
	e := echo.New()
	e.GET("/api/billing/entitlement", ct.validate(func(echo.Context) error { return nil }))
	req := httptest.NewRequest(http.MethodGet, "/api/billing/entitlement?session_id=cs_1&wait=0", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
