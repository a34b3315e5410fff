package herald

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
)

func TestPrefetchTakesAheadInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(0, 0))
		for i := range 20 {
			publishOrFail(t, q, i)
		}
		release := make(chan struct{})
		var got []any
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- q.Consume(ctx, func(ctx context.Context, d *Delivery) error {
				got = append(got, d.Body)
				if d.Body == 0 {
					<-release
				}
				return nil
			}, WithPrefetch(8))
		}()
		synctest.Wait() // the handler holds message 0
		// One handed out and 7 taken ahead (at most half of the 19 ready).
		if s := q.Stats(); s.Unacked != 8 || s.Ready != 12 {
			t.Fatalf("while the handler holds the first: %+v, want 8 unacked, 12 ready", s)
		}
		close(release)
		if err := b.WaitIdle(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("handled %v, want 0..19 in order", got)
			}
		}
		if s := q.Stats(); s.Acked != 20 || s.Delivered != 20 {
			t.Fatalf("stats %+v", s)
		}
		cancel()
		<-done
	})
}

// A consumer that stops puts the messages it took ahead back at the front,
// in order, their attempt not counted.
func TestPrefetchedMessagesGoBackWhenConsumerStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(0, 0))
		for i := range 10 {
			publishOrFail(t, q, i)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- q.Consume(ctx, func(ctx context.Context, d *Delivery) error {
				<-ctx.Done()
				return ctx.Err() // a nack: message 0 goes to the back
			}, WithPrefetch(4))
		}()
		synctest.Wait()
		if s := q.Stats(); s.Unacked != 4 {
			t.Fatalf("unacked %d, want 4 (1 held, 3 ahead)", s.Unacked)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v", err)
		}
		if s := q.Stats(); s.Ready != 10 || s.Unacked != 0 || s.Delivered != 1 {
			t.Fatalf("after the consumer stopped: %+v, want 10 ready, 1 delivered", s)
		}
		for i := 1; i < 10; i++ {
			wantBody(t, receiveOrFail(t, q), i, 1)
		}
		wantBody(t, receiveOrFail(t, q), 0, 2)
	})
}

func TestPrefetchBelowConcurrencyIsInvalid(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	err := q.Consume(context.Background(), func(context.Context, *Delivery) error { return nil },
		WithConcurrency(4), WithPrefetch(2))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Consume = %v, want ErrInvalid", err)
	}
}
