package stripe

import (
	"context"
	"log/slog"
	"time"

	stripego "github.com/stripe/stripe-go/v82"
)

// call runs one Stripe request named op (snake_case: it becomes a metric label).
// It reports the request to Options.Observe, logs it with its duration and
// Stripe's request id — at debug on success, at warn on failure — and returns a
// failure translated by upstream. fn returns the response of the resource it
// got (resource.LastResponse; stripe-go returns a non-nil resource even on
// error) so that successes can be traced to Stripe's logs too.
//
// Every request of the adapter goes through call, so that metrics and logs
// cover them all alike.
func (c *Client) call(ctx context.Context, op string, fn func() (*stripego.APIResponse, error)) error {
	start := time.Now()
	resp, err := fn()
	d := time.Since(start)
	if c.observe != nil {
		c.observe(op, d, err)
	}
	duration := slog.Float64("duration_ms", float64(d.Microseconds())/1000)
	if err != nil {
		return c.upstream(ctx, op, err, duration)
	}
	if c.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []slog.Attr{slog.String("op", op), duration}
		if resp != nil {
			attrs = append(attrs, slog.String("stripe_request_id", resp.RequestID))
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "stripe request", attrs...)
	}
	return nil
}
