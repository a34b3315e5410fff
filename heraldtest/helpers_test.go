package heraldtest_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald"
)

// fakeT is a testing.TB that records failures instead of failing, so that
// tests can check what heraldtest reports, and examples can print it. Only
// the methods heraldtest calls are implemented; the embedded TB (nil in
// examples) would serve any other, and a nil one panics.
type fakeT struct {
	testing.TB

	mu       sync.Mutex
	logs     []string
	failed   bool
	cleanups []func()
}

func (f *fakeT) Helper() {}

func (f *fakeT) Errorf(format string, args ...any) { f.fail(fmt.Sprintf(format, args...)) }
func (f *fakeT) Error(args ...any)                 { f.fail(fmt.Sprint(args...)) }

func (f *fakeT) Fatalf(format string, args ...any) {
	f.fail(fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (f *fakeT) Fatal(args ...any) {
	f.fail(fmt.Sprint(args...))
	runtime.Goexit()
}

func (f *fakeT) fail(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
	f.logs = append(f.logs, msg)
}

func (f *fakeT) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *fakeT) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

// output returns what was reported, one report after another.
func (f *fakeT) output() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.logs, "\n")
}

// run calls fn as a test would, on a goroutine of its own so that Fatal
// can end it, then runs the cleanups, last registered first, on the
// caller's goroutine, which the leak check leaves out (heraldtest's
// cleanups never call Fatal).
func (f *fakeT) run(fn func(t testing.TB)) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	f.mu.Lock()
	cleanups := f.cleanups
	f.cleanups = nil
	f.mu.Unlock()
	for _, c := range slices.Backward(cleanups) {
		c()
	}
}

// runFake runs fn with a fakeT and returns it, for checking what it
// reported.
func runFake(t *testing.T, fn func(t testing.TB)) *fakeT {
	t.Helper()
	f := &fakeT{TB: t}
	f.run(fn)
	return f
}

// consume runs h on c until the test ends (or the broker closes).
func consume(t testing.TB, c interface {
	Consume(context.Context, herald.Handler, ...herald.ConsumeOption) error
}, h herald.Handler, opts ...herald.ConsumeOption) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Consume(ctx, h, opts...)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func must[T any](t testing.TB) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func mustOK(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func timeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
