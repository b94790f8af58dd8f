package devmode_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/billingd/billingd/internal/devmode"
)

// servePages mounts the pages the way billingd does, at /dev/.
func servePages(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/dev/", http.StripPrefix("/dev", devmode.Pages()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp, string(body)
}

func TestPages(t *testing.T) {
	srv := servePages(t)
	tests := []struct {
		path        string
		contentType string
		contains    []string
	}{
		{"/dev/", "text/html; charset=utf-8", []string{`id="plan"`, `id="upgrade"`, "Upgrade to Pro", `id="status"`, `src="dev.js"`}},
		{"/dev/pay.html", "text/html; charset=utf-8", []string{`id="pay"`, `id="status"`, "stands in for Stripe's hosted Checkout page"}},
		{"/dev/success.html", "text/html; charset=utf-8", []string{`id="status"`, "Finalizing…"}},
		{"/dev/dev.js", "text/javascript; charset=utf-8", []string{"Authorization", "sessionStorage", "CORS_ALLOWED_ORIGINS"}},
		{"/dev/dev.css", "text/css; charset=utf-8", nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, srv.URL+tt.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tt.contentType)
			}
			for _, want := range tt.contains {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %q", want)
				}
			}
		})
	}

	t.Run("UnknownFileIs404", func(t *testing.T) {
		if resp, _ := get(t, srv.URL+"/dev/nope.html"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("status %d, want 404", resp.StatusCode)
		}
	})
}

// The machine may be offline and the pages are a reference client: they
// load nothing from anywhere but their own directory.
func TestPages_LoadNoExternalResources(t *testing.T) {
	srv := servePages(t)
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//|@import|\burl\(`)
	for _, page := range []string{"/dev/", "/dev/pay.html", "/dev/success.html", "/dev/dev.css"} {
		if _, body := get(t, srv.URL+page); external.MatchString(body) {
			t.Errorf("%s loads an external resource: %q", page, external.FindString(body))
		}
	}
}
