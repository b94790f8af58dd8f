package outbound_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/billingd/billingd/internal/outbound"
)

var eventBody = []byte(`{"type":"entitlement.changed","timestamp":"2026-12-01T12:00:00Z","data":{"organizationId":"org_a","version":3}}`)

// received is one request as a receiver saw it.
type received struct {
	method string
	header http.Header
	body   []byte
}

// newReceiver starts a receiver that records every request on /hooks and
// answers status; a 3xx points to /elsewhere, whose requests are recorded
// on the second channel.
func newReceiver(t *testing.T, status int) (srv *httptest.Server, hooks, elsewhere <-chan received) {
	t.Helper()
	hooksCh, elsewhereCh := make(chan received, 10), make(chan received, 10)
	record := func(ch chan<- received, status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			ch <- received{method: r.Method, header: r.Header.Clone(), body: body}
			if status >= 300 && status < 400 {
				w.Header().Set("Location", "/elsewhere")
			}
			w.WriteHeader(status)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks", record(hooksCh, status))
	mux.Handle("/elsewhere", record(elsewhereCh, http.StatusOK))
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, hooksCh, elsewhereCh
}

func mustNewSender(t *testing.T, opts outbound.SenderOptions) *outbound.Sender {
	t.Helper()
	signer, err := outbound.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	return outbound.NewSender(signer, opts)
}

// specSignature is webhook-signature as the Standard Webhooks spec text
// defines it: "v1," + base64 of HMAC-SHA256, keyed with the base64-decoded
// secret after "whsec_", over "{webhook-id}.{webhook-timestamp}.{body}".
func specSignature(t *testing.T, id, timestamp string, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "." + string(body)))
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// mustVerify checks a received request the way a receiver would, with the
// official library, and against the spec text.
func mustVerify(t *testing.T, r received) {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(r.body, r.header); err != nil {
		t.Errorf("official library refuses the request: %v (headers %v)", err, r.header)
	}
	want := specSignature(t, r.header.Get("webhook-id"), r.header.Get("webhook-timestamp"), r.body)
	if got := r.header.Get("webhook-signature"); got != want {
		t.Errorf("webhook-signature = %q, want %q as the spec computes it", got, want)
	}
}

// mustDeliveryError returns err as a *DeliveryError, or fails.
func mustDeliveryError(t *testing.T, err error) *outbound.DeliveryError {
	t.Helper()
	var derr *outbound.DeliveryError
	if !errors.As(err, &derr) {
		t.Fatalf("err = %v (%T), want *outbound.DeliveryError", err, err)
	}
	return derr
}

// closedURL is the URL of a port nothing listens on any more.
func closedURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

func TestSender_Delivered(t *testing.T) {
	for _, status := range []int{http.StatusOK, http.StatusNoContent} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			srv, hooks, _ := newReceiver(t, status)
			s := mustNewSender(t, outbound.SenderOptions{})
			if err := s.Send(context.Background(), srv.URL+"/hooks", "msg_1", eventBody); err != nil {
				t.Fatalf("Send: %v", err)
			}
			r := <-hooks
			mustVerify(t, r)
			if r.method != http.MethodPost {
				t.Errorf("method = %s, want POST", r.method)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", got)
			}
			if got := r.header.Get("User-Agent"); got != "billingd" {
				t.Errorf("User-Agent = %q, want billingd", got)
			}
			if string(r.body) != string(eventBody) {
				t.Errorf("body = %s, want %s", r.body, eventBody)
			}
		})
	}
}

func TestSender_ErrStatus(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusBadRequest, http.StatusInternalServerError} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			srv, hooks, elsewhere := newReceiver(t, status)
			s := mustNewSender(t, outbound.SenderOptions{})
			err := s.Send(context.Background(), srv.URL+"/hooks", "msg_1", eventBody)
			derr := mustDeliveryError(t, err)
			if derr.StatusCode != status {
				t.Errorf("StatusCode = %d, want %d", derr.StatusCode, status)
			}
			if want := "outbound: " + srv.URL + "/hooks answered " + strconv.Itoa(status); err.Error() != want {
				t.Errorf("err = %q, want %q", err, want)
			}
			mustVerify(t, <-hooks)
			select {
			case <-elsewhere:
				t.Error("the redirect was followed")
			default:
			}
		})
	}
}

func TestSender_ErrNoAnswer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // before Close, which waits for the handler

	s := mustNewSender(t, outbound.SenderOptions{Client: &http.Client{Timeout: 100 * time.Millisecond}})
	start := time.Now()
	err := s.Send(context.Background(), srv.URL+"/hooks", "msg_1", eventBody)
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Send took %v with a 100ms client timeout", elapsed)
	}
	derr := mustDeliveryError(t, err)
	if derr.StatusCode != 0 {
		t.Errorf("StatusCode = %d, want 0", derr.StatusCode)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, context.DeadlineExceeded) = false for %v", err)
	}
	if want := "outbound: " + srv.URL + "/hooks: no answer within 100ms"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestSender_ErrUnreachable(t *testing.T) {
	endpoint := closedURL(t) + "/hooks"
	err := mustNewSender(t, outbound.SenderOptions{}).Send(context.Background(), endpoint, "msg_1", eventBody)
	derr := mustDeliveryError(t, err)
	if derr.StatusCode != 0 || derr.Err == nil {
		t.Errorf("StatusCode = %d, Err = %v; want 0 and the transport error", derr.StatusCode, derr.Err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a refused connection reported as no answer: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "outbound: "+endpoint+": ") {
		t.Errorf("err = %q, want it to name %s", err, endpoint)
	}
}

func TestSender_ErrCallerCanceled(t *testing.T) {
	srv, _, _ := newReceiver(t, http.StatusOK)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := mustNewSender(t, outbound.SenderOptions{}).Send(ctx, srv.URL+"/hooks", "msg_1", eventBody)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	mustDeliveryError(t, err)
}

// TestSender_ErrorRedactsEndpoint: a receiver's URL may carry its token in
// the userinfo or the query; no error shows them, nor the body or secret.
func TestSender_ErrorRedactsEndpoint(t *testing.T) {
	answering, _, _ := newReceiver(t, http.StatusInternalServerError)
	withToken := func(base string) string {
		return strings.Replace(base, "://", "://user:pass-s3cr3t@", 1) + "/hooks?token=tok-s3cr3t#frag-s3cr3t"
	}
	for name, tc := range map[string]struct{ endpoint, wantEndpoint string }{
		"Answered":    {withToken(answering.URL), answering.URL + "/hooks"},
		"Unreachable": {withToken(closedURL(t)), ""},
		"Malformed":   {"http://user:pass-s3cr3t@host/%zz?token=tok-s3cr3t", "(malformed URL)"},
	} {
		t.Run(name, func(t *testing.T) {
			err := mustNewSender(t, outbound.SenderOptions{}).Send(context.Background(), tc.endpoint, "msg_1", eventBody)
			derr := mustDeliveryError(t, err)
			if tc.wantEndpoint != "" && derr.Endpoint != tc.wantEndpoint {
				t.Errorf("Endpoint = %q, want %q", derr.Endpoint, tc.wantEndpoint)
			}
			for _, leak := range []string{"s3cr3t", "user", "token", string(eventBody), strings.TrimPrefix(secret, "whsec_")} {
				if strings.Contains(err.Error(), leak) || strings.Contains(derr.Endpoint, leak) {
					t.Errorf("error %q shows %q", err, leak)
				}
			}
		})
	}
}

// TestSender_SignsEachAttemptAtNow: a retry keeps the message's id (the
// receiver's dedupe key) but is signed at its own time, since receivers
// refuse old timestamps.
func TestSender_SignsEachAttemptAtNow(t *testing.T) {
	srv, hooks, _ := newReceiver(t, http.StatusOK)
	first := time.Now().Add(-time.Minute).Truncate(time.Second)
	times := []time.Time{first, first.Add(30 * time.Second)}
	calls := 0
	now := func() time.Time { calls++; return times[calls-1] }
	s := mustNewSender(t, outbound.SenderOptions{Now: now})

	for i, at := range times {
		if err := s.Send(context.Background(), srv.URL+"/hooks", "msg_same", eventBody); err != nil {
			t.Fatalf("Send %d: %v", i+1, err)
		}
		r := <-hooks
		mustVerify(t, r)
		if got := r.header.Get("webhook-id"); got != "msg_same" {
			t.Errorf("send %d: webhook-id = %q, want msg_same", i+1, got)
		}
		if got, want := r.header.Get("webhook-timestamp"), strconv.FormatInt(at.Unix(), 10); got != want {
			t.Errorf("send %d: webhook-timestamp = %q, want %q (the injected Now)", i+1, got, want)
		}
	}
}

// TestSender_KeepsConnectionsForItsConcurrency: rounds of as many attempts
// at once as the Sender's Concurrency reuse the first round's connections,
// rather than dialling most of them again for every message.
func TestSender_KeepsConnectionsForItsConcurrency(t *testing.T) {
	const concurrency, rounds = 8, 4
	var dialled atomic.Int32
	arrived := make(chan struct{}, concurrency)
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-release // each round holds all its attempts open at once
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s := mustNewSender(t, outbound.SenderOptions{Concurrency: concurrency})

	for round := range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, concurrency)
		for i := range concurrency {
			wg.Go(func() { errs <- s.Send(context.Background(), srv.URL, fmt.Sprintf("msg_%d_%d", round, i), eventBody) })
		}
		for range concurrency {
			<-arrived
		}
		for range concurrency {
			release <- struct{}{}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := dialled.Load(); n != concurrency {
		t.Errorf("%d connections for %d rounds of %d at once, want %d", n, rounds, concurrency, concurrency)
	}
}
