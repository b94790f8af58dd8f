package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/billingd/billingd/internal/config"
	"github.com/billingd/billingd/internal/jobs"
	"github.com/billingd/billingd/internal/outbound"
)

const eventsUsage = `usage:
  billingd events dead [-limit N]   list the deliveries that failed for good (retries exhausted), newest first
  billingd events retry JOB_ID...   queue those deliveries again; a serving billingd sends them
`

// eventsCmd is what an operator does with billingd's own deliveries: see
// the dead ones and send them again, with the same configuration as serve.
func eventsCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("billingd events: name a subcommand\n%s", eventsUsage)
	}
	switch args[0] {
	case "dead":
		return eventsDead(ctx, args[1:], getenv, stdout)
	case "retry":
		return eventsRetry(ctx, args[1:], getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, eventsUsage)
		return nil
	default:
		return fmt.Errorf("billingd events: unknown subcommand %q\n%s", args[0], eventsUsage)
	}
}

func eventsDead(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("billingd events dead", flag.ContinueOnError)
	fs.SetOutput(stdout)
	limit := fs.Int("limit", 100, "list at most this many (1 to 10000)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("billingd events dead: unexpected argument %q", fs.Arg(0))
	}
	return withQueue(ctx, getenv, func(q *jobs.Queue) error {
		dead, err := q.DeadDeliveries(ctx, *limit)
		if err != nil {
			return err
		}
		if len(dead) == 0 {
			fmt.Fprintln(stdout, "no dead deliveries")
			return nil
		}
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "JOB\tMESSAGE\tTYPE\tORG\tENDPOINT\tATTEMPTS\tFAILED AT\tLAST ERROR")
		for _, d := range dead {
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.JobID, d.MessageID, d.Type, d.OrgID,
				outbound.RedactEndpoint(d.Endpoint), d.Attempts, d.FinalizedAt.UTC().Format(time.RFC3339), d.LastError)
		}
		return w.Flush()
	})
}

func eventsRetry(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("billingd events retry: name the job ids to retry (billingd events dead lists them)")
	}
	ids := make([]int64, len(args))
	for i, a := range args {
		id, err := strconv.ParseInt(a, 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("billingd events retry: %q is not a job id", a)
		}
		ids[i] = id
	}
	return withQueue(ctx, getenv, func(q *jobs.Queue) error {
		for _, id := range ids {
			if err := q.RetryDelivery(ctx, id); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "job %d queued again\n", id)
		}
		return nil
	})
}

// withQueue runs fn with a queue on the configured database that works
// nothing itself.
func withQueue(ctx context.Context, getenv func(string) string, fn func(q *jobs.Queue) error) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	q, err := newQueue(cfg, st, newLogger(io.Discard, cfg.LogLevel), nil, jobs.Work{}, false)
	if err != nil {
		return err
	}
	return fn(q)
}
