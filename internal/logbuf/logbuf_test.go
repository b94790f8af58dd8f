package logbuf_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/logbuf"
)

// writes records every Write it is given, as the pipe would see them.
type writes struct {
	mu    sync.Mutex
	calls [][]byte
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, bytes.Clone(p))
	return len(p), nil
}

func (w *writes) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(bytes.Join(w.calls, nil))
}

func (w *writes) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.calls)
}

// newLogger is how billingd uses a Writer: JSON, flushed at warn.
func newLogger(out *logbuf.Writer) *slog.Logger {
	return slog.New(out.Handler(slog.NewJSONHandler(out, nil), slog.LevelWarn))
}

const never = time.Hour // an interval no test waits for

// Many goroutines logging at once: every line arrives whole, each write to
// out ends at a line's end, and all are there after Close.
func TestWriter_LinesWholeUnderConcurrency(t *testing.T) {
	var out writes
	w := logbuf.New(&out, time.Millisecond)
	logger := newLogger(w)
	const goroutines, each = 8, 2000
	pad := strings.Repeat("x", 300) // lines that do not divide Size
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				logger.Info("request", "g", g, "i", i, "pad", pad)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, call := range out.calls {
		if !bytes.HasSuffix(call, []byte("\n")) {
			t.Fatalf("a write ends mid-line: ...%q", call[max(0, len(call)-80):])
		}
		for line := range bytes.Lines(call) {
			var rec struct{ G, I int }
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatalf("line is not whole JSON (%v): %q", err, line)
			}
			seen[fmt.Sprint(rec.G, rec.I)] = true
		}
	}
	if len(seen) != goroutines*each {
		t.Errorf("got %d distinct lines, want %d", len(seen), goroutines*each)
	}
	if len(out.calls) >= goroutines*each/4 { // Size holds about 90 of these lines
		t.Errorf("%d writes for %d lines: not batched", len(out.calls), goroutines*each)
	}
}

func TestWriter_FlushesOnTimer(t *testing.T) {
	var out writes
	interval := 50 * time.Millisecond
	w := logbuf.New(&out, interval)
	defer w.Close()
	logger := newLogger(w)
	start := time.Now()
	logger.Info("one")
	logger.Info("two")
	if out.count() != 0 {
		t.Fatalf("info lines written at once: %q", out.String())
	}
	for out.count() == 0 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("info lines still held after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	if took := time.Since(start); took < interval {
		t.Errorf("flushed after %v, before the interval %v", took, interval)
	}
	if got := out.String(); !strings.Contains(got, `"msg":"one"`) || !strings.Contains(got, `"msg":"two"`) || out.count() != 1 {
		t.Errorf("want both lines in one write, got %d writes: %q", out.count(), got)
	}

	t.Run("AgainAfterAFlush", func(t *testing.T) {
		logger.Info("three")
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(out.String(), `"msg":"three"`) {
			if time.Now().After(deadline) {
				t.Fatal("a line logged after the first flush is still held after 5 s")
			}
			time.Sleep(time.Millisecond)
		}
	})
}

// A warning is out before Warn returns, with the info lines before it.
func TestWriter_FlushesOnWarn(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelWarn, slog.LevelError} {
		t.Run(level.String(), func(t *testing.T) {
			var out writes
			w := logbuf.New(&out, never)
			defer w.Close()
			logger := newLogger(w).With("component", "test") // WithAttrs keeps the rule
			logger.Info("before")
			if out.count() != 0 {
				t.Fatalf("info line written at once: %q", out.String())
			}
			logger.Log(t.Context(), level, "alarm")
			got := out.String()
			if i, j := strings.Index(got, `"msg":"before"`), strings.Index(got, `"msg":"alarm"`); i < 0 || j < i {
				t.Errorf("want the info line then the %v, got %q", level, got)
			}
		})
	}
}

func TestWriter_Close(t *testing.T) {
	var out writes
	w := logbuf.New(&out, never)
	logger := newLogger(w)
	logger.Info("held")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"msg":"held"`) {
		t.Fatalf("Close did not write the held line: %q", out.String())
	}
	t.Run("LaterWritesGoThrough", func(t *testing.T) {
		logger.Info("late")
		if !strings.Contains(out.String(), `"msg":"late"`) {
			t.Errorf("a line logged after Close is held: %q", out.String())
		}
	})
}

// A full buffer is written at once, in order with what follows, and a line
// longer than the buffer goes out whole.
func TestWriter_Full(t *testing.T) {
	var out writes
	w := logbuf.New(&out, never)
	defer w.Close()
	line := []byte(strings.Repeat("a", 1000) + "\n")
	for range logbuf.Size/len(line) + 1 {
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if out.count() != 1 || len(out.calls[0]) != logbuf.Size/len(line)*len(line) {
		t.Fatalf("want one write of the lines that fit, got %d writes", out.count())
	}
	huge := []byte(strings.Repeat("b", 2*logbuf.Size) + "\n")
	if _, err := w.Write(huge); err != nil {
		t.Fatal(err)
	}
	if out.count() != 3 || !bytes.Equal(out.calls[1], line) || !bytes.Equal(out.calls[2], huge) {
		t.Errorf("want the held line, then the huge one whole; got %d writes", out.count())
	}
}

// BenchmarkRequestLine is one request's log line into a pipe, as billingd
// writes it at LOG_LEVEL=info under a container runtime: straight through
// (a write(2) per line) and through a Writer.
//
//	go test -run '^$' -bench RequestLine ./internal/logbuf/
func BenchmarkRequestLine(b *testing.B) {
	for name, buffered := range map[string]bool{"Direct": false, "Buffered": true} {
		b.Run(name, func(b *testing.B) {
			r, w, err := os.Pipe()
			if err != nil {
				b.Fatal(err)
			}
			drained := make(chan struct{})
			go func() { _, _ = io.Copy(io.Discard, r); close(drained) }()
			var out io.Writer = w
			var buf *logbuf.Writer
			if buffered {
				buf = logbuf.New(w, 100*time.Millisecond)
				out = buf
			}
			logger := slog.New(slog.NewJSONHandler(out, nil))
			for b.Loop() {
				logger.LogAttrs(b.Context(), slog.LevelInfo, "request",
					slog.String("method", "GET"), slog.String("route", "/api/billing/entitlement"),
					slog.Int("status", 200), slog.Int64("duration_ms", 0),
					slog.String("request_id", "req_0123456789abcdef01234567"), slog.String("org_id", "org_bench"))
			}
			if buf != nil {
				_ = buf.Close()
			}
			_ = w.Close()
			<-drained
			_ = r.Close()
		})
	}
}
