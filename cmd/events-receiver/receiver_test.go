package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/outbound"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// newSecret returns a fresh secret the way billingd's README makes one:
// whsec_ + base64 of 32 random bytes.
func newSecret(tb testing.TB) string {
	tb.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// fixture is a receiver under test, the secret billingd shares with it, and
// everything it logged.
type fixture struct {
	rcv    *receiver
	secret string
	out    *bytes.Buffer
}

func mustReceiver(tb testing.TB) fixture {
	tb.Helper()
	secret, out := newSecret(tb), &bytes.Buffer{}
	rcv, err := newReceiver(secret, out)
	if err != nil {
		tb.Fatal(err)
	}
	return fixture{rcv: rcv, secret: secret, out: out}
}

// signed is a delivery of body as billingd signs it: webhook-id,
// webhook-timestamp and webhook-signature, made with the official library.
func (f fixture) signed(tb testing.TB, id string, at time.Time, body string) *http.Request {
	tb.Helper()
	wh, err := standardwebhooks.NewWebhook(f.secret)
	if err != nil {
		tb.Fatal(err)
	}
	sig, err := wh.Sign(id, at, []byte(body))
	if err != nil {
		tb.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(standardwebhooks.HeaderWebhookID, id)
	req.Header.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(at.Unix(), 10))
	req.Header.Set(standardwebhooks.HeaderWebhookSignature, sig)
	return req
}

// serve hands req to the receiver and returns the status it answered.
func (f fixture) serve(req *http.Request) int {
	rec := httptest.NewRecorder()
	f.rcv.ServeHTTP(rec, req)
	return rec.Code
}

// logged counts the log lines that contain s.
func (f fixture) logged(s string) int {
	return strings.Count(f.out.String(), s)
}

func entitlementChanged(org, plan, status string, version int64) string {
	return fmt.Sprintf(`{"type":"entitlement.changed","timestamp":"2026-12-01T09:00:00Z","data":`+
		`{"organizationId":%q,"plan":%q,"status":%q,"active":true,"seats":1,"features":[],`+
		`"trialEndsAt":null,"currentPeriodEnd":null,"cancelAtPeriodEnd":false,"cancelAt":null,`+
		`"version":%d,"updatedAt":"2026-12-01T09:00:00Z"}}`, org, plan, status, version)
}

func TestReceiver_EntitlementChanged(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		f := mustReceiver(t)
		if code := f.serve(f.signed(t, "msg_1", time.Now(), entitlementChanged("org_1", "pro", "active", 3))); code != http.StatusNoContent {
			t.Fatalf("status = %d, want 204", code)
		}
		if f.logged(`msg="org_1 is on plan pro (active, version 3)" webhook_id=msg_1`) != 1 {
			t.Fatalf("log = %q, want org_1 on plan pro at version 3, with the webhook-id", f.out)
		}
		if got := f.rcv.versions["org_1"]; got != 3 {
			t.Fatalf("held version = %d, want 3", got)
		}
	})

	t.Run("OlderVersionDropped", func(t *testing.T) {
		f := mustReceiver(t)
		f.serve(f.signed(t, "msg_3", time.Now(), entitlementChanged("org_1", "pro", "active", 3)))
		code := f.serve(f.signed(t, "msg_2", time.Now(), entitlementChanged("org_1", "free", "canceled", 2)))
		if code != http.StatusNoContent {
			t.Fatalf("status = %d, want 204: an old version is delivered, just not applied", code)
		}
		if f.logged("org_1: dropped version 2, already at 3") != 1 || f.logged("plan free") != 0 {
			t.Fatalf("log = %q, want version 2 dropped", f.out)
		}
		if got := f.rcv.versions["org_1"]; got != 3 {
			t.Fatalf("held version = %d, want still 3", got)
		}
	})

	t.Run("SameVersionDropped", func(t *testing.T) {
		f := mustReceiver(t)
		f.serve(f.signed(t, "msg_a", time.Now(), entitlementChanged("org_1", "pro", "active", 3)))
		f.serve(f.signed(t, "msg_b", time.Now(), entitlementChanged("org_1", "pro", "active", 3)))
		if f.logged("org_1: dropped version 3, already at 3") != 1 {
			t.Fatalf("log = %q, want a second version 3 dropped: only newer applies", f.out)
		}
	})

	t.Run("VersionsArePerOrganization", func(t *testing.T) {
		f := mustReceiver(t)
		f.serve(f.signed(t, "msg_1", time.Now(), entitlementChanged("org_1", "pro", "active", 3)))
		f.serve(f.signed(t, "msg_2", time.Now(), entitlementChanged("org_2", "team", "trialing", 1)))
		if f.logged("org_2 is on plan team (trialing, version 1)") != 1 {
			t.Fatalf("log = %q, want org_2's version 1 applied despite org_1's 3", f.out)
		}
	})
}

func TestReceiver_Dedupe(t *testing.T) {
	t.Run("SameIDTwiceAppliedOnce", func(t *testing.T) {
		f := mustReceiver(t)
		body := entitlementChanged("org_1", "pro", "active", 3)
		first := f.serve(f.signed(t, "msg_1", time.Now(), body))
		// billingd's retry: same id and body, a new timestamp and signature.
		again := f.serve(f.signed(t, "msg_1", time.Now().Add(time.Second), body))
		if first != http.StatusNoContent || again/100 != 2 {
			t.Fatalf("statuses = %d, %d, want 204 then a 2xx so billingd stops retrying", first, again)
		}
		if f.logged("is on plan") != 1 || f.logged("dropped") != 0 {
			t.Fatalf("log = %q, want the message applied once and the retry not handled again", f.out)
		}
		if f.logged("already handled") != 1 {
			t.Fatalf("log = %q, want the retry logged as already handled", f.out)
		}
	})

	t.Run("RejectedIDNotMarkedSeen", func(t *testing.T) {
		f := mustReceiver(t)
		body := entitlementChanged("org_1", "pro", "active", 3)
		f.serve(f.signed(t, "msg_1", time.Now().Add(-10*time.Minute), body))
		if code := f.serve(f.signed(t, "msg_1", time.Now(), body)); code != http.StatusNoContent {
			t.Fatalf("status = %d, want 204", code)
		}
		if f.logged("org_1 is on plan pro (active, version 3)") != 1 {
			t.Fatalf("log = %q, want the valid retry applied after a rejected attempt", f.out)
		}
	})
}

func TestReceiver_Payment(t *testing.T) {
	for _, typ := range []string{"payment.succeeded", "payment.failed"} {
		t.Run(typ, func(t *testing.T) {
			f := mustReceiver(t)
			body := `{"type":"` + typ + `","timestamp":"2026-12-01T09:00:00Z","data":{"organizationId":"org_1",` +
				`"invoiceId":"in_1A2b3C","amount":1900,"currency":"usd","status":"paid","hostedInvoiceUrl":null,` +
				`"createdAt":"2026-12-01T08:59:00Z"}}`
			if code := f.serve(f.signed(t, "msg_p", time.Now(), body)); code != http.StatusNoContent {
				t.Fatalf("status = %d, want 204", code)
			}
			if f.logged("org_1: "+typ+", invoice in_1A2b3C, 1900 usd") != 1 || f.logged("webhook_id=msg_p") != 1 {
				t.Fatalf("log = %q, want invoice, amount, currency, org and webhook-id", f.out)
			}
		})
	}
}

func TestReceiver_UnknownTypeAcknowledged(t *testing.T) {
	f := mustReceiver(t)
	body := `{"type":"invoice.exploded","timestamp":"2026-12-01T09:00:00Z","data":{}}`
	if code := f.serve(f.signed(t, "msg_u", time.Now(), body)); code != http.StatusNoContent {
		t.Fatalf("status = %d, want 204: unknown types are acknowledged", code)
	}
	if f.logged("unknown type invoice.exploded") != 1 {
		t.Fatalf("log = %q, want the unknown type logged", f.out)
	}
}

func TestReceiver_Rejects(t *testing.T) {
	body := entitlementChanged("org_1", "pro", "active", 3)

	t.Run("ErrBadSignature", func(t *testing.T) {
		f := mustReceiver(t)
		req := f.signed(t, "msg_1", time.Now(), body)
		req.Header.Set(standardwebhooks.HeaderWebhookSignature, "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
		if code := f.serve(req); code != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400", code)
		}
		if f.logged("is on plan") != 0 || len(f.rcv.versions) != 0 || len(f.rcv.seen) != 0 {
			t.Fatalf("log = %q, want no effect", f.out)
		}
	})

	t.Run("ErrOtherSecret", func(t *testing.T) {
		f, billingd := mustReceiver(t), mustReceiver(t)
		if code := f.serve(billingd.signed(t, "msg_1", time.Now(), body)); code != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400", code)
		}
	})

	t.Run("ErrBodyTampered", func(t *testing.T) {
		f := mustReceiver(t)
		req := f.signed(t, "msg_1", time.Now(), body)
		tampered := strings.Replace(body, `"plan":"pro"`, `"plan":"max"`, 1)
		req.Body, req.ContentLength = httptest.NewRequest(http.MethodPost, path, strings.NewReader(tampered)).Body, int64(len(tampered))
		if code := f.serve(req); code != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400", code)
		}
	})

	t.Run("ErrMissingHeaders", func(t *testing.T) {
		f := mustReceiver(t)
		if code := f.serve(httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))); code != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400", code)
		}
	})

	t.Run("ErrStaleTimestamp", func(t *testing.T) {
		f := mustReceiver(t)
		if code := f.serve(f.signed(t, "msg_1", time.Now().Add(-10*time.Minute), body)); code != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400 for a delivery signed 10 minutes ago", code)
		}
		if f.logged("is on plan") != 0 {
			t.Fatalf("log = %q, want no effect", f.out)
		}
	})

	t.Run("ErrMethodNotAllowed", func(t *testing.T) {
		f := mustReceiver(t)
		rec := httptest.NewRecorder()
		f.rcv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
			t.Fatalf("status = %d, Allow = %q, want 405 and Allow: POST", rec.Code, rec.Header().Get("Allow"))
		}
	})

	t.Run("ErrBodyTooLarge", func(t *testing.T) {
		f := mustReceiver(t)
		huge := `{"type":"entitlement.changed","data":{},"pad":"` + strings.Repeat("x", maxBodyBytes) + `"}`
		if code := f.serve(f.signed(t, "msg_1", time.Now(), huge)); code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status = %d, want 413", code)
		}
	})

	t.Run("ErrNotJSON", func(t *testing.T) {
		f := mustReceiver(t)
		if code := f.serve(f.signed(t, "msg_1", time.Now(), "not json")); code != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400", code)
		}
		if len(f.rcv.seen) != 0 {
			t.Fatal("a rejected message is marked seen")
		}
	})
}

// TestReceiver_BillingdPayloads posts bodies rendered and signed by
// billingd's own code, so this example stays in step with what billingd
// really sends, and billingd's signer with the official verifier.
func TestReceiver_BillingdPayloads(t *testing.T) {
	now := time.Now()
	end := now.Add(30 * 24 * time.Hour)
	tests := []struct {
		msg  billing.Message
		want string
	}{
		{
			msg: billing.Message{
				ID: "msg_ent", Type: billing.MessageEntitlementChanged, OrgID: "org_1", At: now,
				Entitlement: &billing.EntitlementView{
					OrgID: "org_1", Plan: "pro", Status: billing.StatusActive, Active: true, Seats: 3,
					Features: []string{"exports"}, CurrentPeriodEnd: &end, UpdatedAt: &now, Version: 7,
				},
			},
			want: `msg="org_1 is on plan pro (active, version 7)" webhook_id=msg_ent`,
		},
		{
			msg: billing.Message{
				ID: "msg_paid", Type: billing.MessagePaymentSucceeded, OrgID: "org_1", At: now,
				Payment: &billing.PaymentView{
					InvoiceID: "in_1A2b3C", Amount: 1900, Currency: "usd", Status: billing.PaymentPaid,
					HostedInvoiceURL: "https://invoice.stripe.com/i/1", CreatedAt: now,
				},
			},
			want: `msg="org_1: payment.succeeded, invoice in_1A2b3C, 1900 usd (minor units)" webhook_id=msg_paid`,
		},
		{
			msg: billing.Message{
				ID: "msg_failed", Type: billing.MessagePaymentFailed, OrgID: "org_2", At: now,
				Payment: &billing.PaymentView{
					InvoiceID: "in_9Z", Amount: 4900, Currency: "eur", Status: billing.PaymentFailed, CreatedAt: now,
				},
			},
			want: `msg="org_2: payment.failed, invoice in_9Z, 4900 eur (minor units)" webhook_id=msg_failed`,
		},
	}
	for _, tt := range tests {
		t.Run(string(tt.msg.Type), func(t *testing.T) {
			f := mustReceiver(t)
			body, err := outbound.Render(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			signer, err := outbound.NewSigner(f.secret)
			if err != nil {
				t.Fatal(err)
			}
			headers, err := signer.Headers(tt.msg.ID, now, body)
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			for k, v := range headers {
				req.Header[k] = v
			}
			if code := f.serve(req); code != http.StatusNoContent {
				t.Fatalf("status = %d, want 204; log = %q", code, f.out)
			}
			if f.logged(tt.want) != 1 {
				t.Fatalf("log = %q, want a line containing %q", f.out, tt.want)
			}
		})
	}
}

func TestNewReceiver(t *testing.T) {
	for name, secret := range map[string]string{
		"ErrNoPrefix":  base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"ErrNoKey":     "whsec_",
		"ErrNotBase64": "whsec_not base64!",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newReceiver(secret, &bytes.Buffer{})
			if err == nil {
				t.Fatal("err = nil, want the secret refused")
			}
			if key := strings.TrimPrefix(secret, "whsec_"); key != "" && strings.Contains(err.Error(), key) {
				t.Fatalf("err = %v quotes the secret", err)
			}
		})
	}
}
