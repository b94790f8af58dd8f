package main

import (
	"context"
	"net"
	"strings"
	"testing"
)

// serve buffers its log lines (logFlushInterval) but writes every one of
// them before it returns, however it ends: checked at once, before the
// interval could have flushed them.
func TestServeLog_WrittenBeforeServeReturns(t *testing.T) {
	t.Run("ErrorExit", func(t *testing.T) {
		taken, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer taken.Close()
		env := baseEnv(t, freePort(t))
		env["LOG_LEVEL"] = "info"
		env["PPROF_ADDR"] = taken.Addr().String() // fails right after the first line
		ctx, cancel := context.WithTimeout(t.Context(), readyTimeout)
		defer cancel()
		var out syncBuffer
		if err := run(ctx, []string{"billingd"}, getenvFrom(env), &out, &out); err == nil {
			t.Fatal("run = nil with PPROF_ADDR taken")
		}
		if !strings.Contains(out.String(), `"msg":"starting billingd"`) {
			t.Errorf("the info line logged before the error is missing: %q", out.String())
		}
	})
	t.Run("Shutdown", func(t *testing.T) {
		b := launch(t, map[string]string{"LOG_LEVEL": "info"})
		b.stop(t)
		if !strings.Contains(b.logs.String(), `"msg":"stopped"`) {
			t.Errorf("the last info line is missing after run returned:\n%s", b.logs)
		}
	})
}
