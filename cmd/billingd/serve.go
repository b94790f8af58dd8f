package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/billingd/billingd/internal/auth"
	"github.com/billingd/billingd/internal/billing"
	"github.com/billingd/billingd/internal/config"
	"github.com/billingd/billingd/internal/httpapi"
	"github.com/billingd/billingd/internal/logbuf"
	"github.com/billingd/billingd/internal/notify"
	"github.com/billingd/billingd/internal/notify/pgnotify"
	"github.com/billingd/billingd/internal/store"
	"github.com/billingd/billingd/internal/stripe"
)

// Server timeouts. The write timeout must outlast the longest long-poll
// (httpapi.MaxWait, 25 s) plus the time to read the request and write the answer.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 120 * time.Second
)

// maxHeaderBytes makes a request head over 32 KiB a 431 (SPEC §4); net/http
// reads MaxHeaderBytes plus 4096 bytes of bufio slack before refusing.
const maxHeaderBytes = 32<<10 - 4096

// serveHooks let dev mode extend serve; the zero value changes nothing.
type serveHooks struct {
	// listening, when not nil, receives the bound address once the server accepts.
	listening chan<- string
	// devMode, when not nil, returns dev mode's extra routes, given the
	// service and the URL of this process's own webhook endpoint.
	devMode func(cfg config.Config, svc *billing.Service, webhookURL string) *httpapi.DevMode
}

// serve loads the configuration through getenv and serves until ctx ends.
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer, hooks serveHooks) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	// Closed last, on every return: main exits only after serve returns, so
	// an error exit loses no line either.
	logOut := logbuf.New(stdout, logFlushInterval)
	defer logOut.Close()
	logger := newLogger(logOut, cfg.LogLevel)
	logger.Info("starting billingd", "config", cfg)
	// First, so that a slow start can be profiled too; stopped last.
	stopProfiling, err := startProfiling(cfg.PprofAddr, logger)
	if err != nil {
		return err
	}
	defer stopProfiling()

	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	telemetry, err := newMetrics(st)
	if err != nil {
		return err
	}

	verifier, err := auth.NewVerifier(ctx, cfg.AuthOptions())
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	notifier, closeNotifier, err := newNotifier(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer closeNotifier()
	payments := stripe.New(cfg.StripeSecretKey, stripe.Options{
		APIBase: cfg.StripeAPIBase, Logger: logger, Observe: telemetry.ObserveStripe,
	})
	svc := newService(cfg, st, payments, notifier, logger)
	rec := newReconciler(cfg, st, payments, svc, logger, telemetry)
	queue, err := newQueue(cfg, st, logger, telemetry, periodicWork(cfg, rec), true)
	if err != nil {
		return err
	}
	telemetry.RegisterEventBacklog(queue.Backlog)
	// Background jobs outlive the serving context: shutdown stops them after
	// the server, so a running reconcile can finish its transaction.
	if err := queue.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	defer stopJobsAfter(queue.Stop, logger)
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", cfg.Port, err)
	}
	life := httpapi.NewLifecycle()
	go returnFreedMemory(ctx, freedMemoryCheck, freedMemoryThreshold, life.Held)
	deps := httpapi.Deps{
		Service: svc, Verifier: verifier, Logger: logger,
		ParseEvent: stripe.WebhookVerifier{Secret: cfg.StripeWebhookSecret}.ParseEvent,
		Limits: httpapi.Limits{
			Checkout: cfg.CheckoutRateLimit, Poll: cfg.PollRateLimit, Service: cfg.ServiceRateLimit,
		},
		Metrics:            telemetry,
		CORSAllowedOrigins: cfg.CORSAllowedOrigins,
		Database:           st,
		Lifecycle:          life,
	}
	if hooks.devMode != nil {
		deps.Dev = hooks.devMode(cfg, svc, ownWebhookURL(ln.Addr()))
	}
	handler, err := httpapi.New(deps)
	if err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{
		Handler: handler, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Shutdown waits for in-flight requests; long-polls answer at once instead
	// of holding it for up to 25 s.
	srv.RegisterOnShutdown(life.Drain)
	unused := trackUnusedConns(srv)
	srv.RegisterOnShutdown(unused.closeAll)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())
	if hooks.listening != nil {
		hooks.listening <- ln.Addr().String()
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	return shutdown(srv, life, cfg, logger)
}

// shutdown stops serving in the order a load balancer needs: readiness fails
// first while everything is still served for SHUTDOWN_DELAY, then the server
// stops accepting, long-polls answer with the current state (Drain, registered
// on the server) and in-flight requests finish. All of it must fit in
// SHUTDOWN_TIMEOUT; requests still running then are cut off.
func shutdown(srv *http.Server, life *httpapi.Lifecycle, cfg config.Config, logger *slog.Logger) error {
	// A fresh context: the serving one is already done, and the grace period starts now.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	life.BeginShutdown()
	srv.SetKeepAlivesEnabled(false) // clients reconnect, and the balancer sends them elsewhere
	logger.Info("shutting down", "delay", cfg.ShutdownDelay.String(), "grace", cfg.ShutdownTimeout.String())
	time.Sleep(cfg.ShutdownDelay) // config keeps it below the grace period
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		_ = srv.Close()
		return fmt.Errorf("shutdown: grace period of %v ended with requests in flight, which were cut off: %w", cfg.ShutdownTimeout, err)
	}
	// Long-polls that wait apart from the server are not Shutdown's to wait for.
	if err := life.WaitHeld(ctx); err != nil {
		return fmt.Errorf("shutdown: grace period of %v ended with long-polls unanswered, which were cut off: %w", cfg.ShutdownTimeout, err)
	}
	logger.Info("stopped")
	return nil
}

// unusedConns are the server's connections on which no request has begun.
// http.Server.Shutdown waits for them until they are 5 s old, so a client
// that opened one and sent nothing (a transport dialling ahead, a balancer
// that connects early) would hold every shutdown that long, and one with a
// grace period of 5 s or less would fail. They are closed once Shutdown
// has closed the listener.
type unusedConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// trackUnusedConns follows srv's connections through its ConnState hook.
func trackUnusedConns(srv *http.Server) *unusedConns {
	u := &unusedConns{conns: map[net.Conn]struct{}{}}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		u.mu.Lock()
		defer u.mu.Unlock()
		if st == http.StateNew {
			u.conns[c] = struct{}{}
		} else {
			delete(u.conns, c)
		}
	}
	return u
}

func (u *unusedConns) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for c := range u.conns {
		_ = c.Close()
		delete(u.conns, c)
	}
}

// ownWebhookURL is this process's webhook endpoint on loopback, listening at addr.
func ownWebhookURL(addr net.Addr) string {
	_, port, _ := net.SplitHostPort(addr.String())
	return "http://" + net.JoinHostPort("127.0.0.1", port) + "/webhooks/stripe"
}

// newNotifier returns what wakes long-polls: across replicas through
// PostgreSQL's LISTEN/NOTIFY, or in-process for SQLite (one process's file).
func newNotifier(ctx context.Context, cfg config.Config, logger *slog.Logger) (billing.Notifier, func(), error) {
	local := notify.NewLocal()
	if cfg.Database.Dialect() != store.DialectPostgres {
		return local, func() {}, nil
	}
	n, err := pgnotify.Start(ctx, cfg.Database.PostgresURL(), local, pgnotify.Options{Logger: logger, Timeout: cfg.DBTimeout})
	if err != nil {
		return nil, nil, fmt.Errorf("notifications: %w", err)
	}
	return n, n.Close, nil
}

// logFlushInterval is the longest serve holds a log line below warn. A tenth
// of a second is less than anyone tailing the logs notices, bounds what a
// kill can lose, and costs at most ten writes a second; under load the
// buffer fills, and is written, long before it.
const logFlushInterval = 100 * time.Millisecond

// newLogger returns the JSON logger; every record made with a request's
// context carries its request id. Writing to a *logbuf.Writer, it flushes it
// with every record at warn or above.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	var h slog.Handler = slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})
	if buf, ok := w.(*logbuf.Writer); ok {
		h = buf.Handler(h, slog.LevelWarn)
	}
	return slog.New(httpapi.LogHandler(h))
}

// jobsStopTimeout bounds how long a stopping process waits for a running
// background job (a reconcile) before cancelling it; the next run redoes it.
const jobsStopTimeout = 5 * time.Second

// stopJobsAfter stops the background jobs once serving has ended.
func stopJobsAfter(stop func(context.Context) error, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), jobsStopTimeout)
	defer cancel()
	if err := stop(ctx); err != nil {
		logger.Warn("stopping background jobs", "error", err)
	}
}
