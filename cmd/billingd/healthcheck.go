package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// healthcheckDefaultPort is the port billingd listens on when PORT is unset
// (SPEC §2). It is repeated here so that a probe never needs the rest of the
// configuration; TestHealthcheck/DefaultPort holds it to config's default.
const healthcheckDefaultPort = "8080"

// healthcheck probes a running billingd over HTTP and fails unless it answers
// 200. It exists for images without curl (distroless): Docker's HEALTHCHECK
// runs `billingd healthcheck` inside the container. It reads only PORT, never
// the rest of the configuration, so it works wherever the server does.
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("billingd healthcheck", flag.ContinueOnError)
	fs.SetOutput(stdout)
	url := fs.String("url", "", "full URL to probe (default http://127.0.0.1:$PORT + -path)")
	path := fs.String("path", "/healthz", "path to probe on the local billingd, e.g. /readyz")
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	target := *url
	if target == "" {
		port := strings.TrimSpace(getenv("PORT")) // trimmed and defaulted as config.Load does
		if port == "" {
			port = healthcheckDefaultPort
		}
		target = "http://" + net.JoinHostPort("127.0.0.1", port) + *path
	}
	if err := probe(ctx, target, *timeout); err != nil {
		return fmt.Errorf("billingd healthcheck: %w", err)
	}
	return nil
}

// probe GETs target and returns an error of one line unless it answers 200.
func probe(ctx context.Context, target string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	// No proxy from the environment: the probe is about this host's server.
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", target, resp.Status)
	}
	return nil
}
