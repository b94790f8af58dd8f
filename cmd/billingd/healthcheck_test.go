package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/billingd/billingd/internal/config"
)

func TestHealthcheck(t *testing.T) {
	// server answers status on every path and records the paths it was asked.
	server := func(t *testing.T, status int) (*httptest.Server, *[]string) {
		t.Helper()
		var paths []string
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			paths = append(paths, r.URL.Path)
			w.WriteHeader(status)
		}))
		t.Cleanup(s.Close)
		return s, &paths
	}
	portOf := func(t *testing.T, s *httptest.Server) string {
		t.Helper()
		u, err := url.Parse(s.URL)
		if err != nil {
			t.Fatal(err)
		}
		return u.Port()
	}
	check := func(args []string, env map[string]string) error {
		getenv := func(k string) string { return env[k] }
		return run(context.Background(), append([]string{"billingd", "healthcheck"}, args...), getenv, io.Discard, io.Discard)
	}

	t.Run("OK", func(t *testing.T) {
		s, paths := server(t, http.StatusOK)
		if err := check(nil, map[string]string{"PORT": portOf(t, s)}); err != nil {
			t.Fatalf("healthcheck = %v, want nil", err)
		}
		if got := strings.Join(*paths, ","); got != "/healthz" {
			t.Errorf("probed %q, want /healthz", got)
		}
	})

	t.Run("OKPath", func(t *testing.T) {
		s, paths := server(t, http.StatusOK)
		if err := check([]string{"-path", "/readyz"}, map[string]string{"PORT": " " + portOf(t, s) + "\n"}); err != nil {
			t.Fatalf("healthcheck = %v, want nil", err)
		}
		if got := strings.Join(*paths, ","); got != "/readyz" {
			t.Errorf("probed %q, want /readyz", got)
		}
	})

	t.Run("OKURL", func(t *testing.T) {
		s, _ := server(t, http.StatusOK)
		if err := check([]string{"-url", s.URL + "/healthz"}, nil); err != nil {
			t.Fatalf("healthcheck = %v, want nil", err)
		}
	})

	// Without PORT it probes the port billingd listens on without PORT.
	t.Run("DefaultPort", func(t *testing.T) {
		minimal := map[string]string{
			"STRIPE_SECRET_KEY": "sk_test_123", "STRIPE_WEBHOOK_SECRET": "whsec_test", "AUTH_JWT_SECRET": strings.Repeat("s", 32),
		}
		cfg, err := config.Load(func(k string) string { return minimal[k] })
		if err != nil {
			t.Fatal(err)
		}
		if strconv.Itoa(cfg.Port) != healthcheckDefaultPort {
			t.Errorf("healthcheck's default port is %s, billingd's is %d", healthcheckDefaultPort, cfg.Port)
		}
	})

	t.Run("ErrUnavailable", func(t *testing.T) {
		s, _ := server(t, http.StatusServiceUnavailable)
		err := check([]string{"-path", "/readyz"}, map[string]string{"PORT": portOf(t, s)})
		if err == nil || !strings.Contains(err.Error(), "503") {
			t.Fatalf("healthcheck = %v, want an error naming 503", err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error %q is not one line", err)
		}
	})

	t.Run("ErrConnectionRefused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		ln.Close() // nothing listens there any more
		err = check(nil, map[string]string{"PORT": port})
		if err == nil {
			t.Fatal("healthcheck = nil, want an error when nothing listens")
		}
	})

	t.Run("ErrTimeout", func(t *testing.T) {
		block := make(chan struct{})
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
		t.Cleanup(s.Close)
		t.Cleanup(func() { close(block) })
		if err := check([]string{"-url", s.URL, "-timeout", "50ms"}, nil); err == nil {
			t.Fatal("healthcheck = nil, want an error when the server does not answer in time")
		}
	})
}
