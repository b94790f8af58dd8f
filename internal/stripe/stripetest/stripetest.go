// Package stripetest gives tests a running stripe-mock to point the Stripe
// client at. A package whose tests call StartMock runs them through Main:
//
//	func TestMain(m *testing.M) { stripetest.Main(m) }
//
// Signed webhook payloads for those tests are built by internal/stripe/stripeevent.
package stripetest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/stripe/stripemock"
)

// TestKey is a secret key stripe-mock accepts. It is not a real key.
const TestKey = "sk_test_billingd"

// startTimeout bounds building stripe-mock on a fresh machine plus its start.
const startTimeout = 3 * time.Minute

var (
	mu       sync.Mutex
	server   *stripemock.Server
	startErr error
	started  bool
)

// StartMock returns the base URL of a running stripe-mock. With STRIPE_MOCK_URL
// set it returns that; otherwise the first call starts one process that the
// whole test binary shares, and Main stops it after the tests.
func StartMock(tb testing.TB) string {
	tb.Helper()
	if url := os.Getenv("STRIPE_MOCK_URL"); url != "" {
		return url
	}
	mu.Lock()
	defer mu.Unlock()
	if !started {
		started = true
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		server, startErr = stripemock.Start(ctx)
		cancel()
	}
	if startErr != nil {
		tb.Fatalf("stripetest: %v", startErr)
	}
	return server.URL
}

// Main runs the package's tests, stops the shared stripe-mock, and exits with
// the tests' status. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	StopMock()
	os.Exit(code)
}

// StopMock stops the shared stripe-mock if StartMock started one. Main calls it;
// call it directly only from a TestMain that cannot use Main.
func StopMock() {
	mu.Lock()
	defer mu.Unlock()
	if server != nil {
		_ = server.Close()
	}
	server, startErr, started = nil, nil, false
}
