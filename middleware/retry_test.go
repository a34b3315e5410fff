package middleware

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/heraldtest"
)

// flaky returns a handler that fails the first fails calls, recording the
// time since start and the delivery's attempt of every call.
func flaky(fails int, start time.Time, calls *[]string, err error) herald.Handler {
	return func(_ context.Context, d *herald.Delivery) error {
		*calls = append(*calls, since(start)+"#"+strconv.Itoa(d.Attempt))
		if len(*calls) <= fails {
			return err
		}
		return nil
	}
}

func TestRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBroker(t)
		q := declareQueue(t, b, "q")
		var calls []string
		start := time.Now()
		startConsumer(t, q, flaky(2, start, &calls, errors.New("busy")),
			herald.WithMiddleware(Retry(RetryPolicy{InitialWait: time.Second, MaxWait: time.Minute, Jitter: -1})))
		publish(t, q, herald.NewMessage("x"))
		heraldtest.Settle(t, b)
		// Waits of 1s then 2s, all on the first and only delivery.
		if got := strings.Join(calls, " "); got != "0s#1 1s#1 3s#1" {
			t.Fatalf("calls at %s, want 0s#1 1s#1 3s#1", got)
		}
		wantStats(t, q, herald.QueueStats{Published: 1, Delivered: 1, Acked: 1, Consumers: 1})
	})
}

// The zero policy is 3 calls, 100ms then 200ms apart, each wait ±20%.
func TestRetryZeroPolicy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var at []time.Duration
		start := time.Now()
		fail := errors.New("busy")
		h := Retry(RetryPolicy{})(func(context.Context, *herald.Delivery) error {
			at = append(at, time.Since(start))
			return fail
		})
		if err := h(context.Background(), bare(1)); err != fail {
			t.Fatalf("Retry returned %v, want the last error", err)
		}
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
		h := Retry(RetryPolicy{Attempts: 6, InitialWait: time.Second, MaxWait: 5 * time.Second, Multiplier: 3, Jitter: -1})(
			flaky(10, start, &calls, errors.New("busy")))
		h(context.Background(), bare(1))
		// Waits 1s, 3s, then capped at 5s.
		if got := strings.Join(calls, " "); got != "0s#1 1s#1 4s#1 9s#1 14s#1 19s#1" {
			t.Fatalf("calls at %s", got)
		}
	})
}

// Every field of a policy: 0 is its default, and a value out of range is
// brought into range as RetryPolicy documents.
func TestRetryPolicyResolved(t *testing.T) {
	tests := []struct {
		name       string
		give, want RetryPolicy
	}{
		{"zero is the defaults", RetryPolicy{},
			RetryPolicy{Attempts: 3, InitialWait: 100 * time.Millisecond, MaxWait: 10 * time.Second, Multiplier: 2, Jitter: 0.2}},
		{"in range is kept", RetryPolicy{Attempts: 7, InitialWait: time.Second, MaxWait: time.Minute, Multiplier: 1.5, Jitter: 0.5},
			RetryPolicy{Attempts: 7, InitialWait: time.Second, MaxWait: time.Minute, Multiplier: 1.5, Jitter: 0.5}},
		{"negative means none", RetryPolicy{Attempts: -2, InitialWait: -time.Second, MaxWait: -time.Minute, Multiplier: -1, Jitter: -0.5},
			RetryPolicy{Attempts: 1, InitialWait: 0, MaxWait: 0, Multiplier: 1, Jitter: 0}},
		{"max below initial", RetryPolicy{InitialWait: time.Second, MaxWait: time.Millisecond},
			RetryPolicy{Attempts: 3, InitialWait: time.Second, MaxWait: time.Second, Multiplier: 2, Jitter: 0.2}},
		{"max below the default initial", RetryPolicy{MaxWait: time.Millisecond},
			RetryPolicy{Attempts: 3, InitialWait: 100 * time.Millisecond, MaxWait: 100 * time.Millisecond, Multiplier: 2, Jitter: 0.2}},
		{"multiplier below 1, jitter above 1", RetryPolicy{Multiplier: 0.5, Jitter: 7},
			RetryPolicy{Attempts: 3, InitialWait: 100 * time.Millisecond, MaxWait: 10 * time.Second, Multiplier: 1, Jitter: 1}},
		{"NaN", RetryPolicy{Multiplier: math.NaN(), Jitter: math.NaN()},
			RetryPolicy{Attempts: 3, InitialWait: 100 * time.Millisecond, MaxWait: 10 * time.Second, Multiplier: 1, Jitter: 0}},
		{"infinities", RetryPolicy{Multiplier: math.Inf(1), Jitter: math.Inf(1)},
			RetryPolicy{Attempts: 3, InitialWait: 100 * time.Millisecond, MaxWait: 10 * time.Second, Multiplier: math.Inf(1), Jitter: 1}},
	}
	for _, tt := range tests {
		if got := tt.give.resolved(); got != tt.want {
			t.Errorf("%s: %+v resolved to\n %+v, want\n %+v", tt.name, tt.give, got, tt.want)
		}
	}
}

// Extreme policies wait as documented, without a panic or a wait that
// overflows.
func TestRetryExtremeWaits(t *testing.T) {
	tests := []struct {
		name string
		p    RetryPolicy
		want string
	}{
		{"no waits", RetryPolicy{Attempts: 4, InitialWait: -1}, "0s#1 0s#1 0s#1 0s#1"},
		{"no waits, infinite multiplier", RetryPolicy{Attempts: 3, InitialWait: -1, Multiplier: math.Inf(1)}, "0s#1 0s#1 0s#1"},
		{"infinite multiplier", RetryPolicy{Attempts: 4, InitialWait: time.Second, MaxWait: time.Hour, Multiplier: math.Inf(1), Jitter: -1},
			"0s#1 1s#1 1h0m1s#1 2h0m1s#1"},
		{"no growth", RetryPolicy{Attempts: 4, InitialWait: time.Second, Multiplier: 0.1, Jitter: -1}, "0s#1 1s#1 2s#1 3s#1"},
		{"longest wait", RetryPolicy{Attempts: 3, InitialWait: math.MaxInt64, Jitter: 1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var calls []string
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), 1000*time.Hour)
				defer cancel()
				Retry(tt.p)(flaky(100, start, &calls, errors.New("busy")))(ctx, bare(1))
				if tt.want == "" {
					// A wait that long: the context ends it.
					if len(calls) != 1 {
						t.Fatalf("calls at %v, want one, then a wait cut by ctx", calls)
					}
					return
				}
				if got := strings.Join(calls, " "); got != tt.want {
					t.Fatalf("calls at %s, want %s", got, tt.want)
				}
			})
		})
	}
}

func TestRetryStops(t *testing.T) {
	mw := Retry(RetryPolicy{Attempts: 5, InitialWait: time.Hour, MaxWait: time.Hour})
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) { synctest.Test(t, f) })
	}
	run("permanent", func(t *testing.T) {
		var calls int
		perm := herald.Permanent(errors.New("bad"))
		h := mw(func(context.Context, *herald.Delivery) error { calls++; return perm })
		if err := h(context.Background(), bare(1)); err != perm || calls != 1 {
			t.Fatalf("returned %v after %d calls, want the permanent error after 1", err, calls)
		}
	})
	run("settled by the handler", func(t *testing.T) {
		var calls int
		h := mw(func(_ context.Context, d *herald.Delivery) error {
			calls++
			d.Nack()
			return errors.New("nacked")
		})
		if err := h(context.Background(), bare(1)); err == nil || calls != 1 {
			t.Fatalf("returned %v after %d calls, want the error after 1", err, calls)
		}
	})
	run("attempts used up", func(t *testing.T) {
		var calls int
		h := Retry(RetryPolicy{Attempts: 4, InitialWait: -1})(func(context.Context, *herald.Delivery) error {
			calls++
			return errors.New("busy")
		})
		start := time.Now()
		if err := h(context.Background(), bare(1)); err == nil || calls != 4 || time.Since(start) != 0 {
			t.Fatalf("returned %v after %d calls in %v, want an error after 4 in 0s", err, calls, time.Since(start))
		}
	})
	run("one attempt", func(t *testing.T) {
		var calls int
		h := Retry(RetryPolicy{Attempts: 1})(func(context.Context, *herald.Delivery) error {
			calls++
			return errors.New("busy")
		})
		if err := h(context.Background(), bare(1)); err == nil || calls != 1 {
			t.Fatalf("returned %v after %d calls, want an error after 1", err, calls)
		}
	})
	run("ctx cancelled during a wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int64
		busy := errors.New("busy")
		h := mw(func(context.Context, *herald.Delivery) error { calls.Add(1); return busy })
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- h(ctx, bare(1)) }()
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
		h := Retry(RetryPolicy{InitialWait: -1})(func(context.Context, *herald.Delivery) error { calls++; return errors.New("busy") })
		if err := h(ctx, bare(1)); err == nil || calls != 1 {
			t.Fatalf("returned %v after %d calls, want an error after 1", err, calls)
		}
	})
	run("nil delivery", func(t *testing.T) {
		var calls int
		h := Retry(RetryPolicy{InitialWait: -1})(func(context.Context, *herald.Delivery) error { calls++; return errors.New("busy") })
		if err := h(context.Background(), nil); err == nil || calls != 3 {
			t.Fatalf("returned %v after %d calls, want an error after 3", err, calls)
		}
	})
}

// A consumer stopped while Retry waits returns at once, and the delivery
// goes back to the queue.
func TestRetryConsumerCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBroker(t)
		q := declareQueue(t, b, "q", herald.WithBackoff(0, 0))
		var calls atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(context.Context, *herald.Delivery) error {
			calls.Add(1)
			return errors.New("busy")
		}, herald.WithMiddleware(Retry(RetryPolicy{InitialWait: time.Hour})))
		publish(t, q, herald.NewMessage("x"))
		synctest.Wait()
		start := time.Now()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) || time.Since(start) != 0 {
			t.Fatalf("Consume = %v after %v, want context.Canceled at once", err, time.Since(start))
		}
		if calls.Load() != 1 {
			t.Fatalf("handler called %d times, want 1", calls.Load())
		}
		wantStats(t, q, herald.QueueStats{Published: 1, Delivered: 1, Nacked: 1, Ready: 1})
	})
}
