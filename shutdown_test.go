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
