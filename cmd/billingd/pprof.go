package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
)

// startProfiling serves Go's net/http/pprof handlers under /debug/pprof/ on
// addr (PPROF_ADDR) and returns the function that stops them; with addr ""
// it does nothing. They get a listener and a mux of their own, never the
// API's port: they expose the process's internals without authentication.
// (Importing net/http/pprof also registers them on http.DefaultServeMux,
// which billingd never serves.)
func startProfiling(addr string, logger *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("PPROF_ADDR: listen on %s: %w", addr, err)
	}
	// No read or write timeout: a CPU profile or trace takes as long as
	// asked (30 s by default), and pprof refuses one longer than WriteTimeout.
	srv := &http.Server{
		Handler: profilingHandler(), ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// A warning, so that it shows at every LOG_LEVEL: the endpoint exposes
	// the process's internals to whoever reaches it.
	logger.Warn("profiling listening", "addr", ln.Addr().String())
	return func() {
		// Close, not Shutdown: a profile being taken is not worth delaying
		// the stop for.
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("profiling server failed", "error", err)
		}
	}, nil
}

// profilingHandler routes net/http/pprof's handlers as its init does on
// http.DefaultServeMux; Index also serves each named profile (heap,
// goroutine, allocs…) at /debug/pprof/NAME.
func profilingHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
