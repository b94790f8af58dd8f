package outbound_test

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/billingd/billingd/internal/outbound"
)

// secret is a Standard Webhooks secret: whsec_ and a 24-byte key in base64.
var secret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdefghijklmn"))

func TestSigner_VerifiedByTheOfficialLibrary(t *testing.T) {
	s, err := outbound.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"entitlement.changed","timestamp":"2026-12-01T12:00:00Z","data":{"organizationId":"org_a","version":3}}`)
	h, err := s.Headers("msg_1", time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(body, h); err != nil {
		t.Fatalf("official library refuses the message: %v (headers %v)", err, h)
	}
	tampered := append([]byte(nil), body...)
	tampered[len(tampered)-2] = '4'
	if err := wh.Verify(tampered, h); err == nil {
		t.Fatal("official library accepts a tampered body")
	}
	other, _ := standardwebhooks.NewWebhook("whsec_" + base64.StdEncoding.EncodeToString([]byte("another-key-of-24-bytes!")))
	if err := other.Verify(body, h); err == nil {
		t.Fatal("a message verifies under another secret")
	}
}

// TestSigner_AsTheSpecSays checks the headers against the Standard Webhooks
// spec text, computed here: webhook-signature is "v1," + base64 of
// HMAC-SHA256, keyed with the base64-decoded secret after "whsec_", over
// "{webhook-id}.{webhook-timestamp}.{body}".
func TestSigner_AsTheSpecSays(t *testing.T) {
	s, err := outbound.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1796130000, 0)
	body := []byte(`{"type":"payment.succeeded"}`)
	h, err := s.Headers("msg_2", at, body)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Get("webhook-id"); got != "msg_2" {
		t.Errorf("webhook-id = %q", got)
	}
	if got := h.Get("webhook-timestamp"); got != strconv.FormatInt(at.Unix(), 10) {
		t.Errorf("webhook-timestamp = %q, want unix seconds %d", got, at.Unix())
	}
	want := specSignature(t, "msg_2", strconv.FormatInt(at.Unix(), 10), body)
	if got := h.Get("webhook-signature"); got != want {
		t.Errorf("webhook-signature = %q, want %q", got, want)
	}
}

func TestNewSigner_ErrMalformedSecret(t *testing.T) {
	for name, tc := range map[string]struct{ secret, want string }{
		"NoPrefix":  {"c2VjcmV0", "must start with whsec_"},
		"NotBase64": {"whsec_not base64!", "followed by standard base64"},
		"TooShort":  {"whsec_" + base64.StdEncoding.EncodeToString([]byte("short")), "key must be 24 to 64 bytes, got 5"},
		"TooLong":   {"whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)), "key must be 24 to 64 bytes, got 65"},
		"Empty":     {"whsec_", "key must be 24 to 64 bytes, got 0"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := outbound.NewSigner(tc.secret)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), strings.TrimPrefix(tc.secret, "whsec_")) && len(tc.secret) > len("whsec_") {
				t.Fatalf("error quotes the secret: %v", err)
			}
		})
	}
}
