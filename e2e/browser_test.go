package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/console"
)

// screenshotEnv names the file a test saves a full-page screenshot to.
const screenshotEnv = "HERALD_E2E_SCREENSHOT"

// waitTimeout bounds every wait for the page; the page polls every 100ms
// in these tests, so a few seconds means it is broken, not slow.
const waitTimeout = 20 * time.Second

// chromiumPath returns the browser to drive. Without one it fails the test
// in CI, where the tests must run, and skips it elsewhere.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HERALD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium not found: the console's browser tests need Debian's chromium " +
		"(apt-get update && apt-get install -y chromium), or HERALD_CHROMIUM set to a Chromium binary"
	if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
		t.Fatal(msg + " (CI is set: the browser tests may not be skipped)")
	}
	t.Skip(msg)
	return ""
}

// browser is one headless chromium tab, and what its page reported.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string // console errors, exceptions, failed loads
}

// newBrowser starts chromium with a fresh profile; it stops when the test
// ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath(t)
	profile, err := os.MkdirTemp("", "herald-e2e-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1400, 1000),
		// The machines have no internet: nothing may try to reach it.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		// No smooth scrolling: a click aimed at a button while the page
		// still scrolls would land on whatever moved under it.
		chromedp.Flag("force-prefers-reduced-motion", true),
		// The page polls on a timer; a background tab must not slow it.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit
		// Its helpers may still be writing the profile for a moment.
		for i := 0; ; i++ {
			err := os.RemoveAll(profile)
			if err == nil || i == 20 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Do(ctx); err != nil { // start it
		t.Fatalf("starting %s: %v", path, err)
	}
	if err := chromedp.Listen(ctx, b.watch); err != nil {
		t.Fatal(err)
	}
	return b
}

// watch records what the page reports as an error. It runs in chromedp's
// read loop: it only appends.
func (b *browser) watch(ev any) {
	var problem string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			problem = "console." + string(ev.Type) + ": " + strings.Join(args, " ")
		}
	case *runtime.EventExceptionThrown:
		problem = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			problem += " " + ev.ExceptionDetails.Exception.Description
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level == log.EntryLevelError {
			problem = "log (" + string(ev.Entry.Source) + "): " + ev.Entry.Text + " " + ev.Entry.URL
		}
	}
	if problem != "" {
		b.mu.Lock()
		b.problems = append(b.problems, problem)
		b.mu.Unlock()
	}
}

// problemsSoFar returns what the page reported as errors until now.
func (b *browser) problemsSoFar() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}

// do runs actions on the tab, failing the test on error.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v; the page reported %q", what, err, b.problemsSoFar())
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// open loads the console at url and waits for its first refresh.
func (b *browser) open(url string) {
	b.t.Helper()
	b.do("open "+url, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS(`#status[data-state="live"]`)))
}

// waitCell waits until the queue table shows value in column col of queue.
func (b *browser) waitCell(table, name, col string, value int) {
	b.t.Helper()
	sel := fmt.Sprintf(`#%s tbody tr[data-name=%q] td[data-col=%q][data-value="%d"]`, table, name, col, value)
	b.do(fmt.Sprintf("waiting for %s %q %s = %d", table, name, col, value), chromedp.WaitReady(chromedp.CSS(sel)))
}

// text returns the text of the element sel selects.
func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// screenshot saves a full-page screenshot to $HERALD_E2E_SCREENSHOT, or,
// for a test other than the main one, next to it with the test's name.
func (b *browser) screenshot(main bool) {
	b.t.Helper()
	path := os.Getenv(screenshotEnv)
	if path == "" {
		return
	}
	if !main {
		ext := filepath.Ext(path)
		path = strings.TrimSuffix(path, ext) + "-" + b.t.Name() + ext
	}
	ctx, cancel := context.WithTimeout(b.ctx, waitTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot saved to %s", path)
}

// serve mounts the console of b at /herald/ on a test server and returns
// the page's URL and where actions are logged.
func serve(t *testing.T, b *herald.Broker, opts ...console.Option) (string, *logBuffer) {
	t.Helper()
	var lb logBuffer
	opts = append([]console.Option{console.WithRefresh(100 * time.Millisecond),
		console.WithLogger(slog.New(slog.NewTextHandler(&lb, nil)))}, opts...)
	mux := http.NewServeMux()
	mux.Handle("/herald/", console.Handler(b, opts...))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/herald/", &lb
}

// logBuffer collects a slog handler's output.
type logBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sb.String()
}
