package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds of a replica's life.
const (
	readyTimeout = 60 * time.Second // two replicas migrate one database at once
	stopTimeout  = 15 * time.Second
)

// buildBillingd compiles ./cmd/billingd of the module at root into dir, as a
// release build would (no race detector).
func buildBillingd(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "billingd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/billingd")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build billingd: %w\n%s", err, out)
	}
	return bin, nil
}

// moduleRoot is the directory of the go.mod the go command sees from here.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run billingd-bench inside the billingd module (make bench)")
	}
	return filepath.Dir(gomod), nil
}

// replica is a billingd child process.
type replica struct {
	name  string
	base  string // http://127.0.0.1:port
	cmd   *exec.Cmd
	out   *tailBuffer
	pprof string // address of its profiles, with -profile
	done  chan struct{}
	err   error // set once done is closed
}

// startReplica runs bin with env (the whole environment) on a free loopback
// port and returns once it is listening; call waitReady before using it.
func startReplica(bin, name string, env []string) (*replica, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &replica{name: name, base: "http://127.0.0.1:" + strconv.Itoa(port), out: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	r.cmd = exec.Command(bin)
	r.cmd.Env = append(slices.Clip(env), "PORT="+strconv.Itoa(port)) // never into the caller's spare capacity
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	dieWithParent(r.cmd)
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	return r, nil
}

// waitReady polls GET /readyz until it answers 200, the process exits or
// readyTimeout passes.
func (r *replica) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			return fmt.Errorf("%s exited before it was ready: %v; output:\n%s", r.name, r.err, r.out)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if resp, err := send(ctx, client, call{method: http.MethodGet, url: r.base + "/readyz"}); err == nil && resp.status == http.StatusOK {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %v; output:\n%s", r.name, readyTimeout, r.out)
}

func (r *replica) pid() int { return r.cmd.Process.Pid }

// stop sends SIGTERM and waits for a clean exit, killing the process if it
// takes longer than stopTimeout.
func (r *replica) stop() error {
	select {
	case <-r.done:
		return fmt.Errorf("%s had exited: %v; output:\n%s", r.name, r.err, r.out)
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
		if r.err != nil {
			return fmt.Errorf("%s: %v; output:\n%s", r.name, r.err, r.out)
		}
		return nil
	case <-time.After(stopTimeout):
		_ = r.cmd.Process.Kill()
		<-r.done
		return fmt.Errorf("%s did not stop within %v of SIGTERM; killed", r.name, stopTimeout)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// rssBytes reads the resident set size of process pid from /proc (Linux).
func rssBytes(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmRSS(f)
}

func parseVmRSS(r interface{ Read([]byte) (int, error) }) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		return kb << 10, err
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmRSS line")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	max   int
	total int64 // bytes ever written
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	t.total += int64(len(p))
	if over := t.buf.Len() - t.max; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

// mark is a position in what was written, for since.
func (t *tailBuffer) mark() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}

// since returns what was written after mark, as far as it is still kept.
func (t *tailBuffer) since(mark int64) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := min(t.total-mark, int64(t.buf.Len()))
	return string(t.buf.Bytes()[t.buf.Len()-int(n):])
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}
