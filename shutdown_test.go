package herald

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// A publish that passed its checks before Shutdown began, and reached the
// queue after, is counted by Shutdown and then refused with ErrClosed. Its
// end must wake Shutdown, or Shutdown waits for nothing until its ctx ends.
func TestShutdownWokenByRefusedPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		routing, reaching := make(chan struct{}), make(chan struct{})
		hold := func(ch chan struct{}) Transform {
			return func(m *Message) (*Message, error) {
				<-ch
				return m, nil
			}
		}
		mustQueue(t, b, "q", WithTransform(hold(reaching)))
		busy := mustQueue(t, b, "busy")
		x, err := b.Exchange("x", FanoutExchange)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Bind("q", "", WithTransform(hold(routing))); err != nil {
			t.Fatal(err)
		}
		publishOrFail(t, busy, "in flight")
		d := receiveOrFail(t, busy) // Shutdown waits for it to be settled

		published := make(chan error, 1)
		// A TTL takes the queue's locked path; a topic refuses the same way.
		go func() { published <- x.Publish(context.Background(), &Message{Body: "late", TTL: time.Hour}) }()
		synctest.Wait() // the publish has passed its checks and is routing

		shutdown := make(chan error, 1)
		start := time.Now()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			shutdown <- b.Shutdown(ctx)
		}()
		synctest.Wait() // draining, waiting for busy
		close(routing)
		synctest.Wait() // the publish has reached q, counted by Shutdown
		settleOrFail(t, d.Ack)
		synctest.Wait() // Shutdown looked again, and waits for the publish
		close(reaching)

		if err := <-published; !errors.Is(err, ErrClosed) {
			t.Errorf("publish that reached the queue while draining = %v, want ErrClosed", err)
		}
		if err := <-shutdown; err != nil {
			t.Errorf("Shutdown = %v, want nil", err)
		}
		if got := time.Since(start); got != 0 {
			t.Errorf("Shutdown took %v, want no wait once the publish was refused", got)
		}
	})
}

// A dead-letter queue nobody reads does not hold Shutdown up: its dead
// letters stay there, counted. Everything published is still drained.
func TestShutdownLeavesUnreadDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		work := mustQueue(t, b, "work", WithDeadLetter("dead"))
		dead := mustQueue(t, b, "dead")
		for i := range 4 {
			publishOrFail(t, work, i)
		}
		consumed := consumeAsync(context.Background(), work, func(_ context.Context, d *Delivery) error {
			if d.Body.(int)%2 == 1 {
				return Permanent(errors.New("bad job"))
			}
			return nil
		})
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown = %v, want nil", err)
		}
		if got := time.Since(start); got != 0 {
			t.Errorf("Shutdown took %v", got)
		}
		if err := <-consumed; err != nil {
			t.Errorf("Consume = %v", err)
		}
		wantStats(t, work, QueueStats{Published: 4, Delivered: 4, Acked: 2, Rejected: 2, DeadLettered: 2})
		wantStats(t, dead, QueueStats{Published: 2, Ready: 2})
	})
}

// A dead-letter queue that has a consumer is drained like any other, and
// so is one whose TTL sends its messages on (a retry queue).
func TestShutdownDrainsReadOrMovingDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		work := mustQueue(t, b, "work", WithDeadLetter("retry"))
		mustQueue(t, b, "retry", WithTTL(time.Second), WithDeadLetter("work"))
		publishOrFail(t, work, "job")
		consumed := consumeAsync(context.Background(), work, func(_ context.Context, d *Delivery) error {
			if d.Headers[HeaderDeathQueue] == "" {
				return Permanent(errors.New("not yet")) // retried after the retry queue's TTL
			}
			return nil
		})
		synctest.Wait() // "job" waits in the retry queue
		start := time.Now()
		if err := b.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("Shutdown took %v, want the retry queue's TTL", got)
		}
		if err := <-consumed; err != nil {
			t.Errorf("Consume = %v", err)
		}
		wantStats(t, work, QueueStats{Published: 2, Delivered: 2, Acked: 1, Rejected: 1, DeadLettered: 1})
	})
}

// A delivery handed out from a queue nobody else reads is waited for: it
// is in flight.
func TestShutdownWaitsForUnsettledDeadLetter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		work := mustQueue(t, b, "work", WithDeadLetter("dead"))
		dead := mustQueue(t, b, "dead")
		publishOrFail(t, work, "x")
		settleOrFail(t, receiveOrFail(t, work).Reject)
		d := receiveOrFail(t, dead)
		shutdown := make(chan error, 1)
		go func() { shutdown <- b.Shutdown(context.Background()) }()
		synctest.Wait()
		if len(shutdown) != 0 {
			t.Fatal("Shutdown returned with a delivery unsettled")
		}
		settleOrFail(t, d.Ack)
		if err := <-shutdown; err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	})
}

// Shutdown from a handler, with the handler's context, cannot wait for the
// handler: it begins the drain and returns at once, and the broker closes
// when the drain ends, after the handler has returned.
func TestShutdownFromHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		for i := range 3 {
			publishOrFail(t, q, i)
		}
		var handled []any
		returned := make(chan error, 1)
		consumed := consumeAsync(context.Background(), q, func(ctx context.Context, d *Delivery) error {
			handled = append(handled, d.Body)
			if d.Body == 0 {
				start := time.Now()
				returned <- b.Shutdown(ctx)
				if got := time.Since(start); got != 0 {
					t.Errorf("Shutdown from a handler took %v", got)
				}
			}
			return nil
		})
		if err := <-returned; err != nil {
			t.Fatalf("Shutdown from a handler = %v, want nil", err)
		}
		if err := <-consumed; err != nil {
			t.Fatalf("Consume = %v, want nil: the drain ended", err)
		}
		wantBodies(t, handled, 0, 1, 2)
		synctest.Wait()
		if err := q.Publish(context.Background(), NewMessage(3)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Publish after the drain = %v, want ErrClosed", err)
		}
		if !b.closed.Load() {
			t.Fatal("the broker is not closed after the drain")
		}
	})
}

// A Shutdown cut short by Close returns ErrClosed, and the goroutine a
// handler's Shutdown left draining ends with Close.
func TestShutdownCutShortByClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		publishOrFail(t, q, "held")
		d := receiveOrFail(t, q)
		shutdown := make(chan error, 1)
		go func() { shutdown <- b.Shutdown(context.Background()) }()
		synctest.Wait()
		b.Close()
		if err := <-shutdown; !errors.Is(err, ErrClosed) {
			t.Fatalf("Shutdown = %v, want ErrClosed", err)
		}
		if err := d.Ack(); err != nil {
			t.Fatalf("Ack after Close = %v", err)
		}
	})
}

// Two Shutdowns at once both return nil when the drain ends.
func TestShutdownTwiceAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		publishOrFail(t, q, "held")
		d := receiveOrFail(t, q)
		results := make(chan error, 2)
		for range 2 {
			go func() { results <- b.Shutdown(context.Background()) }()
		}
		synctest.Wait()
		settleOrFail(t, d.Ack)
		for range 2 {
			if err := <-results; err != nil {
				t.Errorf("Shutdown = %v, want nil", err)
			}
		}
	})
}
