package herald

import (
	"context"
	"errors"
	"testing"
)

// An error message says what refused or closed: a full topic is not a
// queue, and closing a subscription does not close the broker.
func TestErrorMessagesNameWhatFailed(t *testing.T) {
	ctx := context.Background()
	b := newTestBroker(t)
	reject := WithOverflow(OverflowReject)

	q := mustQueue(t, b, "q", WithCapacity(1), reject)
	publishOrFail(t, q, 1)
	tp := topicOrFail(t, b, "t", WithCapacity(2), reject)
	subscribeOrFail(t, tp)
	publishInts(t, tp, 1, 2)
	grouped := topicOrFail(t, b, "g", WithCapacity(2), reject)
	subscribeOrFail(t, grouped, WithGroup("workers"))
	publishInts(t, grouped, 1, 2)
	closed := subscribeOrFail(t, tp)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		err      error
		sentinel error
		want     string
	}{
		{"full queue", q.Publish(ctx, NewMessage(2)), ErrFull,
			`herald: destination full: queue "q" holds 1 messages`},
		{"full topic", tp.Publish(ctx, NewMessage(3)), ErrFull,
			`herald: destination full: topic "t": a subscription is 2 messages behind`},
		{"full group", grouped.Publish(ctx, NewMessage(3)), ErrFull,
			`herald: destination full: topic "g": group "workers" holds 2 messages`},
		{"closed subscription, Receive", func() error { _, err := closed.Receive(ctx); return err }(), ErrClosed,
			"herald: subscription closed"},
		{"closed subscription, Consume", closed.Consume(ctx, func(context.Context, *Delivery) error { return nil }), ErrClosed,
			"herald: subscription closed"},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.sentinel) || tt.err.Error() != tt.want {
			t.Errorf("%s: got %v, want %q wrapping %v", tt.name, tt.err, tt.want, tt.sentinel)
		}
	}
}
