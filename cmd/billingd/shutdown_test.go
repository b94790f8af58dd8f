package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/httpapi"
	"github.com/billingd/billingd/internal/stripe/stripetest"
)

// TestProcess_GracefulShutdown sends SIGTERM to a real billingd process, as
// Kubernetes does, and checks the order SPEC and issue 3 ask for.
func TestProcess_GracefulShutdown(t *testing.T) {
	const delay = time.Second
	t.Run("ReadinessFailsFirstThenRequestsFinishAndPollsAnswer", func(t *testing.T) {
		env := baseEnv(t, freePort(t))
		env["STRIPE_API_BASE"] = stripetest.StartMock(t)
		env["SHUTDOWN_DELAY"] = delay.String()
		env["SHUTDOWN_TIMEOUT"] = "10s"
		p := startProcess(t, env)
		p.waitReady(t)
		client := newClient(t)
		sec := secrets{WebhookSecret: env["STRIPE_WEBHOOK_SECRET"], JWTSecret: env["AUTH_JWT_SECRET"]}
		token := userToken(t, sec, newOrgID(t))

		polls := startPolls(t, client, []*process{p}, token, "")
		slow := startSlowCheckout(t, p, token)

		terminated := time.Now()
		p.terminate(t)
		time.Sleep(100 * time.Millisecond)
		expectError(t, mustSend(t, client, p.base, request{method: http.MethodGet, path: "/readyz"}), http.StatusServiceUnavailable, "UNAVAILABLE")
		if resp := mustSend(t, client, p.base, request{method: http.MethodGet, path: "/healthz"}); resp.status != http.StatusOK {
			t.Fatalf("/healthz during the shutdown delay = %d, want 200: the process still serves", resp.status)
		}

		// The long-poll is held through the delay, then answers with the current state.
		got := polls.wait(t)[0]
		if after := got.at.Sub(terminated); after < delay || after > delay+time.Second {
			t.Errorf("long-poll answered %v after SIGTERM, want just after the %v delay", after, delay)
		}
		if ent := expect[entitlement](t, got.resp, http.StatusOK).Data; ent.Plan != "free" {
			t.Errorf("long-poll on shutdown = %+v, want the current (free) state", ent)
		}

		// The request in flight since before SIGTERM still gets its answer.
		time.Sleep(200 * time.Millisecond)
		if status := slow.finish(t); status != http.StatusOK {
			t.Fatalf("in-flight checkout answered %d during shutdown, want 200", status)
		}
		if code := p.waitExit(t, 5*time.Second); code != 0 {
			t.Fatalf("exit code %d, want 0; logs:\n%s", code, p.logs)
		}
		t.Logf("exited %v after SIGTERM (delay %v)", time.Since(terminated), delay)
	})

	t.Run("GracePeriodCutsOffRequestsThatDoNotFinish", func(t *testing.T) {
		const grace = 2 * time.Second
		env := baseEnv(t, freePort(t))
		env["STRIPE_API_BASE"] = stripetest.StartMock(t)
		env["SHUTDOWN_DELAY"] = "0s"
		env["SHUTDOWN_TIMEOUT"] = grace.String()
		p := startProcess(t, env)
		p.waitReady(t)
		sec := secrets{WebhookSecret: env["STRIPE_WEBHOOK_SECRET"], JWTSecret: env["AUTH_JWT_SECRET"]}
		startSlowCheckout(t, p, userToken(t, sec, newOrgID(t))) // never finished

		terminated := time.Now()
		p.terminate(t)
		code := p.waitExit(t, grace+3*time.Second)
		if took := time.Since(terminated); took < grace {
			t.Errorf("exited %v after SIGTERM, before the %v grace period ended, with a request in flight", took, grace)
		}
		if code == 0 || !strings.Contains(p.logs.String(), "grace period") {
			t.Fatalf("exit code %d, want non-zero with the cut-off named in the output; logs:\n%s", code, p.logs)
		}
	})
}

// slowRequest is a checkout whose body is only half sent, so it stays in
// flight until finish sends the rest.
type slowRequest struct {
	conn net.Conn
	rest string
}

func startSlowCheckout(t *testing.T, p *process, token string) *slowRequest {
	t.Helper()
	body := `{"plan":"pro"}`
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := fmt.Sprintf("POST /api/billing/checkout HTTP/1.1\r\nHost: billingd\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", token, len(body), body[:5])
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the server read the headers: the request is now in flight
	return &slowRequest{conn: conn, rest: body[5:]}
}

// finish sends the rest of the body and returns the response's status.
func (r *slowRequest) finish(t *testing.T) int {
	t.Helper()
	if _, err := r.conn.Write([]byte(r.rest)); err != nil {
		t.Fatalf("send the rest of the body: %v", err)
	}
	_ = r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(r.conn), nil)
	if err != nil {
		t.Fatalf("read the response: %v", err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}

// TestServerTimeouts: a write timeout shorter than the longest long-poll would
// cut every such poll off before it answers.
func TestServerTimeouts(t *testing.T) {
	if writeTimeout < httpapi.MaxWait+readTimeout {
		t.Errorf("write timeout %v does not outlast a %v long-poll plus a %v request read", writeTimeout, httpapi.MaxWait, readTimeout)
	}
	for name, d := range map[string]time.Duration{"read header": readHeaderTimeout, "read": readTimeout, "idle": idleTimeout} {
		if d <= 0 {
			t.Errorf("%s timeout is not set", name)
		}
	}
}
