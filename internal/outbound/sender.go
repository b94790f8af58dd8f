package outbound

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// DeliveryTimeout is how long a receiver has to answer: SPEC §9 counts no
// answer within 10 s as a failed delivery, to be retried.
const DeliveryTimeout = 10 * time.Second

// maxDrainBytes bounds how much of an answer is read: enough for the usual
// short body, so the connection goes back to the pool, but a receiver that
// streams cannot hold a delivery open.
const maxDrainBytes = 64 << 10

// malformedEndpoint stands for an endpoint that does not parse: it cannot
// be redacted, so none of it is shown.
const malformedEndpoint = "(malformed URL)"

// Sender POSTs signed messages to receivers.
type Sender struct {
	signer    Signer
	client    *http.Client
	timeout   time.Duration // what "no answer within" means for this client
	now       func() time.Time
	userAgent string
}

// SenderOptions tune a [Sender]; the zero value is the production setting.
type SenderOptions struct {
	// Client sends the requests. Default: one with Timeout = DeliveryTimeout.
	// Whatever the client, redirects are never followed and no attempt
	// outlives DeliveryTimeout.
	Client *http.Client
	// Now is the signing time of each attempt. Default: time.Now.
	Now func() time.Time
	// UserAgent is sent with every request. Default: "billingd".
	UserAgent string
	// Concurrency is the most attempts made at once: the default client
	// keeps that many connections open to each endpoint, so that no
	// message waits for a new one (net/http's default keeps 2). Default 2.
	Concurrency int
}

// NewSender returns a Sender that signs with signer.
func NewSender(signer Signer, opts SenderOptions) *Sender {
	client := &http.Client{Timeout: DeliveryTimeout, Transport: newTransport(opts.Concurrency)}
	if opts.Client != nil {
		c := *opts.Client
		client = &c
	}
	// A redirect is the receiver's answer, not a new destination: following
	// it would POST the signed message somewhere the operator never named.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	timeout := DeliveryTimeout
	if client.Timeout > 0 && client.Timeout < timeout {
		timeout = client.Timeout
	}
	s := &Sender{signer: signer, client: client, timeout: timeout, now: opts.Now, userAgent: opts.UserAgent}
	if s.now == nil {
		s.now = time.Now
	}
	if s.userAgent == "" {
		s.userAgent = "billingd"
	}
	return s
}

// newTransport is net/http's default transport, keeping up to concurrency
// idle connections to each endpoint.
func newTransport(concurrency int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(concurrency, http.DefaultMaxIdleConnsPerHost)
	t.MaxIdleConns = max(t.MaxIdleConns, t.MaxIdleConnsPerHost)
	return t
}

// Send POSTs body to endpoint with Content-Type application/json and the
// Standard Webhooks headers for msgID signed at Now(); nil only for a 2xx
// answer. Any other outcome is a *[DeliveryError]; errors.Is(err,
// context.DeadlineExceeded) tells a receiver that did not answer in time.
func (s *Sender) Send(ctx context.Context, endpoint, msgID string, body []byte) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		// Not err: url.Parse quotes its input, which may carry a token.
		return &DeliveryError{Endpoint: malformedEndpoint, Err: errors.New("endpoint is not a valid URL")}
	}
	fail := func(status int, err error) error {
		return &DeliveryError{Endpoint: redact(u), StatusCode: status, Err: err}
	}

	// The timestamp is this attempt's: receivers refuse old ones, so a retry
	// must not reuse the first attempt's signature.
	headers, err := s.signer.Headers(msgID, s.now(), body)
	if err != nil {
		return fail(0, err)
	}
	attemptCtx, cancel := context.WithTimeout(ctx, DeliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(attemptCtx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return fail(0, unwrapURLError(err))
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", s.userAgent)

	resp, err := s.client.Do(req)
	if err != nil {
		return fail(0, s.transportError(ctx, err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBytes))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fail(resp.StatusCode, nil)
	}
	return nil
}

// transportError says why no answer came. The caller's own cancellation is
// reported as such; any other timeout is the receiver's silence.
func (s *Sender) transportError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var timeout interface{ Timeout() bool }
	if (errors.As(err, &timeout) && timeout.Timeout()) || errors.Is(err, context.DeadlineExceeded) {
		return noAnswerError{within: s.timeout}
	}
	return unwrapURLError(err)
}

// unwrapURLError drops the *url.Error layer, whose message quotes the whole
// URL, query and all.
func unwrapURLError(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// noAnswerError is a receiver that did not answer within the timeout.
type noAnswerError struct{ within time.Duration }

func (e noAnswerError) Error() string { return "no answer within " + e.within.String() }

func (noAnswerError) Is(target error) bool { return target == context.DeadlineExceeded }

// DeliveryError is a message that was not delivered: the receiver answered
// with a non-2xx StatusCode, or did not answer (StatusCode 0, Err says why).
// Endpoint is redacted to scheme://host/path: a query or userinfo may carry
// the receiver's token. Neither the body nor the secret is ever part of it.
type DeliveryError struct {
	Endpoint   string
	StatusCode int
	Err        error
}

func (e *DeliveryError) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("outbound: %s answered %d", e.Endpoint, e.StatusCode)
	}
	return fmt.Sprintf("outbound: %s: %v", e.Endpoint, e.Err)
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// RedactEndpoint returns endpoint as scheme://host/path, fit for logs and
// errors: without userinfo, query or fragment, which may carry tokens.
func RedactEndpoint(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return malformedEndpoint
	}
	return redact(u)
}

func redact(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}
