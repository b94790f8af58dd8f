package jobs

import "time"

// retrySchedule is the wait after each failed delivery attempt: first after
// the first failure, doubling after each further one up to max, each spread
// by ±jitter (a fraction) so that the retries of one outage do not arrive
// at a receiver all at once.
type retrySchedule struct {
	first, max time.Duration
	jitter     float64
}

// delay is the wait after failed attempt number attempt (1-based); rnd
// returns a number in [0, 1), as math/rand/v2's Float64 does.
func (s retrySchedule) delay(attempt int, rnd func() float64) time.Duration {
	return time.Duration(float64(s.base(attempt)) * (1 + s.jitter*(2*rnd()-1)))
}

// minDelay is the shortest delay the jitter can give after attempt.
func (s retrySchedule) minDelay(attempt int) time.Duration {
	return time.Duration(float64(s.base(attempt)) * (1 - s.jitter))
}

// base is the delay after attempt before jitter: first·2^(attempt-1), capped.
func (s retrySchedule) base(attempt int) time.Duration {
	d := s.first
	for i := 1; i < attempt && d < s.max; i++ {
		d *= 2
	}
	return min(d, s.max)
}

// attemptsFor returns the fewest attempts whose retries span at least span
// even when every delay is at its jitter-low minimum.
func (s retrySchedule) attemptsFor(span time.Duration) int {
	attempts, total := 1, time.Duration(0)
	for total < span {
		total += s.minDelay(attempts)
		attempts++
	}
	return attempts
}

// retryPolicy is how a delivery is retried: the waits between attempts, and
// how many attempts it gets before River discards it.
type retryPolicy struct {
	schedule    retrySchedule
	maxAttempts int
}

// minRetrySpan is how long a delivery is retried at least (SPEC §9): a
// receiver may be down over a long weekend and still get every message.
const minRetrySpan = 72 * time.Hour

// deliveryRetry is the production policy: the first retry after 5 s, then
// doubling to an hourly cap, ±10 %. MaxAttempts is derived so that the sum
// of the jitter-low (minimum) delays is at least minRetrySpan: the delays
// after attempts 1–10 are 4.5 s … 38.4 min (1.28 h in all) and every later
// one at least 54 min, so 90 attempts (89 retries) span ≥ 72 h, about 80 h
// at the nominal delays.
var deliveryRetry = retryPolicy{
	schedule:    defaultSchedule,
	maxAttempts: defaultSchedule.attemptsFor(minRetrySpan),
}

var defaultSchedule = retrySchedule{first: 5 * time.Second, max: time.Hour, jitter: 0.1}
