// Command events-receiver is an example receiver of billingd's own events
// (entitlement.changed, payment.succeeded, payment.failed): it verifies the
// Standard Webhooks signature, handles each message once, keeps the newest
// entitlement version per organization, and logs what it did.
//
//	EVENTS_WEBHOOK_SECRET=whsec_... go run ./cmd/events-receiver [-addr 127.0.0.1:9090]
//
// Point billingd at it with EVENTS_WEBHOOK_URL=http://127.0.0.1:9090/webhooks/billingd
// and the same EVENTS_WEBHOOK_SECRET.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// path is where billingd's EVENTS_WEBHOOK_URL points.
const path = "/webhooks/billingd"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "events-receiver:", err)
		os.Exit(1)
	}
}

// run serves the receiver until ctx ends.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("events-receiver", flag.ContinueOnError)
	flags.SetOutput(stderr)
	addr := flags.String("addr", "127.0.0.1:9090", "address to listen on")
	if err := flags.Parse(args[1:]); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	secret := getenv("EVENTS_WEBHOOK_SECRET")
	if secret == "" {
		return errors.New("EVENTS_WEBHOOK_SECRET is not set: use billingd's value (whsec_ + base64 key)")
	}
	rcv, err := newReceiver(secret, stdout)
	if err != nil {
		return fmt.Errorf("EVENTS_WEBHOOK_SECRET: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle(path, rcv)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second, // billingd waits 10 s for an answer
		IdleTimeout:       60 * time.Second,
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stdout, nil))
	logger.Info("listening", "url", "http://"+ln.Addr().String()+path)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// ctx is done: give in-flight deliveries a fresh few seconds to finish.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}
