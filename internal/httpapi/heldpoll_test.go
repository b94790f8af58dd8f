package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/httpapi"
	"github.com/billingd/billingd/internal/logtest"
	"github.com/billingd/billingd/internal/metrics"
	"github.com/billingd/billingd/internal/metrics/metricstest"
	"github.com/billingd/billingd/internal/stripe/stripeevent"
)

// A long-poll that waits is answered on a connection net/http no longer
// serves (heldpoll.go). These tests hold polls on a real listener, as clients
// do, and check that the answer is what net/http would have sent.

// rawPoll sends GET path on a connection of its own and returns it, with the
// answer to come on it.
func rawPoll(t *testing.T, ts *testServer, path, bearer string, header map[string]string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(ts.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: billingd\r\nAuthorization: Bearer %s\r\n", path, bearer)
	for k, v := range header {
		fmt.Fprintf(&req, "%s: %s\r\n", k, v)
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatal(err)
	}
	return conn
}

// answerOf reads the response on conn, within d.
func answerOf(t *testing.T, conn net.Conn, d time.Duration) (*http.Response, []byte) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", d, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// openPolls is billingd_longpolls_open as m reports it.
func openPolls(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	v, _ := scrapeOf(t, m).Value("billingd_longpolls_open")
	return v
}

func scrapeOf(t *testing.T, m *metrics.Metrics) metricstest.Scrape {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return metricstest.Parse(t, rec.Body)
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHeldPoll_AnsweredAsAGetWouldBe(t *testing.T) {
	const origin = "https://app.example.com"
	m := metrics.New()
	var logs logtest.Buffer
	ts := newTestServer(t, withCORSOrigins(origin), func(d *httpapi.Deps) {
		d.Metrics = m
		d.Logger = slog.New(httpapi.LogHandler(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	})
	if _, err := ts.store.EnsureOrganization(context.Background(), billing.Organization{ID: "org_a"}); err != nil {
		t.Fatal(err)
	}
	tok := token(t, userClaims("org_a"))
	before := ts.do(t, http.MethodGet, "/api/billing/entitlement", tok, nil, nil)

	conn := rawPoll(t, ts, "/api/billing/entitlement?wait=10", tok, map[string]string{
		"If-None-Match": before.header.Get("ETag"), "Origin": origin, "X-Request-Id": "req-held-1",
	})
	waitFor(t, 5*time.Second, "poll held", func() bool { return openPolls(t, m) == 1 })
	ts.postEvent(t, stripeevent.SubscriptionEvent(stripeevent.EventSpec{Type: billing.EventSubscriptionCreated},
		stripeevent.SubscriptionSpec{OrgID: "org_a", LookupKey: "pro_monthly", Status: billing.StatusTrialing}))
	resp, body := answerOf(t, conn, 5*time.Second)

	// What a plain GET answers now, through net/http, with the same headers.
	req, _ := http.NewRequest(http.MethodGet, ts.url+"/api/billing/entitlement", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Origin", origin)
	get, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	getBody, _ := io.ReadAll(get.Body)
	get.Body.Close()

	if resp.StatusCode != http.StatusOK || string(body) != string(getBody) {
		t.Fatalf("held poll = %d %s, want 200 with GET's body %s", resp.StatusCode, body, getBody)
	}
	for _, h := range []string{"Content-Type", "ETag", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Vary"} {
		if resp.Header.Get(h) != get.Header.Get(h) || resp.Header.Get(h) == "" {
			t.Errorf("%s = %q, GET's is %q", h, resp.Header.Get(h), get.Header.Get(h))
		}
	}
	if resp.Header.Get("ETag") == before.header.Get("ETag") {
		t.Errorf("ETag unchanged after the change: %s", resp.Header.Get("ETag"))
	}
	if got := resp.Header.Get("X-Request-Id"); got != "req-held-1" {
		t.Errorf("X-Request-Id = %q, want the request's", got)
	}
	if !resp.Close || resp.Header.Get("Date") == "" || resp.ContentLength != int64(len(body)) {
		t.Errorf("close %v, Date %q, Content-Length %d for %d bytes: want Connection: close, a Date and the length",
			resp.Close, resp.Header.Get("Date"), resp.ContentLength, len(body))
	}
	var envelope map[string]any
	if err := json.Unmarshal(body, &envelope); err != nil || envelope["success"] != true {
		t.Fatalf("body %s: %v", body, err)
	}

	// Logged and measured once, as answered: not when its connection was taken.
	waitFor(t, time.Second, "held poll logged", func() bool { return strings.Contains(logs.String(), `"request_id":"req-held-1"`) })
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "request" && rec["request_id"] == "req-held-1" {
			lines = append(lines, rec)
		}
	}
	if len(lines) != 1 || lines[0]["status"] != float64(200) || lines[0]["route"] != "/api/billing/entitlement" || lines[0]["org_id"] != "org_a" {
		t.Fatalf("request records of the held poll: %v, want one: 200, its route, its org", lines)
	}
	if n := requestsCounted(t, m, "/api/billing/entitlement", "200"); n != 3 { // before, the held poll, the GET
		t.Fatalf("billingd_http_requests_total for the route = %v, want 3", n)
	}
	if n := openPolls(t, m); n != 0 {
		t.Fatalf("long-polls open after the answer: %v", n)
	}
}

// requestsCounted is billingd_http_requests_total{route, status}.
func requestsCounted(t *testing.T, m *metrics.Metrics, route, status string) float64 {
	t.Helper()
	v, _ := scrapeOf(t, m).Value("billingd_http_requests_total", "route", route, "status", status)
	return v
}

func TestHeldPoll_ErrorInTheEnvelope(t *testing.T) {
	ts := newTestServer(t)
	conn := rawPoll(t, ts, "/api/billing/entitlement?wait=5&session_id=cs_not_ours", token(t, userClaims("org_a")),
		map[string]string{"X-Request-Id": "req-held-2"})
	resp, body := answerOf(t, conn, 5*time.Second)
	var envelope struct {
		Success bool
		Error   struct{ Code, Message, RequestID string }
	}
	if err := json.Unmarshal(body, &envelope); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	if resp.StatusCode != http.StatusNotFound || envelope.Success || envelope.Error.Code != "NOT_FOUND" ||
		envelope.Error.RequestID != "req-held-2" || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("held poll for another org's session = %d %s %s, want 404 NOT_FOUND with its request id", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func TestHeldPoll_HangingUpEndsIt(t *testing.T) {
	m := metrics.New()
	life := httpapi.NewLifecycle()
	ts := newTestServer(t, func(d *httpapi.Deps) { d.Metrics, d.Lifecycle = m, life })
	tok := token(t, userClaims("org_a"))
	conns := []net.Conn{
		rawPoll(t, ts, "/api/billing/entitlement?wait=25", tok, nil),
		rawPoll(t, ts, "/api/billing/entitlement?wait=25", tok, nil),
	}
	waitFor(t, 5*time.Second, "two polls held", func() bool { return openPolls(t, m) == 2 })
	conns[0].Close()
	// One look every 2 s (hangUpCheck) finds it; the other stays held.
	waitFor(t, 5*time.Second, "the hung-up poll ended", func() bool { return openPolls(t, m) == 1 })
	time.Sleep(100 * time.Millisecond)
	if n := openPolls(t, m); n != 1 {
		t.Fatalf("open polls = %v, want the one still connected", n)
	}
	conns[1].Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := life.WaitHeld(ctx); err != nil {
		t.Fatalf("WaitHeld after both clients hung up: %v", err)
	}
}

func TestHeldPoll_DrainAnswersAndShutdownWaits(t *testing.T) {
	m := metrics.New()
	life := httpapi.NewLifecycle()
	ts := newTestServer(t, func(d *httpapi.Deps) { d.Metrics, d.Lifecycle = m, life })
	var conns []net.Conn
	for i := range 3 {
		conns = append(conns, rawPoll(t, ts, "/api/billing/entitlement?wait=25", token(t, userClaims(fmt.Sprintf("org_%d", i))), nil))
	}
	waitFor(t, 5*time.Second, "three polls held", func() bool { return openPolls(t, m) == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := life.WaitHeld(ctx); err == nil {
		t.Fatal("WaitHeld returned while three polls were held")
	}
	start := time.Now()
	life.Drain()
	for _, c := range conns {
		if resp, body := answerOf(t, c, 5*time.Second); resp.StatusCode != http.StatusOK {
			t.Fatalf("drained poll = %d %s, want 200 with the current state", resp.StatusCode, body)
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("drained polls answered after %v, want at once", took)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := life.WaitHeld(ctx); err != nil {
		t.Fatalf("WaitHeld after the drain: %v", err)
	}
}
