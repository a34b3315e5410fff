package herald

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
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

// A TTL or window of math.MaxInt64, a common way to say "forever", must not
// overflow the broker clock and take effect at once.
func TestHugeDurationsMeanForever(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		ctx := context.Background()
		queueTTL := mustQueue(t, b, "queue-ttl", WithTTL(math.MaxInt64))
		msgTTL := mustQueue(t, b, "message-ttl")
		both := mustQueue(t, b, "both", WithTTL(math.MaxInt64-1))
		for _, q := range []*Queue{queueTTL, msgTTL, both} {
			if err := q.Publish(ctx, &Message{Body: q.Name(), TTL: math.MaxInt64}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Hour)
			d := receiveOrFail(t, q)
			wantBody(t, d, q.Name(), 1)
			settleOrFail(t, d.Ack)
			wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Acked: 1})
		}

		dq := mustQueue(t, b, "dedup", WithDedup(math.MaxInt64))
		tp, err := b.Topic("dedup-topic", WithDedup(math.MaxInt64))
		if err != nil {
			t.Fatal(err)
		}
		for _, pub := range []func(*Message) error{
			func(m *Message) error { return dq.Publish(ctx, m) },
			func(m *Message) error { return tp.Publish(ctx, m) },
		} {
			if err := pub(&Message{ID: "once"}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Hour)
			if err := pub(&Message{ID: "once"}); !errors.Is(err, ErrDuplicate) {
				t.Fatalf("same ID an hour into a window of MaxInt64 = %v, want ErrDuplicate", err)
			}
		}
	})
}

// The back-off doubles up to its max without overflowing, however many
// attempts and however large the max.
func TestBackoffSaturates(t *testing.T) {
	c := redeliveryConfig{backoffMin: time.Second, backoffMax: math.MaxInt64}
	prev := time.Duration(0)
	for attempt := 1; attempt < 100; attempt++ {
		d := backoff(c, attempt)
		if d < prev || d <= 0 {
			t.Fatalf("back-off before attempt %d = %v, after %v", attempt+1, d, prev)
		}
		prev = d
	}
	if prev != math.MaxInt64 {
		t.Fatalf("back-off after many attempts = %v, want the max", prev)
	}
}

// Consumer options past their documented bounds are refused with
// ErrInvalid instead of crashing the process.
func TestConsumeOptionBounds(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	tp, err := b.Topic("t")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tp.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	h := func(context.Context, *Delivery) error { return nil }
	for _, tc := range []struct {
		name string
		opts []ConsumeOption
	}{
		{"concurrency MaxInt", []ConsumeOption{WithConcurrency(math.MaxInt)}},
		{"concurrency above max", []ConsumeOption{WithConcurrency(MaxConcurrency + 1)}},
		{"prefetch MaxInt", []ConsumeOption{WithPrefetch(math.MaxInt)}},
		{"prefetch above max", []ConsumeOption{WithPrefetch(MaxPrefetch + 1)}},
		{"concurrency 2, prefetch 1<<41", []ConsumeOption{WithConcurrency(2), WithPrefetch(1 << 41)}},
	} {
		for _, c := range []consumer{q, sub} {
			err := c.Consume(context.Background(), h, tc.opts...)
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("%s on %T: Consume = %v, want ErrInvalid", tc.name, c, err)
			}
		}
	}
}

// The bounds themselves are accepted.
func TestConsumeOptionBoundsAccepted(t *testing.T) {
	b := newTestBroker(t)
	tp, err := b.Topic("t")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tp.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	q := mustQueue(t, b, "q")
	for _, c := range []consumer{q, sub} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- c.Consume(ctx, func(context.Context, *Delivery) error { return nil },
				WithConcurrency(4), WithPrefetch(MaxPrefetch))
		}()
		cancel()
		if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
			t.Errorf("%T: Consume with prefetch MaxPrefetch = %v, want context.Canceled", c, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := q.Consume(ctx, func(context.Context, *Delivery) error { return nil },
		WithConcurrency(MaxConcurrency)); !errors.Is(err, context.Canceled) {
		t.Errorf("Consume with concurrency MaxConcurrency = %v, want context.Canceled", err)
	}
}
