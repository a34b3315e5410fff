package herald

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// consumeAsync runs q.Consume in a goroutine and returns a channel that
// yields its result.
func consumeAsync(ctx context.Context, q *Queue, h Handler, opts ...ConsumeOption) <-chan error {
	done := make(chan error, 1)
	go func() { done <- q.Consume(ctx, h, opts...) }()
	return done
}

// waitErr waits for the result of an asynchronous call.
func waitErr(t testing.TB, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(eventTimeout):
		t.Fatal("timed out waiting for a call to return")
		return nil
	}
}

func TestHandlerNilAcks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		var got []any
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(_ context.Context, d *Delivery) error {
			got = append(got, d.Body)
			if d.Attempt != 1 {
				t.Errorf("body %v attempt %d, want 1", d.Body, d.Attempt)
			}
			return nil
		})
		for i := range 5 {
			publishOrFail(t, q, i)
		}
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v, want context.Canceled", err)
		}
		if fmt.Sprint(got) != "[0 1 2 3 4]" {
			t.Fatalf("handled %v, want [0 1 2 3 4] in order", got)
		}
		wantStats(t, q, QueueStats{Published: 5, Delivered: 5, Acked: 5})
	})
}

func TestHandlerErrorNacksAndRedelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(time.Second, time.Second))
		var attempts []int
		var at []time.Duration
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(_ context.Context, d *Delivery) error {
			attempts = append(attempts, d.Attempt)
			at = append(at, time.Since(start))
			if d.Attempt < 3 {
				return errors.New("try again")
			}
			return nil
		})
		publishOrFail(t, q, "x")
		time.Sleep(time.Minute)
		cancel()
		<-done
		if fmt.Sprint(attempts) != "[1 2 3]" || fmt.Sprint(at) != "[0s 1s 2s]" {
			t.Fatalf("handler saw attempts %v at %v, want [1 2 3] at [0s 1s 2s]", attempts, at)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 3, Nacked: 2, Acked: 1})
	})
}

func TestHandlerPermanentErrorRejects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithDeadLetter("dlq"))
		dlq := mustQueue(t, b, "dlq")
		boom := errors.New("boom")
		ctx, cancel := context.WithCancel(context.Background())
		var calls atomic.Int64
		done := consumeAsync(ctx, q, func(context.Context, *Delivery) error {
			calls.Add(1)
			// Wrapped further, it is still permanent.
			return fmt.Errorf("handling: %w", Permanent(boom))
		})
		m := publishOrFail(t, q, "x")
		dead := receiveOrFail(t, dlq)
		cancel()
		<-done
		if calls.Load() != 1 {
			t.Fatalf("handler called %d times, want 1: a permanent error is not retried", calls.Load())
		}
		if dead.ID != m.ID || dead.Headers[HeaderDeathReason] != ReasonRejected || dead.Headers[HeaderDeathAttempts] != "1" {
			t.Fatalf("dead letter ID %q headers %v", dead.ID, dead.Headers)
		}
		if e := dead.Headers[HeaderDeathError]; !strings.Contains(e, "boom") {
			t.Fatalf("%s = %q, want the handler's error", HeaderDeathError, e)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Rejected: 1, DeadLettered: 1})
	})
}

func TestPermanent(t *testing.T) {
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
	boom := errors.New("boom")
	err := Permanent(boom)
	if !errors.Is(err, boom) {
		t.Fatal("errors.Is(Permanent(err), err) = false")
	}
	var perm *PermanentError
	if !errors.As(fmt.Errorf("wrapped: %w", err), &perm) || perm.Err != boom {
		t.Fatalf("errors.As through a wrap found %v", perm)
	}
	if !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Error() = %q, want it to say boom", err.Error())
	}
}

func TestHandlerPanicIsRecoveredAndRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(0, 0))
		var attempts []int
		// Both are queued before the consumer starts, so that "bad" is
		// nacked with "good" already behind it.
		publishOrFail(t, q, "bad")
		publishOrFail(t, q, "good")
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(_ context.Context, d *Delivery) error {
			attempts = append(attempts, d.Attempt)
			if d.Body == "bad" && d.Attempt == 1 {
				panic("kaboom")
			}
			return nil
		})
		synctest.Wait()
		// Consume is still running: later messages are handled.
		publishOrFail(t, q, "later")
		synctest.Wait()
		if len(done) != 0 {
			t.Fatalf("Consume stopped after a panic: %v", <-done)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v, want context.Canceled", err)
		}
		// "bad" panicked, went to the back behind "good", came back as attempt 2.
		if fmt.Sprint(attempts) != "[1 1 2 1]" {
			t.Fatalf("attempts %v, want [1 1 2 1]", attempts)
		}
		wantStats(t, q, QueueStats{Published: 3, Delivered: 4, Nacked: 1, Acked: 3})
	})
}

func TestHandlerPanicDeadLetterRecordsPanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithMaxDeliveries(1), WithDeadLetter("dlq"))
		dlq := mustQueue(t, b, "dlq")
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(context.Context, *Delivery) error { panic("kaboom") })
		publishOrFail(t, q, "x")
		dead := receiveOrFail(t, dlq)
		cancel()
		<-done
		if dead.Headers[HeaderDeathReason] != ReasonDeliveryLimit {
			t.Fatalf("reason %q, want %q", dead.Headers[HeaderDeathReason], ReasonDeliveryLimit)
		}
		if e := dead.Headers[HeaderDeathError]; !strings.Contains(e, "panicked") || !strings.Contains(e, "kaboom") {
			t.Fatalf("%s = %q, want the panic", HeaderDeathError, e)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Nacked: 1, Rejected: 1, DeadLettered: 1})
	})
}

func TestConsumeConcurrencyRunsHandlersAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 4
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		for i := range n {
			publishOrFail(t, q, i)
		}
		started := make(chan struct{}, n)
		all := make(chan struct{})
		openBarrier := sync.OnceFunc(func() { close(all) })
		t.Cleanup(openBarrier) // on failure, let the handlers go before the broker's cleanup
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := consumeAsync(ctx, q, func(context.Context, *Delivery) error {
			started <- struct{}{}
			<-all // a barrier: passes only once all n handlers run at once
			return nil
		}, WithConcurrency(n))
		for i := range n {
			select {
			case <-started:
			case <-time.After(eventTimeout):
				t.Fatalf("only %d of %d handlers started", i, n)
			}
		}
		openBarrier()
		synctest.Wait()
		wantStats(t, q, QueueStats{Published: n, Delivered: n, Acked: n, Consumers: n})
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v, want context.Canceled", err)
		}
	})
}

func TestConsumeConcurrencyBoundsUnacked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		for i := range 5 {
			publishOrFail(t, q, i)
		}
		var running, peak atomic.Int64
		release := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(context.Context, *Delivery) error {
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			<-release
			running.Add(-1)
			return nil
		}, WithConcurrency(2))
		synctest.Wait()
		if running.Load() != 2 {
			t.Fatalf("%d handlers running, want 2", running.Load())
		}
		wantStats(t, q, QueueStats{Published: 5, Delivered: 2, Ready: 3, Unacked: 2, Consumers: 2})
		close(release)
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v", err)
		}
		if peak.Load() != 2 {
			t.Fatalf("peak of %d handlers at once, want 2", peak.Load())
		}
		wantStats(t, q, QueueStats{Published: 5, Delivered: 5, Acked: 5})
	})
}

func TestHandlerSettlesItself(t *testing.T) {
	for _, tc := range []struct {
		name   string
		handle func(d *Delivery) error
		want   QueueStats
	}{
		{"reject then nil", func(d *Delivery) error {
			return d.Reject()
		}, QueueStats{Published: 1, Delivered: 1, Rejected: 1}},
		{"ack then error", func(d *Delivery) error {
			if err := d.Ack(); err != nil {
				return err
			}
			return errors.New("ignored: the delivery is settled")
		}, QueueStats{Published: 1, Delivered: 1, Acked: 1}},
		{"ack then permanent", func(d *Delivery) error {
			if err := d.Ack(); err != nil {
				return err
			}
			return Permanent(errors.New("ignored"))
		}, QueueStats{Published: 1, Delivered: 1, Acked: 1}},
		{"reject twice", func(d *Delivery) error {
			if err := d.Reject(); err != nil {
				return err
			}
			if err := d.Reject(); !errors.Is(err, ErrSettled) {
				return fmt.Errorf("second Reject = %v, want ErrSettled", err)
			}
			return nil
		}, QueueStats{Published: 1, Delivered: 1, Rejected: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newTestBroker(t)
				q := mustQueue(t, b, "q", WithBackoff(0, 0))
				ctx, cancel := context.WithCancel(context.Background())
				var handlerErr error
				calls := 0
				done := consumeAsync(ctx, q, func(_ context.Context, d *Delivery) error {
					calls++
					err := tc.handle(d)
					if err != nil && !strings.Contains(err.Error(), "ignored") {
						handlerErr = err
					}
					return err
				})
				publishOrFail(t, q, "x")
				synctest.Wait()
				cancel()
				<-done
				if handlerErr != nil {
					t.Fatal(handlerErr)
				}
				if calls != 1 {
					t.Fatalf("handler called %d times, want 1", calls)
				}
				wantStats(t, q, tc.want)
			})
		})
	}
}

func TestConsumeReturnsAfterHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		ctx, cancel := context.WithCancel(context.Background())
		var returned atomic.Bool
		var handlerCtxErr error
		done := consumeAsync(ctx, q, func(hctx context.Context, d *Delivery) error {
			<-hctx.Done()
			handlerCtxErr = hctx.Err()
			time.Sleep(5 * time.Second) // finishing up after the cancel
			returned.Store(true)
			return nil
		})
		publishOrFail(t, q, "x")
		synctest.Wait()
		start := time.Now()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v, want context.Canceled", err)
		}
		if !returned.Load() || time.Since(start) != 5*time.Second {
			t.Fatalf("Consume returned after %v, handler returned: %v; want after the handler, 5s", time.Since(start), returned.Load())
		}
		if !errors.Is(handlerCtxErr, context.Canceled) {
			t.Fatalf("handler ctx.Err() = %v, want context.Canceled", handlerCtxErr)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Acked: 1})
	})
}

// Once its context is cancelled, Consume must stop handing messages to its
// handlers: they would all see a cancelled context.
func TestConsumeStopsTakingAfterCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		for i := range 3 {
			publishOrFail(t, q, i)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var handled []any
		err := q.Consume(ctx, func(hctx context.Context, d *Delivery) error {
			handled = append(handled, d.Body)
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v, want context.Canceled", err)
		}
		if len(handled) != 1 {
			t.Fatalf("handled %v after the cancel in the first handler, want only [0]", handled)
		}
		wantStats(t, q, QueueStats{Published: 3, Delivered: 1, Acked: 1, Ready: 2})
	})
}

func TestHandlerContextCancelledOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		var handlerCtxErr error
		done := consumeAsync(context.Background(), q, func(hctx context.Context, d *Delivery) error {
			<-hctx.Done()
			handlerCtxErr = hctx.Err()
			return d.Ack()
		})
		publishOrFail(t, q, "x")
		synctest.Wait()
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("Consume = %v, want ErrClosed", err)
		}
		if !errors.Is(handlerCtxErr, context.Canceled) {
			t.Fatalf("handler ctx.Err() after Close = %v, want context.Canceled", handlerCtxErr)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Acked: 1})
	})
}

// A handler that gives up when Close cancels its context returns an error,
// which nacks. After Close the message must stay in the queue, not be
// handed to the handler again (with a zero back-off that loops for ever).
func TestConsumeDoesNotRedeliverAfterClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		var calls atomic.Int64
		done := consumeAsync(context.Background(), q, func(hctx context.Context, d *Delivery) error {
			if calls.Add(1) > 1 {
				return nil // break what would be an endless loop
			}
			<-hctx.Done()
			return hctx.Err()
		})
		publishOrFail(t, q, "x")
		synctest.Wait()
		b.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("Consume = %v, want ErrClosed", err)
		}
		if calls.Load() != 1 {
			t.Fatalf("handler called %d times, want once: the nacked message was redelivered after Close", calls.Load())
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Nacked: 1, Ready: 1})
	})
}

func TestConsumeAfterCloseReturnsErrClosed(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	b.Close()
	err := q.Consume(context.Background(), func(context.Context, *Delivery) error {
		t.Error("handler ran after Close")
		return nil
	}, WithConcurrency(3))
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Consume after Close = %v, want ErrClosed", err)
	}
}

func TestConsumeWithCancelledContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := q.Consume(ctx, func(context.Context, *Delivery) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume with a cancelled ctx on an empty queue = %v, want context.Canceled", err)
		}
	})
}

func TestConsumeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		start := time.Now()
		err := q.Consume(ctx, func(context.Context, *Delivery) error { return nil }, WithConcurrency(2))
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Hour {
			t.Fatalf("Consume = %v after %v, want DeadlineExceeded after 1h", err, time.Since(start))
		}
	})
}

func TestHandlerReentry(t *testing.T) {
	b := newTestBroker(t)
	qa := mustQueue(t, b, "a")
	qb := mustQueue(t, b, "b")
	var steps []string
	h := func(ctx context.Context, d *Delivery) error {
		if d.Body != "start" {
			t.Errorf("handler got %v after Close", d.Body)
			return nil
		}
		step := func(name string, err error) {
			if err != nil {
				t.Errorf("%s from a handler: %v", name, err)
			}
			steps = append(steps, name)
		}
		step("publish own queue", qa.Publish(ctx, NewMessage("again")))
		step("publish other queue", b.Publish(ctx, "b", NewMessage("other")))
		qc, err := b.Queue("c")
		step("declare", err)
		if qc != nil {
			step("publish new queue", qc.Publish(ctx, NewMessage("new")))
		}
		for _, q := range []*Queue{qa, qb, qc} {
			if q == nil {
				continue
			}
			r, err := q.Receive(ctx)
			step("receive "+q.Name(), err)
			if r != nil {
				step("settle "+q.Name(), r.Ack())
			}
		}
		step("settle own", d.Ack())
		step("close", b.Close())
		return nil
	}
	publishOrFail(t, qa, "start")
	done := consumeAsync(context.Background(), qa, h)
	if err := waitErr(t, done); !errors.Is(err, ErrClosed) {
		t.Fatalf("Consume = %v, want ErrClosed after the handler closed the broker", err)
	}
	want := "[publish own queue publish other queue declare publish new queue receive a settle a receive b settle b receive c settle c settle own close]"
	if fmt.Sprint(steps) != want {
		t.Fatalf("steps %v\nwant %v", steps, want)
	}
	wantStats(t, qa, QueueStats{Published: 2, Delivered: 2, Acked: 2})
	wantStats(t, qb, QueueStats{Published: 1, Delivered: 1, Acked: 1})
}

func TestHandlerPublishesToOwnQueueInLoop(t *testing.T) {
	// A handler feeding its own queue must not deadlock on the queue's lock.
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		var mu sync.Mutex
		var seen []int
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(hctx context.Context, d *Delivery) error {
			n := d.Body.(int)
			mu.Lock()
			seen = append(seen, n)
			mu.Unlock()
			if n < 100 {
				return q.Publish(hctx, NewMessage(n+1))
			}
			return nil
		}, WithConcurrency(2))
		publishOrFail(t, q, 0)
		synctest.Wait()
		cancel()
		<-done
		if len(seen) != 101 || seen[100] != 100 {
			t.Fatalf("handled %d messages, want 101 ending with 100", len(seen))
		}
		wantStats(t, q, QueueStats{Published: 101, Delivered: 101, Acked: 101})
	})
}

// A handler goroutine recovers from one panic after another and carries
// on with the next message each time.
func TestConsumeCarriesOnAfterPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp, WithMaxDeliveries(1))
		ctx, cancel := context.WithCancel(context.Background())
		var seen []uint64
		done := consumeSubAsync(ctx, s, func(_ context.Context, d *Delivery) error {
			seen = append(seen, d.Seq)
			if d.Seq%2 == 1 {
				panic("odd")
			}
			return nil
		})
		publishInts(t, tp, 1, 6)
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v", err)
		}
		if len(seen) != 6 {
			t.Fatalf("handled %v, want 1 to 6", seen)
		}
		wantSubStats(t, s, SubscriptionStats{Delivered: 6, Acked: 3, Nacked: 3, Rejected: 3})
	})
}

// A handler that calls runtime.Goexit ends its goroutine without
// settling: the recover that serves many handler calls must not turn it
// into a panic, or take it for one.
func TestConsumeHandlerGoexit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp)
		publishInts(t, tp, 1, 1)
		exited := make(chan struct{})
		go func() {
			defer close(exited)
			s.Consume(context.Background(), func(context.Context, *Delivery) error {
				runtime.Goexit()
				return nil
			})
		}()
		<-exited
		if st := s.Stats(); st.Delivered != 1 || st.Acked+st.Nacked != 0 {
			t.Fatalf("Stats() = %+v, want one delivery, unsettled", st)
		}
		s.Close()
	})
}
