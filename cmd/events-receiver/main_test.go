package main

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/logtest"
)

func TestRun(t *testing.T) {
	t.Run("ErrSecretMissing", func(t *testing.T) {
		err := run(context.Background(), []string{"events-receiver"}, func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "EVENTS_WEBHOOK_SECRET is not set") {
			t.Fatalf("err = %v, want EVENTS_WEBHOOK_SECRET is not set", err)
		}
	})

	t.Run("ErrSecretMalformed", func(t *testing.T) {
		getenv := func(string) string { return "secret" }
		err := run(context.Background(), []string{"events-receiver"}, getenv, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "EVENTS_WEBHOOK_SECRET: ") {
			t.Fatalf("err = %v, want it to name EVENTS_WEBHOOK_SECRET", err)
		}
	})

	t.Run("ServesUntilCancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		secret := newSecret(t)
		out := &syncBuffer{}
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"events-receiver", "-addr", "127.0.0.1:0"}, func(string) string { return secret }, out, &bytes.Buffer{})
		}()
		url := waitForURL(t, out)
		f := fixture{secret: secret}
		req := f.signed(t, "msg_1", time.Now(), entitlementChanged("org_1", "pro", "active", 3))
		req.RequestURI, req.URL = "", mustParse(t, url)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("status = %d, want 204", resp.StatusCode)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run = %v, want nil after ctx ends", err)
		}
		if !strings.Contains(out.String(), "org_1 is on plan pro (active, version 3)") {
			t.Fatalf("stdout = %q, want the applied entitlement", out.String())
		}
	})
}

// syncBuffer collects what the code under test logs from its goroutines.
type syncBuffer = logtest.Buffer

var listeningURL = regexp.MustCompile(`msg=listening url=(\S+)`)

// waitForURL returns the URL run logs once it accepts connections.
func waitForURL(tb testing.TB, out *syncBuffer) string {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningURL.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Fatalf("run never logged that it listens; stdout = %q", out.String())
	return ""
}

func mustParse(tb testing.TB, raw string) *url.URL {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}
