package herald

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// A topic expires a message whose TTL has passed, as a queue does: one
// exchange publish to a queue and a topic behaves one way. A plain
// subscription skips it and counts it expired (as it does messages past
// the topic's max age); a group expires it as a queue, dead letter and all.
func TestTopicExpiresMessageTTL(t *testing.T) {
	for _, prefetch := range []int{0, 8} {
		synctest.Test(t, func(t *testing.T) {
			b := newTestBroker(t)
			tp := topicOrFail(t, b, "events")
			q := mustQueue(t, b, "audit")
			dlq := mustQueue(t, b, "dead")
			x, err := b.Exchange("x", FanoutExchange)
			if err != nil {
				t.Fatal(err)
			}
			for _, dest := range []string{"events", "audit"} {
				if err := x.Bind(dest, ""); err != nil {
					t.Fatal(err)
				}
			}
			sub := subscribeOrFail(t, tp)
			member := subscribeOrFail(t, tp, WithGroup("g"), WithDeadLetter("dead"))
			ctx := context.Background()
			if err := x.Publish(ctx, &Message{Body: "short-lived", TTL: time.Second}); err != nil {
				t.Fatal(err)
			}
			if err := x.Publish(ctx, &Message{Body: "lasting"}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Second)
			synctest.Wait() // the sweeps due now too have run

			var got []any
			cctx, cancel := context.WithCancel(ctx)
			var opts []ConsumeOption
			if prefetch > 0 {
				opts = append(opts, WithPrefetch(prefetch))
			}
			err = sub.Consume(cctx, func(_ context.Context, d *Delivery) error {
				got = append(got, d.Body)
				cancel()
				return nil
			}, opts...)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Consume = %v", err)
			}
			wantBodies(t, got, "lasting")
			if s := sub.Stats(); s.Expired != 1 || s.Acked != 1 || s.Delivered != 1 {
				t.Errorf("prefetch %d: subscription stats %+v, want 1 expired, 1 delivered and acked", prefetch, s)
			}

			d, err := member.Receive(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantBodies(t, []any{d.Body}, "lasting")
			if s := member.Stats(); s.Expired != 1 || s.DeadLettered != 1 {
				t.Errorf("group stats %+v, want 1 expired and dead-lettered", s)
			}
			wantBodies(t, receiveBodies(t, dlq, 1), "short-lived")

			wantBodies(t, receiveBodies(t, q, 1), "lasting")
			if s := q.Stats(); s.Expired != 1 {
				t.Errorf("queue stats %+v, want 1 expired", s)
			}
		})
	}
}

// A message with a TTL far in the future is delivered by a topic.
func TestTopicHugeTTLMeansForever(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "events")
		sub := subscribeOrFail(t, tp)
		time.Sleep(time.Hour) // the broker clock is well past zero
		if err := tp.Publish(context.Background(), &Message{Body: "x", TTL: 1<<63 - 1}); err != nil {
			t.Fatal(err)
		}
		if d := receiveSubOrFail(t, sub); d.Body != "x" {
			t.Fatalf("body %v", d.Body)
		}
	})
}

// A negative TTL or Delay is an error, as WithTTL(-1) is, rather than
// "never" (a TTL computed as time.Until(end) after the end would never
// expire) or "now".
func TestNegativeTTLOrDelayIsInvalid(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	tp := topicOrFail(t, b, "t")
	x, err := b.Exchange("x", FanoutExchange)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Bind("q", ""); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	publishes := map[string]func(*Message) error{
		"Queue.Publish":    func(m *Message) error { return q.Publish(ctx, m) },
		"Topic.Publish":    func(m *Message) error { return tp.Publish(ctx, m) },
		"Exchange.Publish": func(m *Message) error { return x.Publish(ctx, m) },
		"Broker.Publish":   func(m *Message) error { return b.Publish(ctx, "q", m) },
	}
	for name, publish := range publishes {
		for _, m := range []*Message{{TTL: -time.Nanosecond}, {Delay: -time.Second}} {
			if err := publish(m); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s with TTL %v, Delay %v = %v, want ErrInvalid", name, m.TTL, m.Delay, err)
			}
		}
	}
	wantStats(t, q, QueueStats{})
	if s := tp.Stats(); s.Published != 0 {
		t.Errorf("topic stats %+v", s)
	}
}

// Topic.Publish refuses a Delay: a topic is a log in publish order.
func TestTopicRefusesDelay(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	if err := tp.Publish(context.Background(), &Message{Delay: time.Second}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Publish with a Delay = %v, want ErrInvalid", err)
	}
}

// A group created after a retained message expired does not take it on,
// and a replay from the earliest skips it.
func TestTopicReplaySkipsExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "events")
		ctx := context.Background()
		if err := tp.Publish(ctx, &Message{Body: "short-lived", TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		if err := tp.Publish(ctx, &Message{Body: "lasting"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		member := subscribeOrFail(t, tp, WithGroup("late"), FromEarliest())
		if s := member.Stats(); s.Lag != 1 {
			t.Errorf("new group holds %d messages, want the one not expired", s.Lag)
		}
		if d := receiveSubOrFail(t, member); d.Body != "lasting" {
			t.Errorf("group got %v", d.Body)
		}
		sub := subscribeOrFail(t, tp, FromEarliest())
		if d := receiveSubOrFail(t, sub); d.Body != "lasting" {
			t.Errorf("replay got %v", d.Body)
		}
	})
}
