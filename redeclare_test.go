package herald

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Declaring a queue again with other options says which option differs,
// with both values, and how to get the queue as it was declared.
func TestQueueRedeclareNamesTheOption(t *testing.T) {
	b := newTestBroker(t)
	mustQueue(t, b, "q", WithCapacity(10), WithMaxDeliveries(3), WithDeadLetter("dlq"))
	for _, tc := range []struct {
		opts []QueueOption
		want string
	}{
		{nil, "WithCapacity: declared with 10, now 1024"},
		{[]QueueOption{WithCapacity(11)}, "WithCapacity: declared with 10, now 11"},
		{[]QueueOption{WithCapacity(10), WithMaxDeliveries(3)}, `WithDeadLetter: declared with "dlq", now ""`},
		{[]QueueOption{WithCapacity(10), WithMaxDeliveries(3), WithDeadLetter("dlq"), WithOverflow(OverflowReject)},
			"WithOverflow: declared with block, now reject"},
		{[]QueueOption{WithCapacity(10), WithMaxDeliveries(3), WithDeadLetter("dlq"), WithAckTimeout(time.Second)},
			"WithAckTimeout: declared with 0s, now 1s"},
		{[]QueueOption{WithCapacity(10), WithMaxDeliveries(3), WithDeadLetter("dlq"), WithBackoff(0, 0)},
			"WithBackoff: declared with 10ms to 5s, now 0s to 0s"},
	} {
		_, err := b.Queue("q", tc.opts...)
		if !errors.Is(err, ErrExists) {
			t.Fatalf("redeclare %v = %v, want ErrExists", tc.opts, err)
		}
		for _, want := range []string{`queue "q"`, tc.want, `b.LookupQueue("q")`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	}
}

// Functions cannot be compared, so a queue declared with a transform, or
// declared again with one, is never the same declaration, whatever the
// compiler did with the closures: the error says so and points at
// LookupQueue.
func TestQueueRedeclareWithTransformIsAlwaysErrExists(t *testing.T) {
	b := newTestBroker(t)
	fn := func(m *Message) (*Message, error) { return m, nil }
	orig := mustQueue(t, b, "q", WithTransform(fn))
	for _, opts := range [][]QueueOption{{WithTransform(fn)}, nil} {
		_, err := b.Queue("q", opts...)
		if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "WithTransform") ||
			!strings.Contains(err.Error(), `b.LookupQueue("q")`) {
			t.Errorf("redeclare %v = %v, want ErrExists naming WithTransform and LookupQueue", opts, err)
		}
	}
	mustQueue(t, b, "plain")
	if _, err := b.Queue("plain", WithTransform(fn)); !errors.Is(err, ErrExists) {
		t.Errorf("redeclare with a transform = %v, want ErrExists", err)
	}
	if q, err := b.LookupQueue("q"); err != nil || q != orig {
		t.Errorf("LookupQueue = %v, %v; want the queue", q, err)
	}
}

// An exchange declared again with another alternate says so.
func TestExchangeRedeclareNamesTheOption(t *testing.T) {
	b := newTestBroker(t)
	mustExchange(t, b, "x", TopicExchange, WithAlternate("alt"))
	_, err := b.Exchange("x", TopicExchange)
	for _, want := range []string{`WithAlternate: declared with "alt", now none`, `b.LookupExchange("x")`} {
		if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), want) {
			t.Errorf("redeclare = %v, want ErrExists saying %s", err, want)
		}
	}
}
