package browsertest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/billingd/billingd/internal/browsertest"
)

// The page fills #out from a script, so reading it proves that the browser
// loaded the page and ran its JavaScript.
const page = `<!doctype html>
<title>self-test</title>
<p id="out">waiting</p>
<script>
  console.log("self-test page ran", 42);
  document.getElementById("out").textContent = "hello from " + location.host;
</script>`

func TestNew_ReadsTextOfAServedPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	defer srv.Close()

	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("out")))
	if err != nil {
		t.Fatalf("read #out: %v", err)
	}
	if want := "hello from " + srv.Listener.Addr().String(); text != want {
		t.Fatalf("#out = %q, want %q", text, want)
	}
}

func TestWaitText_SeesTextThatArrivesLater(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><p id="out">soon</p>
<script>setTimeout(() => { document.getElementById("out").textContent = "done" }, 300)</script>`)
	}))
	defer srv.Close()

	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	if got := browsertest.WaitText(t, ctx, "#out", "done"); got != "done" {
		t.Fatalf("WaitText = %q, want %q", got, "done")
	}
}

func TestNew_SkipsWithoutBrowserOutsideCI(t *testing.T) {
	t.Setenv("CI", "")
	t.Setenv("CHROME_PATH", "/nonexistent/chromium")
	var sub *testing.T
	t.Run("no browser", func(t *testing.T) {
		sub = t
		browsertest.New(t)
		t.Error("New returned without a browser")
	})
	if !sub.Skipped() {
		t.Fatal("the test was not skipped")
	}
}
