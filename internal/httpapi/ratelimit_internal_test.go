package httpapi

import (
	"strconv"
	"testing"
	"time"

	"github.com/billingd/billingd/internal/config"
)

// fakeClock is a settable now.
type fakeClock struct{ t time.Time }

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func mustReserve(t *testing.T, l *keyedLimiter, key string) {
	t.Helper()
	if wait, ok := l.reserve(key); !ok {
		t.Fatalf("reserve(%q) refused, retry after %v", key, wait)
	}
}

func TestKeyedLimiter(t *testing.T) {
	t.Run("BurstThenRefill", func(t *testing.T) {
		clock := newFakeClock()
		l := newKeyedLimiter(config.RateLimit{Count: 10, Per: time.Minute}, clock.now)
		for range 10 {
			mustReserve(t, l, "org_a")
		}
		wait, ok := l.reserve("org_a")
		if ok || wait != 6*time.Second {
			t.Fatalf("11th = %v, %v; want refused for 6s (one token per 6s)", wait, ok)
		}
		mustReserve(t, l, "org_b")
		clock.advance(6 * time.Second)
		mustReserve(t, l, "org_a")
	})
	t.Run("RefusalTakesNothing", func(t *testing.T) {
		clock := newFakeClock()
		l := newKeyedLimiter(config.RateLimit{Count: 1, Per: 10 * time.Second}, clock.now)
		mustReserve(t, l, "k")
		for range 5 { // hammering while refused must not push the next token away
			if _, ok := l.reserve("k"); ok {
				t.Fatal("allowed over the limit")
			}
		}
		clock.advance(10 * time.Second)
		mustReserve(t, l, "k")
	})
	t.Run("IdleKeysAreEvicted", func(t *testing.T) {
		clock := newFakeClock()
		l := newKeyedLimiter(config.RateLimit{Count: 5, Per: time.Minute}, clock.now)
		for i := range 1000 {
			mustReserve(t, l, "client_"+strconv.Itoa(i))
		}
		if n := l.size(); n != 1000 {
			t.Fatalf("size = %d, want 1000", n)
		}
		clock.advance(30 * time.Second)
		mustReserve(t, l, "recent")
		clock.advance(31 * time.Second)
		mustReserve(t, l, "new")
		if n := l.size(); n != 2 {
			t.Fatalf("size after the others idled for over a minute = %d, want 2 (recent, new)", n)
		}
	})
	t.Run("EvictionChangesNothing", func(t *testing.T) {
		clock := newFakeClock()
		l := newKeyedLimiter(config.RateLimit{Count: 2, Per: time.Minute}, clock.now)
		mustReserve(t, l, "k")
		mustReserve(t, l, "k")
		clock.advance(time.Minute + time.Second) // refilled, and evicted on the next call
		mustReserve(t, l, "k")
		mustReserve(t, l, "k")
		if _, ok := l.reserve("k"); ok {
			t.Fatal("a re-created bucket allowed more than its burst")
		}
	})
	t.Run("DisabledIsNil", func(t *testing.T) {
		for _, limit := range []config.RateLimit{{}, {Count: 5}, {Per: time.Second}} {
			l := newKeyedLimiter(limit, nil)
			if l != nil {
				t.Fatalf("limiter for %+v is not nil", limit)
			}
			if _, ok := l.reserve("k"); !ok {
				t.Fatal("a nil limiter refused")
			}
		}
	})
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{
		time.Nanosecond: 1, 999 * time.Millisecond: 1, time.Second: 1,
		1001 * time.Millisecond: 2, 6 * time.Second: 6, 59500 * time.Millisecond: 60,
	} {
		if got := retryAfterSeconds(d); got != want {
			t.Errorf("retryAfterSeconds(%v) = %d, want %d", d, got, want)
		}
	}
}
