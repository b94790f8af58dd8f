package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/store/storetest"
	"github.com/billingd/billingd/internal/stripe/stripetest"
)

// Limits before work (SPEC §3, §4): what billingd refuses before a handler or
// the database sees it.

// headerLimit is SPEC §4's "request headers over 32 KiB in all", counted as
// the whole request head: request line, header lines and the blank line.
const headerLimit = 32 << 10

// Bounds of the header flood.
const (
	floodConns       = 300
	floodHeaderBytes = 1_000_000 // under net/http's default 1 MiB, so only our limit refuses it
	floodTimeout     = 30 * time.Second
	floodMaxGrowth   = 64 << 20 // bytes of RSS
	// The race detector keeps a few hundred KiB of its own per goroutine, so
	// 300 connections cost it ~100-200 MiB whatever they send. Without the
	// limit, buffering whole headers took a race build from 94 to 1242 MiB.
	floodMaxGrowthRace = 4 * floodMaxGrowth
)

// requestHead is a GET of path whose head is exactly size bytes long, padded
// with one X-Pad header.
func requestHead(t *testing.T, path string, size int) []byte {
	t.Helper()
	const prefix, padName, end = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", "X-Pad: ", "\r\n\r\n"
	head := fmt.Sprintf(prefix, path) + padName
	pad := size - len(head) - len(end)
	if pad < 1 {
		t.Fatalf("a head of %d bytes is too short to pad", size)
	}
	return []byte(head + strings.Repeat("a", pad) + end)
}

// statusOf sends raw on a fresh connection to addr and returns the status
// code of the answer, or 0 when the connection ended without one.
func statusOf(t *testing.T, addr string, raw []byte) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, refuseTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(refuseTimeout))
	// Write while reading: the server may answer and hang up before it has
	// read everything.
	go func() { _, _ = conn.Write(raw) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRequestHeaderLimit(t *testing.T) {
	base, _ := startBillingd(t, nil)
	addr := strings.TrimPrefix(base, "http://")
	t.Run("ExactlyTheLimitIsServed", func(t *testing.T) {
		if got := statusOf(t, addr, requestHead(t, "/healthz", headerLimit)); got != http.StatusOK {
			t.Fatalf("a %d-byte request head got %d, want 200", headerLimit, got)
		}
	})
	t.Run("OneByteOverIs431", func(t *testing.T) {
		if got := statusOf(t, addr, requestHead(t, "/healthz", headerLimit+1)); got != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("a %d-byte request head got %d, want 431", headerLimit+1, got)
		}
	})
}

// TestHeaderFloodKeepsMemoryBounded opens many connections at once, each
// sending a 1 MB header block, against billingd as its own process, and
// checks that its resident memory barely moves: every connection is refused
// after the first 32 KiB instead of being buffered whole.
func TestHeaderFloodKeepsMemoryBounded(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads resident memory from /proc")
	}
	env := baseEnv(t, freePort(t))
	env["STRIPE_API_BASE"] = stripetest.StartMock(t)
	p := startProcess(t, env)
	p.waitReady(t)
	defer p.stop(t)
	pid := p.cmd.Process.Pid
	before := procStatusBytes(t, pid, "VmRSS")

	payload := requestHead(t, "/healthz", floodHeaderBytes)
	addr := strings.TrimPrefix(p.base, "http://")
	conns := make([]net.Conn, floodConns)
	for i := range conns {
		c, err := net.DialTimeout("tcp", addr, refuseTimeout)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(floodTimeout))
		conns[i] = c
	}
	statuses := make([]int, floodConns)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			go func() { _, _ = c.Write(payload) }()
			statuses[i] = readStatus(c)
		})
	}
	wg.Wait()
	peak := procStatusBytes(t, pid, "VmHWM")
	after := procStatusBytes(t, pid, "VmRSS")
	t.Logf("billingd RSS: %d MiB before, %d MiB peak, %d MiB after %d connections × %d-byte headers",
		before>>20, peak>>20, after>>20, floodConns, floodHeaderBytes)

	for i, s := range statuses {
		if s != 0 && s != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("connection %d got %d, want 431 or a closed connection", i, s)
		}
	}
	bound := int64(floodMaxGrowth)
	if raceEnabled() {
		bound = floodMaxGrowthRace
	}
	if growth := peak - before; growth > bound {
		t.Fatalf("resident memory peaked %d MiB above the %d MiB before the flood, want < %d MiB",
			growth>>20, before>>20, bound>>20)
	}
	// It still serves once the flood has passed.
	if got := statusOf(t, addr, requestHead(t, "/healthz", 1024)); got != http.StatusOK {
		t.Fatalf("after the flood /healthz got %d, want 200", got)
	}
}

// readStatus is the status code of the answer on c, or 0 when c ends first.
func readStatus(c net.Conn) int {
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// raceEnabled reports whether this binary, and so billingd started from it,
// was built with -race.
func raceEnabled() bool {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range info.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// procStatusBytes reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status.
func procStatusBytes(t *testing.T, pid int, field string) int64 {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read /proc status: %v", err)
	}
	for line := range bytes.Lines(status) {
		name, value, ok := strings.Cut(string(line), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			t.Fatalf("%s in /proc status: %q", field, value)
		}
		return kb << 10
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestUnstorableInputOnPostgreSQL is the bug this limit came from: a NUL in a
// path segment reached PostgreSQL, which cannot store it, and the answer was 500.
func TestUnstorableInputOnPostgreSQL(t *testing.T) {
	base, sec := startBillingd(t, map[string]string{"DATABASE_URL": storetest.PostgresURL(t)})
	client := newClient(t)
	token := userToken(t, sec, newOrgID(t))
	for name, path := range map[string]string{
		"PathNUL":           "/api/billing/checkout/%00",
		"PathNotUTF8":       "/api/billing/checkout/cs_%FF",
		"QueryNUL":          "/api/billing/entitlement?session_id=cs_%00",
		"PaymentsCursorNUL": "/api/billing/payments?starting_after=in_%00",
	} {
		t.Run(name, func(t *testing.T) {
			resp := mustSend(t, client, base, request{method: http.MethodGet, path: path, token: token})
			expectError(t, resp, http.StatusBadRequest, "BAD_REQUEST")
		})
	}
	t.Run("IdempotencyKey", func(t *testing.T) {
		resp := mustSend(t, client, base, request{
			method: http.MethodPost, path: "/api/billing/checkout", token: token, body: []byte(`{"plan":"pro"}`),
			header: map[string]string{"Idempotency-Key": "key-\xff"},
		})
		expectError(t, resp, http.StatusBadRequest, "BAD_REQUEST")
	})
	t.Run("JSONField", func(t *testing.T) {
		resp := mustSend(t, client, base, request{
			method: http.MethodPost, path: "/api/billing/checkout", token: token,
			body: []byte(`{"plan":"pro","metadata":{"k":"v\u0000"}}`),
		})
		expectError(t, resp, http.StatusBadRequest, "BAD_REQUEST")
	})
}
