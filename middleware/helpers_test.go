package middleware

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/heraldtest"
)

// newBroker returns a broker closed when the test ends, after which the
// test fails if a goroutine of herald is still running.
func newBroker(t *testing.T, opts ...herald.Option) *herald.Broker {
	t.Helper()
	return heraldtest.NewBroker(t, heraldtest.WithBrokerOptions(opts...))
}

// declareQueue declares a queue or fails the test.
func declareQueue(t *testing.T, b *herald.Broker, name string, opts ...herald.QueueOption) *herald.Queue {
	t.Helper()
	q, err := b.Queue(name, opts...)
	if err != nil {
		t.Fatalf("Queue(%q): %v", name, err)
	}
	return q
}

// consumeAsync runs q.Consume on a goroutine of its own; its result comes
// on the channel.
func consumeAsync(ctx context.Context, q *herald.Queue, h herald.Handler, opts ...herald.ConsumeOption) <-chan error {
	done := make(chan error, 1)
	go func() { done <- q.Consume(ctx, h, opts...) }()
	return done
}

// startConsumer runs h on q until the test ends, then checks that Consume
// returned context.Canceled. It stops before the broker of newBroker is
// closed, since cleanups run last registered first.
func startConsumer(t *testing.T, q *herald.Queue, h herald.Handler, opts ...herald.ConsumeOption) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := consumeAsync(ctx, q, h, opts...)
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Consume = %v, want context.Canceled", err)
		}
	})
}

// publish publishes m to q or fails the test.
func publish(t *testing.T, q *herald.Queue, m *herald.Message) {
	t.Helper()
	if err := q.Publish(context.Background(), m); err != nil {
		t.Fatalf("Publish to %q: %v", q.Name(), err)
	}
}

// wantStats fails the test unless q's stats are exactly want.
func wantStats(t *testing.T, q *herald.Queue, want herald.QueueStats) {
	t.Helper()
	if got := q.Stats(); got != want {
		t.Fatalf("%q stats:\n got %+v\nwant %+v", q.Name(), got, want)
	}
}

// bare returns a delivery of body that no broker made, as a unit test of
// a handler would.
func bare(body any) *herald.Delivery {
	return &herald.Delivery{Message: herald.NewMessage(body), Attempt: 1}
}

// since returns the fake time since start, for calls recorded inside a
// testing/synctest bubble.
func since(start time.Time) string { return time.Since(start).String() }
