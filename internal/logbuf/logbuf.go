// Package logbuf batches a process's log lines into few writes: at info
// billingd logs a line per request, and a write(2) per line into the pipe a
// container runtime reads costs more than the line.
//
// It guarantees, for a [Writer] fed by one slog handler per record (as
// [slog.JSONHandler] writes): lines are written whole and in order, never
// interleaved; no line waits longer than the flush interval; a record at
// warn or above ([Writer.Handler]) is written before its Handle returns,
// with every line before it; and [Writer.Close] writes everything left, after
// which writes go straight through. A process that dies without Close (a
// kill, a panic off the main goroutine) loses at most the last interval's
// lines below warn.
package logbuf

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Size is how much a Writer holds before it writes: a few hundred request
// lines, and half a default pipe, so that one write never waits for the
// reader to drain more than it already had to.
const Size = 32 << 10

// Writer buffers whole writes to out. It is safe for concurrent use.
type Writer struct {
	out      io.Writer
	interval time.Duration

	mu      sync.Mutex
	buf     []byte
	timer   *time.Timer // writes buf out interval after its first line
	pending bool        // timer is set for what buf holds
	closed  bool
}

// New returns a Writer to out that holds a line at most interval.
func New(out io.Writer, interval time.Duration) *Writer {
	return &Writer{out: out, interval: interval, buf: make([]byte, 0, Size)}
}

// Write takes p whole: it is buffered, or written at once with what is
// buffered before it when it does not fit or the Writer is closed.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || len(w.buf)+len(p) > cap(w.buf) {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
		if w.closed || len(p) > cap(w.buf) {
			return w.out.Write(p)
		}
	}
	w.buf = append(w.buf, p...)
	if !w.pending {
		w.pending = true
		if w.timer == nil {
			w.timer = time.AfterFunc(w.interval, w.flushOnTimer)
		} else {
			w.timer.Reset(w.interval)
		}
	}
	return len(p), nil
}

// Flush writes what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

// Close writes what is buffered and makes later writes go straight to out:
// goroutines still logging after it lose nothing. It does not close out.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.timer != nil {
		w.timer.Stop()
	}
	return w.flushLocked()
}

func (w *Writer) flushOnTimer() { _ = w.Flush() }

// flushLocked writes buf in one write. A timer still set for it finds buf
// empty, or holding later lines, which are then early, never late.
func (w *Writer) flushLocked() error {
	w.pending = false
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	w.buf = w.buf[:0] // what failed to write is dropped: retrying would reorder lines
	return err
}

// Handler returns h, which must write to w, made to flush w after every
// record at level or above: a warning or an error is out as soon as it is
// logged, with all the lines before it.
func (w *Writer) Handler(h slog.Handler, level slog.Leveler) slog.Handler {
	return flushingHandler{Handler: h, w: w, level: level}
}

type flushingHandler struct {
	slog.Handler
	w     *Writer
	level slog.Leveler
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= h.level.Level() {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{Handler: h.Handler.WithAttrs(attrs), w: h.w, level: h.level}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{Handler: h.Handler.WithGroup(name), w: h.w, level: h.level}
}
