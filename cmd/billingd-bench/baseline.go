package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
)

// The baseline is what the entitlement read is compared with: a bare Echo
// handler doing the part of the work no billing service can skip — verify the
// same HS256 JWT the same way (algorithm allowlist, exp required, 30 s leeway)
// and answer an entitlement-shaped JSON envelope — without a database,
// middleware, request ids, ETags or logging. It runs as a child process, this
// program started again with baselineRoleEnv set, so that it gets the same
// share of the machine as a billingd replica.

// Environment of the baseline child.
const (
	baselineRoleEnv   = "BILLINGD_BENCH_BASELINE"        // "1": serve the baseline instead
	baselineSecretEnv = "BILLINGD_BENCH_BASELINE_SECRET" // the HS256 secret
)

type baselineEntitlement struct {
	OrganizationID    string    `json:"organizationId"`
	Plan              string    `json:"plan"`
	Status            string    `json:"status"`
	Active            bool      `json:"active"`
	Seats             int       `json:"seats"`
	Features          []string  `json:"features"`
	CurrentPeriodEnd  time.Time `json:"currentPeriodEnd"`
	CancelAtPeriodEnd bool      `json:"cancelAtPeriodEnd"`
	UpdatedAt         time.Time `json:"updatedAt"`
}

type baselineError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// newBaseline returns the bare Echo server verifying tokens signed with secret.
func newBaseline(secret []byte) *echo.Echo {
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(30*time.Second),
	)
	key := func(*jwt.Token) (any, error) { return secret, nil }
	periodEnd := time.Now().AddDate(0, 1, 0).UTC().Truncate(time.Second)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/api/billing/entitlement", func(c echo.Context) error {
		raw, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
		claims := jwt.MapClaims{}
		if _, err := parser.ParseWithClaims(raw, claims, key); !ok || err != nil {
			return c.JSON(http.StatusUnauthorized, map[string]any{
				"success": false, "error": baselineError{Code: "UNAUTHORIZED", Message: "Authentication required"},
			})
		}
		org, _ := claims["org_id"].(string)
		return c.JSON(http.StatusOK, map[string]any{"success": true, "data": baselineEntitlement{
			OrganizationID: org, Plan: "pro", Status: "active", Active: true, Seats: 1, Features: []string{},
			CurrentPeriodEnd: periodEnd, UpdatedAt: periodEnd,
		}})
	})
	return e
}

// serveBaseline is the child's whole life: serve on a loopback port, print
// its base URL as the first line of stdout, stop when ctx ends.
func serveBaseline(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	secret := getenv(baselineSecretEnv)
	if secret == "" {
		return errors.New("baseline: " + baselineSecretEnv + " is not set")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newBaseline([]byte(secret)), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// startBaseline starts the baseline child and returns it once it listens.
func startBaseline(secret []byte) (*replica, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	r := &replica{name: "baseline", out: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	r.cmd = exec.Command(self)
	r.cmd.Env = append(os.Environ(), baselineRoleEnv+"=1", baselineSecretEnv+"="+string(secret))
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	dieWithParent(r.cmd)
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	// The child prints its base URL and nothing else unless it fails.
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		if line, _, ok := strings.Cut(r.out.String(), "\n"); ok && strings.HasPrefix(line, "http://") {
			r.base = line
			return r, nil
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("baseline exited: %v; output:\n%s", r.err, r.out)
		case <-time.After(10 * time.Millisecond):
		}
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	return nil, fmt.Errorf("baseline did not start: %v; output:\n%s", r.err, r.out)
}
