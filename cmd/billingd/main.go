// Command billingd is the billing microservice.
//
//	billingd               serve (production mode; configured by environment, see README)
//	billingd dev           serve in dev mode: SQLite, stripe-mock, generated secrets
//	billingd reconcile     heal billingd's state from Stripe's once (same configuration as serve)
//	billingd events        list dead deliveries of billingd's own events, and retry them
//	billingd send-webhook  sign and post a test Stripe event to a running billingd
//	billingd token         print a bearer token signed with AUTH_JWT_SECRET, to try a running billingd
//	billingd healthcheck   probe the local billingd (Docker HEALTHCHECK in images without curl)
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run is the whole program, with its environment passed in so tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := ""
	if len(args) > 1 {
		cmd = args[1]
	}
	switch cmd {
	case "", "serve":
		return serve(ctx, getenv, stdout, serveHooks{})
	case "dev":
		return dev(ctx, args[2:], getenv, stdout)
	case "reconcile":
		return reconcileCmd(ctx, args[2:], getenv, stdout)
	case "events":
		return eventsCmd(ctx, args[2:], getenv, stdout)
	case "send-webhook":
		return sendWebhook(ctx, args[2:], getenv, stdout)
	case "token":
		return token(ctx, args[2:], getenv, stdout)
	case "healthcheck":
		return healthcheck(ctx, args[2:], getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("billingd: unknown command %q\n%s", cmd, usage)
	}
}

const usage = `usage:
  billingd                serve; configuration comes from the environment (see README)
  billingd dev            dev mode: SQLite file, stripe-mock as Stripe, generated secrets
  billingd reconcile      heal billingd's state from Stripe's once: lost webhooks, unfinished checkouts (see -h)
  billingd events         list the deliveries of billingd's own events that failed for good, and retry them (see help)
  billingd send-webhook   sign and post a test Stripe event (see -h)
  billingd token          print a bearer token signed with AUTH_JWT_SECRET (see -h)
  billingd healthcheck    exit 0 if the local billingd answers GET /healthz with 200 (see -h)
`
