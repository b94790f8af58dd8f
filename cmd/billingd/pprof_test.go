package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// profilingPaths are the pprof pages the tests ask for.
var profilingPaths = []string{"/debug/pprof/", "/debug/pprof/cmdline"}

// With PPROF_ADDR, net/http/pprof answers on the address billingd logs, not
// on the API's port, until the server stops.
func TestProfiling_OnItsOwnAddress(t *testing.T) {
	// LOG_LEVEL=warn: the address must show even then.
	b := launch(t, map[string]string{"PPROF_ADDR": "127.0.0.1:0", "LOG_LEVEL": "warn"})
	addr := loggedAddr(t, b.logs.String(), "profiling listening")
	if addr == strings.TrimPrefix(b.base, "http://") {
		t.Fatalf("profiling listens on the API's address %s", addr)
	}
	plain := &http.Client{Timeout: 10 * time.Second} // pprof pages are not the API's JSON
	profiling := "http://" + addr

	t.Run("Index", func(t *testing.T) {
		resp := mustSend(t, plain, profiling, request{method: http.MethodGet, path: "/debug/pprof/"})
		if resp.status != http.StatusOK || !strings.Contains(string(resp.body), "goroutine") {
			t.Fatalf("GET /debug/pprof/ = %d, want 200 listing the profiles; body: %.500s", resp.status, resp.body)
		}
	})
	t.Run("Cmdline", func(t *testing.T) {
		resp := mustSend(t, plain, profiling, request{method: http.MethodGet, path: "/debug/pprof/cmdline"})
		if want := strings.Join(os.Args, "\x00"); resp.status != http.StatusOK || string(resp.body) != want {
			t.Fatalf("GET /debug/pprof/cmdline = %d %q, want 200 %q", resp.status, resp.body, want)
		}
	})
	t.Run("NotOnTheAPIPort", func(t *testing.T) {
		expectNoProfiling(t, plain, b.base)
	})
	t.Run("StopsWithTheServer", func(t *testing.T) {
		b.stop(t)
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			t.Fatalf("profiling still accepts on %s after billingd stopped", addr)
		}
	})
}

// Without PPROF_ADDR nothing serves pprof: no second listener is logged, and
// the API's port answers its not-found envelope.
func TestProfiling_OffByDefault(t *testing.T) {
	b := launch(t, map[string]string{"LOG_LEVEL": "info"})
	if logs := b.logs.String(); strings.Contains(logs, "profiling") {
		t.Errorf("billingd logged a profiling listener without PPROF_ADDR; logs:\n%s", logs)
	}
	expectNoProfiling(t, &http.Client{Timeout: 10 * time.Second}, b.base)
}

// A PPROF_ADDR billingd cannot listen on stops it before it serves anything.
func TestProfiling_UnusableAddressFailsStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for name, tt := range map[string]struct{ addr, want string }{
		"Malformed": {"localhost", "config: PPROF_ADDR "},
		"InUse":     {taken.Addr().String(), "PPROF_ADDR: listen on " + taken.Addr().String()},
	} {
		t.Run(name, func(t *testing.T) {
			env := baseEnv(t, freePort(t))
			env["PPROF_ADDR"] = tt.addr
			// Bounded, so that a billingd that starts anyway fails the test
			// (run returns nil) instead of serving until the test times out.
			ctx, cancel := context.WithTimeout(t.Context(), readyTimeout)
			defer cancel()
			err := run(ctx, []string{"billingd"}, getenvFrom(env), &syncBuffer{}, &syncBuffer{})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("run = %v, want an error starting %q", err, tt.want)
			}
		})
	}
}

// expectNoProfiling checks that the API at base answers 404 NOT_FOUND for
// the pprof pages.
func expectNoProfiling(t *testing.T, client *http.Client, base string) {
	t.Helper()
	for _, path := range profilingPaths {
		expectError(t, mustSend(t, client, base, request{method: http.MethodGet, path: path}), http.StatusNotFound, "NOT_FOUND")
	}
}

// loggedAddr returns the addr of the warning msg in the JSON logs.
func loggedAddr(t *testing.T, logs, msg string) string {
	t.Helper()
	lines := bufio.NewScanner(strings.NewReader(logs))
	for lines.Scan() {
		var record struct{ Level, Msg, Addr string }
		if json.Unmarshal(lines.Bytes(), &record) == nil && record.Msg == msg {
			if record.Level != "WARN" || record.Addr == "" {
				t.Fatalf("record %s, want a warning with addr", lines.Text())
			}
			return record.Addr
		}
	}
	t.Fatalf("no %q record in the logs:\n%s", msg, logs)
	return ""
}
