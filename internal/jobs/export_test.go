package jobs

import "time"

// ShortRetries makes e's deliveries wait delay between attempts and give up
// after maxAttempts, so that tests see retries and dead deliveries in
// milliseconds. Production code cannot reach it.
func ShortRetries(e *Events, delay time.Duration, maxAttempts int) {
	e.retry = &retryPolicy{schedule: retrySchedule{first: delay, max: delay}, maxAttempts: maxAttempts}
}

// DeliveryMaxAttempts is the attempts a delivery gets in production.
var DeliveryMaxAttempts = deliveryRetry.maxAttempts
