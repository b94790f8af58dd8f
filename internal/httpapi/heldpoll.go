package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/billingd/billingd/api"
	"github.com/billingd/billingd/internal/billing"
)

// A long-poll takes its connection from net/http and waits apart, with no
// goroutine of its own while it waits (billing.Service.WatchEntitlement).
// net/http would keep its connection goroutine, grown to the deepest stack
// the request reached, and its buffers for the whole wait: about 50 KiB a
// poll, where this keeps a few.
// The answer is written on the connection as net/http would have written it,
// with Connection: close (the connection is not handed back to net/http), and
// logged and measured as any request is.

// entitlementRoute is GET /api/billing/entitlement's route, as the request
// log and the metrics name it.
const entitlementRoute = "/api/billing/entitlement"

// heldWriteTimeout bounds writing a held poll's answer.
const heldWriteTimeout = 10 * time.Second

// heldEntitlement is GetEntitlement's answer to a long-poll: its Visit takes
// the connection and waits apart, reads included. A poll that waits for a
// database connection, as thousands opened at once do, then waits as cheaply
// as one that waits for a change.
type heldEntitlement struct {
	s     *Server
	ctx   context.Context // the request's
	q     billing.EntitlementQuery
	since string
	wait  time.Duration
}

var _ api.GetEntitlementResponseObject = heldEntitlement{}

func (r heldEntitlement) VisitGetEntitlementResponse(w http.ResponseWriter) error {
	header := w.Header().Clone() // what the middlewares set: request id, CORS
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not HTTP/1 (or a test's recorder): wait here, as any handler would.
		done := r.s.metrics.LongPollStarted()
		defer done()
		v, err := r.s.svc.WaitEntitlement(r.ctx, r.q, r.since, r.wait, r.s.life.drained)
		if err != nil {
			return err
		}
		return entitlementAnswer(v, v.ETag()).VisitGetEntitlementResponse(w)
	}
	info := infoFrom(r.ctx)
	info.held = true
	p := &heldPoll{s: r.s, conn: conn, header: header, start: info.start, release: r.s.life.hold()}
	// The request's values (its id and caller, for the log) but not its
	// cancellation, which ends when this handler returns; a client that hangs
	// up ends it instead, once heldConns sees it.
	ctx, hungUp := context.WithCancel(context.WithoutCancel(r.ctx))
	p.ctx = ctx
	// net/http's read deadline would end the wait early.
	_ = conn.SetReadDeadline(time.Time{})
	r.s.heldConns.watch(conn, hungUp)
	done := r.s.metrics.LongPollStarted()
	r.s.svc.WatchEntitlement(ctx, r.q, r.since, r.wait, r.s.life.drained, func(v billing.EntitlementView, err error) {
		done()
		r.s.heldConns.forget(conn)
		hungUp()
		p.respond(v, err)
	})
	return nil
}

// heldPoll is a long-poll waiting apart from net/http.
type heldPoll struct {
	s       *Server
	conn    net.Conn
	header  http.Header
	ctx     context.Context
	start   time.Time
	release func()
}

// respond writes the poll's answer, closes the connection, and logs and
// measures the request.
func (p *heldPoll) respond(v billing.EntitlementView, err error) {
	defer p.release()
	res := &bufferedResponse{header: p.header}
	if err != nil {
		p.s.writeErrorTo(p.ctx, res, err)
	} else {
		_ = entitlementAnswer(v, v.ETag()).VisitGetEntitlementResponse(res)
	}
	_ = p.conn.SetWriteDeadline(time.Now().Add(heldWriteTimeout))
	_ = res.writeTo(p.conn)
	_ = p.conn.Close()
	p.s.logRequest(p.ctx, http.MethodGet, entitlementRoute, res.status, p.start)
	p.s.metrics.ObserveHTTP(entitlementRoute, http.MethodGet, res.status, time.Since(p.start))
}

// writeErrorTo writes err's envelope to w, as handleError does.
func (s *Server) writeErrorTo(ctx context.Context, w http.ResponseWriter, err error) {
	status, body := s.errorResponse(ctx, err, w.Header())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// bufferedResponse is a response kept whole, to be written on a connection
// net/http no longer serves.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *bufferedResponse) Header() http.Header { return r.header }

func (r *bufferedResponse) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *bufferedResponse) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.body.Write(b)
}

// writeTo writes r as an HTTP/1.1 response that closes the connection, in
// one write.
func (r *bufferedResponse) writeTo(conn net.Conn) error {
	r.WriteHeader(http.StatusOK)
	r.header.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	res := http.Response{
		StatusCode: r.status, ProtoMajor: 1, ProtoMinor: 1, Header: r.header, Close: true,
		ContentLength: int64(r.body.Len()), Body: http.NoBody,
	}
	if r.body.Len() > 0 {
		res.Body = io.NopCloser(&r.body)
	}
	var out bytes.Buffer
	if err := res.Write(&out); err != nil {
		return err
	}
	_, err := conn.Write(out.Bytes())
	return err
}
