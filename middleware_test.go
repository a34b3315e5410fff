package herald

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// trace records events from concurrent handlers and middleware.
type trace struct {
	mu     sync.Mutex
	events []string
}

func (tr *trace) add(e string) {
	tr.mu.Lock()
	tr.events = append(tr.events, e)
	tr.mu.Unlock()
}

func (tr *trace) take() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	s := strings.Join(tr.events, " ")
	tr.events = nil
	return s
}

// recorder returns middleware that records "name>" on entry and "name<"
// on exit, and counts how many handlers it wrapped.
func (tr *trace) recorder(name string, wraps *atomic.Int64) Middleware {
	return func(next Handler) Handler {
		wraps.Add(1)
		return func(ctx context.Context, d *Delivery) error {
			tr.add(name + ">")
			defer tr.add(name + "<")
			return next(ctx, d)
		}
	}
}

func TestMiddlewareOrder(t *testing.T) {
	var tr trace
	var wraps atomic.Int64
	rec := func(name string) Middleware { return tr.recorder(name, &wraps) }
	b := newTestBroker(t, WithMiddleware(rec("b1"), rec("b2")), WithLogger(slog.New(slog.DiscardHandler)), WithMiddleware(rec("b3")))
	q := mustQueue(t, b, "q")
	handler := func(context.Context, *Delivery) error { tr.add("h"); return nil }

	startConsumer(t, q, handler,
		WithMiddleware(rec("c1"), rec("c2")), WithConcurrency(3), WithMiddleware(rec("c3")))
	publishOrFail(t, q, 1)
	waitIdle(t, b)
	const want = "b1> b2> b3> c1> c2> c3> h c3< c2< c1< b3< b2< b1<"
	if got := tr.take(); got != want {
		t.Fatalf("order:\n got %s\nwant %s", got, want)
	}
	if n := wraps.Load(); n != 6 {
		t.Fatalf("middleware wrapped %d handlers for one consumer of 3 goroutines, want 6 (each once)", n)
	}

	// The broker's middleware apply to every consumer, topics' too; the
	// consumer's to that consumer only.
	tp := topicOrFail(t, b, "t")
	sub := subscribeOrFail(t, tp)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Consume(ctx, handler) }()
	if err := tp.Publish(context.Background(), NewMessage(2)); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, b)
	cancel()
	waitErr(t, done)
	if got, want := tr.take(), "b1> b2> b3> h b3< b2< b1<"; got != want {
		t.Fatalf("subscription order:\n got %s\nwant %s", got, want)
	}
}

func TestMiddlewareInvalid(t *testing.T) {
	pass := func(next Handler) Handler { return next }
	drop := func(Handler) Handler { return nil }
	h := func(context.Context, *Delivery) error { return nil }
	tests := []struct {
		name           string
		broker, consum []Middleware
		want           string
	}{
		{"nil consumer middleware", nil, []Middleware{pass, nil}, "herald: invalid argument: nil middleware"},
		{"nil broker middleware", []Middleware{nil}, []Middleware{pass}, "herald: invalid argument: nil middleware"},
		{"nil handler returned", []Middleware{pass}, []Middleware{drop}, "herald: invalid argument: middleware returned a nil handler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBroker(t, WithMiddleware(tt.broker...))
			q := mustQueue(t, b, "q")
			err := q.Consume(context.Background(), h, WithMiddleware(tt.consum...))
			if !errors.Is(err, ErrInvalid) || err.Error() != tt.want {
				t.Fatalf("Consume = %v, want %q", err, tt.want)
			}
		})
	}
}

// An option value may be reused and its argument slice changed afterwards:
// neither leaks into another consumer.
func TestMiddlewareOptionReuse(t *testing.T) {
	var tr trace
	var wraps atomic.Int64
	mws := []Middleware{tr.recorder("a", &wraps)}
	opt := WithMiddleware(mws...)
	mws[0] = tr.recorder("changed", &wraps)
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	h := func(context.Context, *Delivery) error { tr.add("h"); return nil }
	for range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, h, opt)
		publishOrFail(t, q, 1)
		waitIdle(t, b)
		cancel()
		waitErr(t, done)
		if got := tr.take(); got != "a> h a<" {
			t.Fatalf("handled %s, want a> h a<", got)
		}
	}
}

func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(0, 0), WithMaxDeliveries(1))
		var left []time.Duration
		var errs []error
		var elapsed time.Duration
		startConsumer(t, q, func(ctx context.Context, d *Delivery) error {
			deadline, ok := ctx.Deadline()
			if !ok {
				left = append(left, -1)
				return nil
			}
			left = append(left, time.Until(deadline))
			if d.Body == "stuck" {
				start := time.Now()
				<-ctx.Done()
				elapsed = time.Since(start)
				errs = append(errs, ctx.Err())
				return ctx.Err()
			}
			return nil
		}, WithMiddleware(Timeout(5*time.Second)))
		publishOrFail(t, q, "quick")
		publishOrFail(t, q, "stuck")
		waitIdle(t, b)
		if len(left) != 2 || left[0] != 5*time.Second || left[1] != 5*time.Second {
			t.Fatalf("time left to the deadline %v, want [5s 5s]", left)
		}
		if elapsed != 5*time.Second || len(errs) != 1 || errs[0] != context.DeadlineExceeded {
			t.Fatalf("stuck handler waited %v and got %v, want 5s and DeadlineExceeded", elapsed, errs)
		}
		wantStats(t, q, QueueStats{Published: 2, Delivered: 2, Acked: 1, Nacked: 1, Rejected: 1, Consumers: 1})
	})
}

func TestTimeoutZeroSetsNoDeadline(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		h := Timeout(d)(func(ctx context.Context, _ *Delivery) error {
			if _, ok := ctx.Deadline(); ok {
				return errors.New("deadline set")
			}
			return ctx.Err()
		})
		if err := h(context.Background(), &Delivery{Message: NewMessage(1)}); err != nil {
			t.Fatalf("Timeout(%v): %v", d, err)
		}
	}
}

// flaky returns a handler that fails the first fails calls, recording the
// time since start and the delivery's attempt of every call.
func flaky(fails int, start time.Time, calls *[]string, err error) Handler {
	return func(_ context.Context, d *Delivery) error {
		*calls = append(*calls, time.Since(start).String()+"#"+strconv.Itoa(d.Attempt))
		if len(*calls) <= fails {
			return err
		}
		return nil
	}
}

func TestRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		var calls []string
		start := time.Now()
		startConsumer(t, q, flaky(2, start, &calls, errors.New("busy")),
			WithMiddleware(Retry(RetryBackoff(time.Second, time.Minute), RetryJitter(0))))
		publishOrFail(t, q, "x")
		waitIdle(t, b)
		// Waits of 1s then 2s, all on the first and only delivery.
		if got := strings.Join(calls, " "); got != "0s#1 1s#1 3s#1" {
			t.Fatalf("calls at %s, want 0s#1 1s#1 3s#1", got)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Acked: 1, Consumers: 1})
	})
}

func TestRetryDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var at []time.Duration
		start := time.Now()
		fail := errors.New("busy")
		h := Retry()(func(context.Context, *Delivery) error {
			at = append(at, time.Since(start))
			return fail
		})
		if err := h(context.Background(), &Delivery{Message: NewMessage(1)}); err != fail {
			t.Fatalf("Retry returned %v, want the last error", err)
		}
		// 3 calls; waits of 100ms then 200ms, each ±20%.
		if len(at) != 3 || at[0] != 0 ||
			at[1] < 80*time.Millisecond || at[1] > 120*time.Millisecond ||
			at[2]-at[1] < 160*time.Millisecond || at[2]-at[1] > 240*time.Millisecond {
			t.Fatalf("calls at %v, want 3: at 0, after 100ms±20%%, after 200ms±20%% more", at)
		}
	})
}

func TestRetryBackoffCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []string
		start := time.Now()
		h := Retry(RetryAttempts(6), RetryBackoff(time.Second, 5*time.Second), RetryMultiplier(3), RetryJitter(0))(
			flaky(10, start, &calls, errors.New("busy")))
		h(context.Background(), &Delivery{Message: NewMessage(1), Attempt: 1})
		// Waits 1s, 3s, then capped at 5s.
		if got := strings.Join(calls, " "); got != "0s#1 1s#1 4s#1 9s#1 14s#1 19s#1" {
			t.Fatalf("calls at %s", got)
		}
	})
}

func TestRetryStops(t *testing.T) {
	mw := Retry(RetryBackoff(time.Hour, time.Hour), RetryAttempts(5))
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) { synctest.Test(t, f) })
	}
	run("permanent", func(t *testing.T) {
		var calls int
		perm := Permanent(errors.New("bad"))
		h := mw(func(context.Context, *Delivery) error { calls++; return perm })
		if err := h(context.Background(), &Delivery{Message: NewMessage(1)}); err != perm || calls != 1 {
			t.Fatalf("returned %v after %d calls, want the permanent error after 1", err, calls)
		}
	})
	run("settled by the handler", func(t *testing.T) {
		var calls int
		h := mw(func(_ context.Context, d *Delivery) error {
			calls++
			d.Nack()
			return errors.New("nacked")
		})
		if err := h(context.Background(), &Delivery{Message: NewMessage(1)}); err == nil || calls != 1 {
			t.Fatalf("returned %v after %d calls, want the error after 1", err, calls)
		}
	})
	run("attempts used up", func(t *testing.T) {
		var calls int
		h := Retry(RetryAttempts(4), RetryBackoff(0, 0))(func(context.Context, *Delivery) error {
			calls++
			return errors.New("busy")
		})
		start := time.Now()
		if err := h(context.Background(), &Delivery{Message: NewMessage(1)}); err == nil || calls != 4 || time.Since(start) != 0 {
			t.Fatalf("returned %v after %d calls in %v, want an error after 4 in 0s", err, calls, time.Since(start))
		}
	})
	run("ctx cancelled during a wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int64
		busy := errors.New("busy")
		h := mw(func(context.Context, *Delivery) error { calls.Add(1); return busy })
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- h(ctx, &Delivery{Message: NewMessage(1)}) }()
		synctest.Wait() // the first call has failed; Retry waits an hour
		cancel()
		if err := <-done; err != busy || calls.Load() != 1 || time.Since(start) != 0 {
			t.Fatalf("returned %v after %d calls in %v, want busy after 1 call at once", err, calls.Load(), time.Since(start))
		}
	})
	run("ctx already done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var calls int
		h := Retry(RetryBackoff(0, 0))(func(context.Context, *Delivery) error { calls++; return errors.New("busy") })
		if err := h(ctx, &Delivery{Message: NewMessage(1)}); err == nil || calls != 1 {
			t.Fatalf("returned %v after %d calls, want an error after 1", err, calls)
		}
	})
}

// A consumer stopped while Retry waits returns at once, and the delivery
// goes back to the queue.
func TestRetryConsumerCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(0, 0))
		var calls atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(context.Context, *Delivery) error {
			calls.Add(1)
			return errors.New("busy")
		}, WithMiddleware(Retry(RetryBackoff(time.Hour, time.Hour))))
		publishOrFail(t, q, "x")
		synctest.Wait()
		start := time.Now()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) || time.Since(start) != 0 {
			t.Fatalf("Consume = %v after %v, want context.Canceled at once", err, time.Since(start))
		}
		if calls.Load() != 1 {
			t.Fatalf("handler called %d times, want 1", calls.Load())
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Nacked: 1, Ready: 1})
	})
}

func TestRetryOptionsClamp(t *testing.T) {
	c := retryConfig{}
	for _, o := range []RetryOption{RetryAttempts(-2), RetryBackoff(-time.Second, -time.Minute), RetryMultiplier(0.5), RetryJitter(7)} {
		o.applyRetry(&c)
	}
	if c != (retryConfig{attempts: 1, initial: 0, max: 0, multiplier: 1, jitter: 1}) {
		t.Fatalf("clamped config %+v", c)
	}
	RetryJitter(-1).applyRetry(&c)
	RetryBackoff(time.Second, time.Millisecond).applyRetry(&c)
	if c.jitter != 0 || c.initial != time.Second || c.max != time.Second {
		t.Fatalf("clamped config %+v", c)
	}
}

// newTestLogger returns a logger that writes text records, without their
// time, to buf.
func newTestLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// syncBuffer is a bytes.Buffer that handler goroutines may write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestLogging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuffer
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(0, 0))
		startConsumer(t, q, func(_ context.Context, d *Delivery) error {
			time.Sleep(250 * time.Millisecond) // work, in fake time
			if d.ID == "m2" && d.Attempt == 1 {
				return errors.New("boom")
			}
			return nil
		}, WithMiddleware(Logging(newTestLogger(&buf, slog.LevelDebug))))
		publishMsg(t, q, &Message{ID: "m1", Body: 1})
		publishMsg(t, q, &Message{ID: "m2", Body: 2})
		waitIdle(t, b)
		const want = `level=DEBUG msg="delivery handled" source=q id=m1 attempt=1 duration=250ms
level=WARN msg="delivery failed" source=q id=m2 attempt=1 duration=250ms error=boom
level=DEBUG msg="delivery handled" source=q id=m2 attempt=2 duration=250ms
`
		if got := buf.String(); got != want {
			t.Fatalf("log:\n%s\nwant:\n%s", got, want)
		}
	})
}

// Below the logger's level nothing is logged; a delivery with no message
// is logged with empty fields rather than a panic.
func TestLoggingLevel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		l := newTestLogger(&buf, slog.LevelWarn)
		ok := Logging(l)(func(context.Context, *Delivery) error { return nil })
		fail := Logging(l)(func(context.Context, *Delivery) error { return Permanent(errors.New("bad")) })
		var noDelivery *Delivery
		ok(context.Background(), &Delivery{Message: NewMessage(1)})
		fail(context.Background(), noDelivery)
		const want = `level=WARN msg="delivery failed" source="" id="" attempt=0 duration=0s error="permanent: bad"` + "\n"
		if got := buf.String(); got != want {
			t.Fatalf("log at Warn:\n%q\nwant\n%q", got, want)
		}
	})
}

func TestRecoverInsideLogging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf syncBuffer
		b := newTestBroker(t, WithMiddleware(Logging(newTestLogger(&buf, slog.LevelDebug)), Recover()))
		q := mustQueue(t, b, "q", WithBackoff(0, 0))
		startConsumer(t, q, func(_ context.Context, d *Delivery) error {
			if d.Attempt == 1 {
				panic("kaboom")
			}
			return nil
		})
		publishMsg(t, q, &Message{ID: "m1", Body: 1})
		waitIdle(t, b)
		const want = `level=WARN msg="delivery failed" source=q id=m1 attempt=1 duration=0s error="herald: handler panicked: kaboom"
level=DEBUG msg="delivery handled" source=q id=m1 attempt=2 duration=0s
`
		if got := buf.String(); got != want {
			t.Fatalf("log:\n%s\nwant:\n%s", got, want)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 2, Nacked: 1, Acked: 1, Consumers: 1})
	})
}

func TestRecover(t *testing.T) {
	h := Recover()(func(context.Context, *Delivery) error { panic("kaboom") })
	err := h(context.Background(), &Delivery{Message: NewMessage(1)})
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "kaboom" || !strings.Contains(string(pe.Stack), "TestRecover") {
		t.Fatalf("Recover returned %v (%T), want a *PanicError with the value and stack", err, err)
	}
	// Inside Retry, a panic is retried like an error.
	var calls int
	h = Retry(RetryBackoff(0, 0))(Recover()(func(context.Context, *Delivery) error {
		if calls++; calls < 3 {
			panic("again")
		}
		return nil
	}))
	if err := h(context.Background(), &Delivery{Message: NewMessage(1)}); err != nil || calls != 3 {
		t.Fatalf("Retry(Recover) returned %v after %d calls, want nil after 3", err, calls)
	}
}
