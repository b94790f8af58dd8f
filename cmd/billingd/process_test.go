package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// childProcessEnv makes the test binary run main() instead of the tests, so
// that tests can start billingd as real processes — replicas sharing one
// database, receiving real signals — without building another binary.
const childProcessEnv = "BILLINGD_TEST_CHILD"

// process is billingd running as a child process.
type process struct {
	base string // http://127.0.0.1:PORT
	cmd  *exec.Cmd
	logs *syncBuffer
	exit chan error // receives Wait's result once
}

// startProcess starts billingd as a process with exactly env (plus the child
// marker), without waiting for it to answer. It is killed when the test ends
// if it is still running.
func startProcess(t *testing.T, env map[string]string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{childProcessEnv + "=1"}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	p := &process{base: "http://127.0.0.1:" + env["PORT"], cmd: cmd, logs: &syncBuffer{}, exit: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start billingd process: %v", err)
	}
	go func() { p.exit <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return p
}

// waitReady waits until the process's /readyz answers 200.
func (p *process) waitReady(t *testing.T) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		// Let waitForReady see an early exit without consuming it for good.
		err := <-p.exit
		p.exit <- err
		done <- err
	}()
	if err := waitForReady(context.Background(), newClient(t), p.base+"/readyz", done); err != nil {
		t.Fatalf("billingd at %s not ready: %v; logs:\n%s", p.base, err, p.logs)
	}
}

// terminate sends SIGTERM, as Kubernetes does.
func (p *process) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
}

// waitExit waits up to within for the process to exit and returns its exit code.
func (p *process) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-p.exit:
		p.exit <- err
		var exitErr *exec.ExitError
		if err != nil && !errors.As(err, &exitErr) {
			t.Fatalf("wait: %v", err)
		}
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("billingd did not exit within %v; logs:\n%s", within, p.logs)
		return -1
	}
}

// stop terminates the process and checks it exits cleanly.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.terminate(t)
	if code := p.waitExit(t, stopTimeout); code != 0 {
		t.Errorf("billingd exited with %d after SIGTERM, want 0; logs:\n%s", code, p.logs)
	}
}

// replicaEnv is the environment of one replica among several sharing env's
// database and secrets.
func replicaEnv(env map[string]string, port int) map[string]string {
	e := maps.Clone(env)
	e["PORT"] = strconv.Itoa(port)
	return e
}

func (p *process) String() string { return fmt.Sprintf("billingd at %s", p.base) }
