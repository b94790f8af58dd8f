// Package stripemock runs stripe-mock, Stripe's official mock of its API, which
// this module pins as a Go tool dependency (`go tool stripe-mock`). Tests reach it
// through internal/stripe/stripetest; dev mode starts it directly.
//
// stripe-mock validates every request against Stripe's OpenAPI spec and answers
// with fixtures; it keeps no state and sends no webhooks (see stripeevent for
// those). The package needs only a Go toolchain and the module's source tree.
package stripemock

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Server is a running stripe-mock process.
type Server struct {
	// URL is the base URL to give the Stripe client, e.g. "http://127.0.0.1:40123".
	URL string

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	out    *tailBuffer
}

// Start builds stripe-mock if the Go build cache does not hold it yet (the first
// time this takes a while; bound it with ctx), starts it on free loopback ports,
// and returns once it answers. The process runs until Close; on Linux it also
// dies with the process that started it.
//
// It must run inside this module's source tree, which pins stripe-mock's version.
func Start(ctx context.Context) (*Server, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	bin, err := build(ctx, root)
	if err != nil {
		return nil, err
	}
	// A free port can be taken by someone else before stripe-mock binds it; a
	// fresh pair usually is not. And when test binaries of several packages
	// start at once, one may exec the binary while another `go tool` still
	// writes it to the build cache ("text file busy"): a moment later it is whole.
	for attempt := 1; ; attempt++ {
		s, err := launch(ctx, bin)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			return s, err
		}
		time.Sleep(time.Duration(attempt) * 500 * time.Millisecond)
	}
}

// Close stops the process and waits for it to exit.
func (s *Server) Close() error {
	if err := s.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stripemock: stop: %w", err)
	}
	<-s.exited
	return nil
}

// build returns the path of the stripe-mock binary pinned by the module at root,
// compiling it into the build cache if needed. `go tool -n` prints the binary
// instead of running it, so the process started is stripe-mock itself rather
// than a `go` wrapper whose child could outlive a kill.
func build(ctx context.Context, root string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", "stripe-mock")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("stripemock: go tool -n stripe-mock in %s: %w: %s", root, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func launch(ctx context.Context, bin string) (*Server, error) {
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// stripe-mock serves HTTPS too unless given an address for it; bind that to
	// a free loopback port as well so that it never collides with anything.
	httpsAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s := &Server{URL: "http://" + httpAddr, exited: make(chan struct{}), out: &tailBuffer{}}
	s.cmd = exec.Command(bin, "-http-addr", httpAddr, "-https-addr", httpsAddr)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	dieWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("stripemock: start %s: %w", bin, err)
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// waitReady polls until stripe-mock answers HTTP at all (it opens its listeners
// only after loading the OpenAPI spec), it exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("stripemock: stripe-mock exited before answering: %s", s.out)
		case <-ctx.Done():
			return fmt.Errorf("stripemock: stripe-mock did not answer at %s: %w: %s", s.URL, ctx.Err(), s.out)
		case <-tick.C:
		}
	}
}

// freeAddr returns a loopback address with a port nobody listens on right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("stripemock: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// moduleRoot returns the nearest directory at or above the working directory
// that holds a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("stripemock: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("stripemock: no go.mod at or above the working directory; run inside the billingd module")
		}
		dir = parent
	}
}

// tailBuffer keeps the last few KiB of stripe-mock's output for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailSize = 4 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - tailSize; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.TrimSpace(string(b.buf))
}
