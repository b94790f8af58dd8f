package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/billingd/billingd/internal/auth"
)

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil)))
	ctx := context.WithValue(context.Background(), requestInfoKey, &requestInfo{
		id: "req_1", principal: auth.Principal{Subject: "user_1", OrgID: "org_a"}, authed: true,
	})

	t.Run("RequestAndOrg", func(t *testing.T) {
		buf.Reset()
		log.InfoContext(ctx, "hello")
		rec := decodeRecord(t, buf.String())
		if rec["request_id"] != "req_1" || rec["org_id"] != "org_a" {
			t.Errorf("record = %v, want request_id req_1 and org_id org_a", rec)
		}
	})
	t.Run("ExplicitOrgWins", func(t *testing.T) {
		buf.Reset()
		log.InfoContext(ctx, "hello", "org_id", "org_b")
		if n := strings.Count(buf.String(), `"org_id"`); n != 1 {
			t.Fatalf("org_id appears %d times: %s", n, buf.String())
		}
		if rec := decodeRecord(t, buf.String()); rec["org_id"] != "org_b" {
			t.Errorf("org_id = %v, want org_b", rec["org_id"])
		}
	})
	t.Run("NoRequest", func(t *testing.T) {
		buf.Reset()
		log.Info("hello")
		if rec := decodeRecord(t, buf.String()); rec["request_id"] != nil || rec["org_id"] != nil {
			t.Errorf("record = %v, want neither request_id nor org_id", rec)
		}
	})
}

func decodeRecord(t *testing.T, line string) map[string]any {
	t.Helper()
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	return rec
}

func TestRequestLogLevels(t *testing.T) {
	var buf bytes.Buffer
	e, err := New(Deps{Logger: slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/healthz", "/api/billing/entitlement"} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	logs := buf.String()
	if strings.Contains(logs, `"route":"/healthz"`) {
		t.Errorf("a successful probe was logged at info; logs:\n%s", logs)
	}
	if !strings.Contains(logs, `"route":"/api/billing/entitlement"`) || !strings.Contains(logs, `"status":401`) {
		t.Errorf("the refused API request was not logged at info; logs:\n%s", logs)
	}
}

type stubVerifier auth.Principal

func (v stubVerifier) Verify(context.Context, string) (auth.Principal, error) {
	return auth.Principal(v), nil
}

// The request's log record, written after the handler, has the request id
// and the org of the token verified on the way in.
func TestRequestLogHasRequestAndOrg(t *testing.T) {
	var buf bytes.Buffer
	e, err := New(Deps{
		Logger:   slog.New(LogHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))),
		Verifier: stubVerifier{Subject: "user_1", OrgID: "org_a"},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/api/billing/entitlement?wait=99", nil)
	req.Header.Set("Authorization", "Bearer any")
	req.Header.Set(headerRequestID, "req_given")
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400 from the contract", rec.Code)
	}
	logged := decodeRecord(t, buf.String())
	if logged["msg"] != "request" || logged["request_id"] != "req_given" || logged["org_id"] != "org_a" || logged["status"] != float64(400) {
		t.Errorf("record = %v, want the request with request_id req_given, org_id org_a, status 400", logged)
	}
}
