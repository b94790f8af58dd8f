// Package browsertest runs tests in a real, headless Chromium through chromedp,
// so that the pages dev mode serves are checked the way a browser runs them:
// fetch, CORS, sessionStorage and navigation included.
//
// [New] starts one browser for a test and stops it when the test ends. When
// the environment variable CI is set, a missing or failing browser fails the
// test; elsewhere it skips it, naming the reason. The page's console messages
// and uncaught exceptions go to the test log.
//
// It is a test helper: only _test.go files import it.
package browsertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browsers looked for on PATH, in order, when CHROME_PATH is not set.
var browsers = []string{"chromium", "chromium-browser", "google-chrome"}

// Bounds of a test's browser.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 10 * time.Second
	// WaitTimeout is how long [WaitText] waits when ctx has no deadline.
	WaitTimeout = 15 * time.Second
	pollEvery   = 50 * time.Millisecond
)

// New starts a headless Chromium with a fresh profile and returns the context
// of its first tab, for chromedp.Do and chromedp.Run. The browser stops when
// the test ends.
func New(t *testing.T) context.Context {
	t.Helper()
	path, err := browserPath()
	if err != nil {
		unavailable(t, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // containers and CI runners often have no user namespaces
		chromedp.DisableGPU,
		// Nothing but the test's own servers: the machine may be offline.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, _ := chromedp.NewContext(allocCtx, chromedp.WithListener(logConsole(t)))

	// The first Do starts the browser and binds it to ctx; its own timeout
	// must not, so it is watched from the side.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err = <-started:
	case <-time.After(startTimeout):
		err = fmt.Errorf("no answer within %v", startTimeout)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, stopTimeout)
		defer cancel()
		if err := chromedp.Cancel(stopCtx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("browsertest: closing the browser: %v", err)
		}
		cancelAlloc() // waits until the process is gone and its profile removed
	})
	if err != nil {
		unavailable(t, fmt.Errorf("start %s: %w", path, err))
	}
	return ctx
}

// browserPath finds the browser: $CHROME_PATH, else the first of browsers on PATH.
func browserPath() (string, error) {
	if p := os.Getenv("CHROME_PATH"); p != "" {
		found, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("CHROME_PATH: %w", err)
		}
		return found, nil
	}
	for _, name := range browsers {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %s is on PATH (install one, e.g. apt-get install chromium, or set CHROME_PATH)",
		strings.Join(browsers, ", "))
}

// unavailable ends a test that has no browser: a failure on CI, where browser
// tests must run, and a skip elsewhere.
func unavailable(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("browsertest: no browser, and CI is set: %v", err)
	}
	t.Skipf("browsertest: no browser: %v", err)
}

// logConsole returns a listener that copies the page's console calls and
// uncaught exceptions to the test log. It runs in chromedp's read loop, so it
// only formats and logs.
func logConsole(t *testing.T) func(ev any) {
	return func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			args := make([]string, len(ev.Args))
			for i, a := range ev.Args {
				args[i] = remoteText(a)
			}
			t.Logf("browser console.%s: %s", ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			text := d.Text
			if d.Exception != nil {
				text += " " + d.Exception.Description
			}
			t.Logf("browser exception at %s:%d: %s", d.URL, d.LineNumber+1, text)
		}
	}
}

// remoteText is how the DevTools console would show a logged value, in short.
func remoteText(o *runtime.RemoteObject) string {
	switch {
	case o.Type == "string":
		return strings.Trim(string(o.Value), `"`)
	case len(o.Value) > 0:
		return string(o.Value)
	case o.UnserializableValue != "":
		return string(o.UnserializableValue)
	default:
		return o.Description
	}
}

// WaitText waits until the text of the first element matching the CSS
// selector contains want, across page loads, and fails the test with the
// last text seen when it does not within ctx's deadline (default WaitTimeout).
func WaitText(t *testing.T, ctx context.Context, selector, want string) string {
	t.Helper()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, WaitTimeout)
		defer cancel()
	}
	// Evaluated rather than queried: a query waits for the node, and a
	// navigation in between would leave it waiting on the old document.
	quoted, _ := json.Marshal(selector) // a JS string literal
	expr := fmt.Sprintf(`(document.querySelector(%s) || {}).textContent || ""`, quoted)
	var last string
	var lastErr error
	for {
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err == nil && strings.Contains(text, want) {
			return text
		}
		if err == nil {
			last = text
		} else if ctx.Err() == nil {
			lastErr = err // e.g. the page navigated during the call; try again
		}
		select {
		case <-ctx.Done():
			where, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			url, _ := chromedp.Run(where, chromedp.Location())
			cancel()
			if lastErr != nil {
				t.Logf("last error reading %s: %v", selector, lastErr)
			}
			t.Fatalf("%s on %s: text %q does not contain %q", selector, url, last, want)
		case <-time.After(pollEvery):
		}
	}
}
