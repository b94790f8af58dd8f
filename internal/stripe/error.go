package stripe

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	stripego "github.com/stripe/stripe-go/v82"

	"github.com/billingd/billingd/internal/billing"
)

// upstream translates a failed Stripe call into billing's EUpstream and logs it
// with Stripe's request id and attrs. Stripe's message stays in the wrapped
// cause (for logs) because it may echo request parameters; the client-facing
// message is fixed. A cancelled context is the caller giving up, not Stripe
// failing, so it is returned as is.
func (c *Client) upstream(ctx context.Context, op string, err error, attrs ...slog.Attr) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	attrs = append([]slog.Attr{slog.String("op", op)}, attrs...)
	var se *stripego.Error
	if errors.As(err, &se) {
		attrs = append(attrs,
			slog.String("stripe_request_id", se.RequestID),
			slog.Int("status", se.HTTPStatusCode),
			slog.String("type", string(se.Type)),
			slog.String("code", string(se.Code)),
			slog.String("param", se.Param),
		)
	} else {
		// Network and decoding errors: they name the URL, not the key, which
		// travels in a header; scrubbed all the same, as they reach logs.
		attrs = append(attrs, slog.String("error", scrubbed{err, c.key}.Error()))
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "stripe request failed", attrs...)
	return &billing.Error{Code: billing.EUpstream, Message: "Stripe request failed", Err: scrubbed{err, c.key}}
}

// scrubbed hides the secret key in an upstream error's text: Stripe masks keys
// in its messages, but a proxy or stripe-mock may echo one whole, and the text
// reaches logs.
type scrubbed struct {
	err error
	key string
}

func (s scrubbed) Error() string {
	if s.key == "" {
		return s.err.Error()
	}
	return strings.ReplaceAll(s.err.Error(), s.key, "[redacted key]")
}

func (s scrubbed) Unwrap() error { return s.err }

// isResourceMissing reports whether Stripe answered that the object does not exist.
func isResourceMissing(err error) bool {
	var se *stripego.Error
	return errors.As(err, &se) && se.HTTPStatusCode == http.StatusNotFound &&
		se.Code == stripego.ErrorCodeResourceMissing
}

// isSessionNotOpen reports whether Stripe refused to expire a Checkout Session
// because it is no longer open. Stripe sends no error code for this, only an
// invalid_request_error whose message reads "Only Checkout Sessions with a status
// in ["open"] can be expired. This Checkout Session has a status of `complete`."
func isSessionNotOpen(err error) bool {
	var se *stripego.Error
	return errors.As(err, &se) && se.HTTPStatusCode == http.StatusBadRequest &&
		se.Type == stripego.ErrorTypeInvalidRequest &&
		strings.Contains(se.Msg, "status") && strings.Contains(se.Msg, "open")
}

// requestID returns Stripe's request id of a failed call, or "".
func requestID(err error) string {
	var se *stripego.Error
	if errors.As(err, &se) {
		return se.RequestID
	}
	return ""
}
