package herald

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A nil option or middleware is handled the same way by every call that
// takes one (see Option): an error wrapping ErrInvalid from the calls that
// return an error, ignored by those that return none, never a panic.
func TestNilOptions(t *testing.T) {
	ctx := context.Background()
	h := func(context.Context, *Delivery) error { return nil }
	b := newTestBroker(t, nil, WithLogger(nil), nil)
	q := mustQueue(t, b, "q")
	tp := topicOrFail(t, b, "t")
	s := subscribeOrFail(t, tp)
	x, err := b.Exchange("x", DirectExchange)
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"Queue":    func() error { _, err := b.Queue("q2", nil); return err },
		"Topic":    func() error { _, err := b.Topic("t2", nil); return err },
		"Exchange": func() error { _, err := b.Exchange("x2", DirectExchange, nil); return err },
		"Bind":     func() error { return x.Bind("q", "k", nil) },
		"Subscribe": func() error {
			_, err := tp.Subscribe(nil)
			return err
		},
		"Queue.Consume":            func() error { return q.Consume(ctx, h, nil) },
		"Subscription.Consume":     func() error { return s.Consume(ctx, h, nil) },
		"WithMiddleware(nil)":      func() error { return q.Consume(ctx, h, WithMiddleware(nil)) },
		"New(WithMiddleware(nil))": func() error { return mustQueue(t, newTestBroker(t, WithMiddleware(nil)), "q").Consume(ctx, h) },
		"BodyAs":                   func() error { _, err := BodyAs[int](NewMessage(1), nil); return err },
	} {
		if err := call(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s with a nil option: %v, want an error wrapping ErrInvalid", name, err)
		}
	}

	// New ignored its nil options: the broker works.
	publishOrFail(t, q, 1)
	if q.Len() != 1 {
		t.Fatalf("Len = %d after a publish, want 1", q.Len())
	}
	// So do Typed and TypedDelivery.
	var got []int
	typed := Typed(func(_ context.Context, v int) error { got = append(got, v); return nil }, nil)
	withDelivery := TypedDelivery(func(_ context.Context, v int, _ *Delivery) error { got = append(got, v); return nil }, nil, WithCodec(nil))
	if err := callTyped(typed, 1); err != nil {
		t.Fatal(err)
	}
	if err := callTyped(withDelivery, []byte("2")); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("typed handlers got %v, want [1 2]", got)
	}
}

// WithPriorities takes 1 to MaxPriorities levels; 0 is a mistake, not "none".
func TestWithPrioritiesZeroIsInvalid(t *testing.T) {
	b := newTestBroker(t)
	for _, n := range []int{0, -1, MaxPriorities + 1} {
		if _, err := b.Queue("q", WithPriorities(n)); !errors.Is(err, ErrInvalid) {
			t.Errorf("WithPriorities(%d) = %v, want ErrInvalid", n, err)
		}
	}
	q := mustQueue(t, b, "one", WithPriorities(1))
	if again := mustQueue(t, b, "one"); again != q {
		t.Error("WithPriorities(1) is the default, yet declaring again without it failed")
	}
}

func TestLifecycleOptionsValidated(t *testing.T) {
	b := newTestBroker(t)
	for _, opt := range []QueueOption{WithPriorities(-1), WithPriorities(MaxPriorities + 1), WithDedup(-time.Second)} {
		if _, err := b.Queue("q", opt); !errors.Is(err, ErrInvalid) {
			t.Errorf("Queue with bad option = %v, want ErrInvalid", err)
		}
	}
	if _, err := b.Topic("t", WithDedup(-1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Topic with negative dedup = %v, want ErrInvalid", err)
	}
}
