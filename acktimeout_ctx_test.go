package herald

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

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
