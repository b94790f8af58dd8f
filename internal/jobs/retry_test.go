package jobs

import (
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// fakeClock is a clock that only moves when told.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// Jitter extremes for rnd: the lowest and (almost) the highest it returns.
var (
	lowest  = func() float64 { return 0 }
	highest = func() float64 { return 1 - 1e-12 }
)

// productionWorker is the delivery worker as billingd runs it, on clock and
// with the jitter source rnd.
func productionWorker(clock *fakeClock, rnd func() float64) *deliveryWorker {
	w := newDeliveryWorker(Events{Now: clock.Now}, slog.New(slog.DiscardHandler))
	w.rnd = rnd
	return w
}

// nextRetry is when w schedules the retry after failed attempt number attempt.
func nextRetry(w *deliveryWorker, attempt int) time.Time {
	return w.NextRetry(&river.Job[Delivery]{JobRow: &rivertype.JobRow{Attempt: attempt, MaxAttempts: deliveryRetry.maxAttempts}})
}

// TestDeliveryRetry_FirstWithin10s: after a first failure, the retry is
// scheduled less than 10 s later, whatever the jitter.
func TestDeliveryRetry_FirstWithin10s(t *testing.T) {
	for name, rnd := range map[string]func() float64{"lowest": lowest, "highest": highest} {
		t.Run(name, func(t *testing.T) {
			clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
			wait := nextRetry(productionWorker(clock, rnd), 1).Sub(clock.now)
			if wait <= 0 || wait > 10*time.Second {
				t.Fatalf("first retry after %v, want within (0, 10s]", wait)
			}
		})
	}
}

// TestDeliveryRetry_DelaysGrow: the nominal delay doubles after each failure
// until it reaches the cap, and stays there.
func TestDeliveryRetry_DelaysGrow(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	w := productionWorker(clock, func() float64 { return 0.5 }) // no jitter
	prev := time.Duration(0)
	for attempt := 1; attempt < deliveryRetry.maxAttempts; attempt++ {
		wait := nextRetry(w, attempt).Sub(clock.now)
		switch {
		case wait > defaultSchedule.max:
			t.Fatalf("attempt %d: delay %v above the cap %v", attempt, wait, defaultSchedule.max)
		case prev != 0 && wait != min(2*prev, defaultSchedule.max):
			t.Fatalf("attempt %d: delay %v after %v, want doubling up to %v", attempt, wait, prev, defaultSchedule.max)
		}
		prev = wait
	}
	if prev != defaultSchedule.max {
		t.Fatalf("last delay %v, want the cap %v", prev, defaultSchedule.max)
	}
}

// TestDeliveryRetry_JitterInBounds: random jitter keeps every delay within
// ±10 % of the nominal one.
func TestDeliveryRetry_JitterInBounds(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	w := productionWorker(clock, rand.New(rand.NewPCG(1, 2)).Float64)
	for range 100 {
		for attempt := 1; attempt < deliveryRetry.maxAttempts; attempt++ {
			nominal := defaultSchedule.base(attempt)
			wait := nextRetry(w, attempt).Sub(clock.now)
			lo, hi := time.Duration(float64(nominal)*0.9), time.Duration(float64(nominal)*1.1)
			if wait < lo || wait > hi {
				t.Fatalf("attempt %d: delay %v outside [%v, %v]", attempt, wait, lo, hi)
			}
		}
	}
}

// TestDeliveryRetry_SpansThreeDays: a delivery that fails every time is
// attempted for at least 72 h before it is discarded, even when every delay
// is at its shortest; and one attempt fewer would not be enough.
func TestDeliveryRetry_SpansThreeDays(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: start}
	w := productionWorker(clock, lowest)
	var lastWait time.Duration
	// Attempt MaxAttempts is the last: River discards it without asking NextRetry.
	for attempt := 1; attempt < deliveryRetry.maxAttempts; attempt++ {
		next := nextRetry(w, attempt)
		lastWait = next.Sub(clock.now)
		clock.now = next
	}
	span := clock.now.Sub(start)
	if span < minRetrySpan {
		t.Fatalf("%d attempts span %v, want at least %v", deliveryRetry.maxAttempts, span, minRetrySpan)
	}
	if span-lastWait >= minRetrySpan {
		t.Fatalf("%d attempts already span %v: MaxAttempts %d is more than needed",
			deliveryRetry.maxAttempts-1, span-lastWait, deliveryRetry.maxAttempts)
	}
	t.Logf("MaxAttempts %d; shortest span %v", deliveryRetry.maxAttempts, span)
}

// TestDeliveryWorker_NextRetryUsesNow: the retry is scheduled from the
// configured clock, not the wall clock.
func TestDeliveryWorker_NextRetryUsesNow(t *testing.T) {
	clock := &fakeClock{now: time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)}
	w := productionWorker(clock, lowest)
	got := nextRetry(w, 3)
	want := clock.now.Add(defaultSchedule.minDelay(3))
	if !got.Equal(want) {
		t.Fatalf("NextRetry = %v, want %v (the fake clock plus the third delay)", got, want)
	}
}
