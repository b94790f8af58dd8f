package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/billingd/billingd/internal/benchbaseline"
)

// The baseline (internal/benchbaseline) runs as a child process, this
// program started again with baselineRoleEnv set, so that it gets the same
// share of the machine as a billingd replica.

// Environment of the baseline child.
const (
	baselineRoleEnv   = "BILLINGD_BENCH_BASELINE"        // "1": serve the baseline instead
	baselineSecretEnv = "BILLINGD_BENCH_BASELINE_SECRET" // the HS256 secret
)

// serveBaseline is the child's whole life: serve on a loopback port, print
// its base URL as the first line of stdout, stop when ctx ends.
func serveBaseline(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	secret := getenv(baselineSecretEnv)
	if secret == "" {
		return errors.New("baseline: " + baselineSecretEnv + " is not set")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: benchbaseline.New([]byte(secret)), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// startBaseline starts the baseline child and returns it once it listens.
func startBaseline(secret []byte) (*replica, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	r := &replica{name: "baseline", out: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	r.cmd = exec.Command(self)
	r.cmd.Env = append(os.Environ(), baselineRoleEnv+"=1", baselineSecretEnv+"="+string(secret))
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	dieWithParent(r.cmd)
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	// The child prints its base URL and nothing else unless it fails.
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		if line, _, ok := strings.Cut(r.out.String(), "\n"); ok && strings.HasPrefix(line, "http://") {
			r.base = line
			return r, nil
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("baseline exited: %v; output:\n%s", r.err, r.out)
		case <-time.After(10 * time.Millisecond):
		}
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	return nil, fmt.Errorf("baseline did not start: %v; output:\n%s", r.err, r.out)
}
