package herald

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestAckTimeoutRedelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		const timeout = 5 * time.Second
		q := mustQueue(t, b, "q", WithAckTimeout(timeout))
		m := publishOrFail(t, q, "x")
		first := receiveOrFail(t, q)
		wantBody(t, first, "x", 1)

		time.Sleep(timeout - time.Nanosecond)
		synctest.Wait()
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Unacked: 1})

		time.Sleep(time.Nanosecond)
		synctest.Wait()
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Nacked: 1, Ready: 1})

		second := receiveOrFail(t, q)
		wantBody(t, second, "x", 2)
		if second.Message != m {
			t.Fatal("redelivery carries another message")
		}
		if err := first.Ack(); !errors.Is(err, ErrSettled) {
			t.Fatalf("late Ack of the timed-out delivery = %v, want ErrSettled", err)
		}
		for _, late := range []func() error{first.Nack, first.Reject} {
			if err := late(); !errors.Is(err, ErrSettled) {
				t.Fatalf("late settle of the timed-out delivery = %v, want ErrSettled", err)
			}
		}
		settleOrFail(t, second.Ack)
		wantStats(t, q, QueueStats{Published: 1, Delivered: 2, Nacked: 1, Acked: 1})
	})
}

func TestAckTimeoutRedeliversToFront(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithAckTimeout(time.Second))
		for _, body := range []string{"a", "b", "c", "d"} {
			publishOrFail(t, q, body)
		}
		receiveOrFail(t, q) // a
		receiveOrFail(t, q) // b, at the same instant: one sweep times out both
		time.Sleep(time.Second)
		synctest.Wait()
		wantStats(t, q, QueueStats{Published: 4, Delivered: 2, Nacked: 2, Ready: 4})
		for _, want := range []struct {
			body    string
			attempt int
		}{{"a", 2}, {"b", 2}, {"c", 1}, {"d", 1}} {
			d := receiveOrFail(t, q)
			wantBody(t, d, want.body, want.attempt)
			settleOrFail(t, d.Ack)
		}
	})
}

func TestAckInTimePreventsRedelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithAckTimeout(5*time.Second))
		publishOrFail(t, q, "x")
		publishOrFail(t, q, "y")
		d := receiveOrFail(t, q)
		time.Sleep(5*time.Second - time.Nanosecond)
		settleOrFail(t, d.Ack)
		// A second delivery, nacked in time: back-off, not the timeout.
		d = receiveOrFail(t, q)
		wantBody(t, d, "y", 1)
		settleOrFail(t, d.Reject)
		time.Sleep(time.Minute)
		synctest.Wait()
		wantStats(t, q, QueueStats{Published: 2, Delivered: 2, Acked: 1, Rejected: 1})
	})
}

func TestAckTimeoutRestartsPerDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithAckTimeout(3*time.Second))
		publishOrFail(t, q, "x")
		start := time.Now()
		receiveOrFail(t, q)
		d := receiveOrFail(t, q) // waits for the timeout
		if got := time.Since(start); got != 3*time.Second {
			t.Fatalf("redelivered after %v, want 3s", got)
		}
		wantBody(t, d, "x", 2)
		d = receiveOrFail(t, q) // the redelivery has its own full timeout
		if got := time.Since(start); got != 6*time.Second {
			t.Fatalf("second redelivery after %v, want 6s", got)
		}
		wantBody(t, d, "x", 3)
		settleOrFail(t, d.Ack)
		synctest.Wait() // the sweep counts its nack after making the message ready
		wantStats(t, q, QueueStats{Published: 1, Delivered: 3, Nacked: 2, Acked: 1})
	})
}

func TestAckTimeoutDeadLettersAtMaxDeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithAckTimeout(time.Second), WithMaxDeliveries(2), WithDeadLetter("dlq"))
		dlq := mustQueue(t, b, "dlq")
		m := publishOrFail(t, q, "x")
		receiveOrFail(t, q)
		time.Sleep(time.Second)
		d := receiveOrFail(t, q)
		wantBody(t, d, "x", 2)
		time.Sleep(time.Second)
		synctest.Wait()
		wantStats(t, q, QueueStats{Published: 1, Delivered: 2, Nacked: 2, Rejected: 1, DeadLettered: 1})
		if err := d.Ack(); !errors.Is(err, ErrSettled) {
			t.Fatalf("Ack after the last timeout = %v, want ErrSettled", err)
		}
		dead := receiveOrFail(t, dlq)
		if dead.ID != m.ID || dead.Body != "x" {
			t.Fatalf("dead letter ID %q body %v, want %q x", dead.ID, dead.Body, m.ID)
		}
		for k, want := range map[string]string{
			HeaderDeathQueue:    "q",
			HeaderDeathReason:   ReasonDeliveryLimit,
			HeaderDeathAttempts: "2",
			HeaderDeathError:    "herald: ack timeout",
		} {
			if got := dead.Headers[k]; got != want {
				t.Errorf("dead letter %s = %q, want %q", k, got, want)
			}
		}
	})
}

func TestAckTimeoutWithStuckHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithAckTimeout(time.Second))
		release := make(chan struct{})
		var lateAck atomic.Value
		var acked atomic.Int64
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(_ context.Context, d *Delivery) error {
			if d.Attempt == 1 {
				<-release // stuck past the ack timeout
				err := d.Ack()
				lateAck.Store(&err)
				return err
			}
			acked.Add(1)
			return nil
		}, WithConcurrency(2))
		publishOrFail(t, q, "x")
		time.Sleep(time.Second)
		synctest.Wait()
		// The other handler goroutine got the redelivery and acked it.
		if acked.Load() != 1 {
			t.Fatalf("redelivery handled %d times, want 1", acked.Load())
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 2, Nacked: 1, Acked: 1, Consumers: 2})
		close(release)
		synctest.Wait()
		cancel()
		<-done
		if err := *lateAck.Load().(*error); !errors.Is(err, ErrSettled) {
			t.Fatalf("the stuck handler's late Ack = %v, want ErrSettled", err)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 2, Nacked: 1, Acked: 1})
	})
}

func TestAckTimeoutManyDeliveries(t *testing.T) {
	// Deliveries handed out at different times time out at their own
	// deadlines, one sweep each, in order.
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithAckTimeout(10*time.Second))
		for i := range 5 {
			publishOrFail(t, q, i)
		}
		var held []*Delivery
		for range 5 {
			held = append(held, receiveOrFail(t, q))
			time.Sleep(time.Second)
		}
		// Now at 5s: deliveries were handed out at 0s..4s, due at 10s..14s.
		settleOrFail(t, held[2].Ack)
		time.Sleep(4 * time.Second)
		synctest.Wait()
		wantStats(t, q, QueueStats{Published: 5, Delivered: 5, Acked: 1, Unacked: 4})
		for i, wantNacked := range []uint64{1, 2, 2, 3, 4} {
			time.Sleep(time.Second)
			synctest.Wait()
			if got := q.Stats().Nacked; got != wantNacked {
				t.Fatalf("at %ds: %d timed out, want %d", 10+i, got, wantNacked)
			}
		}
		wantStats(t, q, QueueStats{Published: 5, Delivered: 5, Acked: 1, Nacked: 4, Ready: 4})
		got := map[any]bool{}
		for range 4 {
			d := receiveOrFail(t, q)
			if d.Attempt != 2 {
				t.Fatalf("body %v attempt %d, want 2", d.Body, d.Attempt)
			}
			got[d.Body] = true
			settleOrFail(t, d.Ack)
		}
		if len(got) != 4 || got[2] {
			t.Fatalf("redelivered %v, want 0 1 3 4", got)
		}
	})
}

// When a delivery's ack timeout passes and its message is redelivered, the
// handler still running on the first delivery has its context cancelled,
// with ErrAckTimeout as the cause, so that the same message does not go on
// being handled in two goroutines at once.
func TestAckTimeoutCancelsHandlerContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithAckTimeout(time.Second))
		var (
			mu       sync.Mutex
			firstCtx context.Context
			cause    error
			overlap  bool
		)
		firstDone := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			if d.Attempt == 1 {
				mu.Lock()
				firstCtx = ctx
				mu.Unlock()
				select {
				case <-ctx.Done():
				case <-time.After(time.Hour):
				}
				mu.Lock()
				cause = context.Cause(ctx)
				mu.Unlock()
				close(firstDone)
				return ctx.Err()
			}
			mu.Lock()
			overlap = firstCtx.Err() == nil
			mu.Unlock()
			return nil
		}, WithConcurrency(2))
		publishOrFail(t, q, "x")
		<-firstDone
		synctest.Wait()
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if overlap {
			t.Error("the redelivery ran while the first handler's context was live")
		}
		if !errors.Is(cause, ErrAckTimeout) {
			t.Errorf("first handler's context cause = %v, want ErrAckTimeout", cause)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 2, Nacked: 1, Acked: 1})
	})
}

// The handler goroutine whose delivery timed out goes on with a live
// context for its next message.
func TestAckTimeoutNextMessageGetsLiveContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithAckTimeout(time.Second))
		var mu sync.Mutex
		var errs []error
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			if d.Body == "slow" && d.Attempt == 1 {
				<-ctx.Done()
				return ctx.Err()
			}
			mu.Lock()
			errs = append(errs, ctx.Err())
			mu.Unlock()
			return nil
		})
		publishOrFail(t, q, "slow")
		publishOrFail(t, q, "next")
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if len(errs) != 2 {
			t.Fatalf("handled %d more messages, want 2 (the redelivery and the next)", len(errs))
		}
		for _, err := range errs {
			if err != nil {
				t.Errorf("a later message's handler got a context ended with %v", err)
			}
		}
	})
}
