package herald

import (
	"context"
	"testing"
	"testing/synctest"
)

// Stats tell how many handler goroutines consume a queue or a
// subscription, and how many subscriptions a topic has.
func TestStatsCountConsumers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		tp, _ := b.Topic("events")
		plain, _ := tp.Subscribe()
		m1, _ := tp.Subscribe(WithGroup("billing"))
		m2, _ := tp.Subscribe(WithGroup("billing"))
		if s := q.Stats(); s.Consumers != 0 {
			t.Errorf("idle queue: Consumers %d, want 0", s.Consumers)
		}
		if s := tp.Stats(); s.Subscribers != 3 {
			t.Errorf("topic: Subscribers %d, want 3 (one plain, two members)", s.Subscribers)
		}
		ctx, cancel := context.WithCancel(context.Background())
		h := func(context.Context, *Delivery) error { return nil }
		done := []<-chan error{
			consumeAsync(ctx, q, h, WithConcurrency(3)),
			consumeAsync(ctx, q, h),
		}
		for _, s := range []*Subscription{plain, m1, m2} {
			errc := make(chan error, 1)
			go func() { errc <- s.Consume(ctx, h, WithConcurrency(2)) }()
			done = append(done, errc)
		}
		synctest.Wait()
		if s := q.Stats(); s.Consumers != 4 {
			t.Errorf("queue: Consumers %d, want 4", s.Consumers)
		}
		if s := plain.Stats(); s.Consumers != 2 {
			t.Errorf("plain subscription: Consumers %d, want 2", s.Consumers)
		}
		if s := m1.Stats(); s.Consumers != 4 {
			t.Errorf("group member: Consumers %d, want the group's 4", s.Consumers)
		}
		m2.Close()
		if s := tp.Stats(); s.Subscribers != 2 {
			t.Errorf("topic after a member left: Subscribers %d, want 2", s.Subscribers)
		}
		cancel()
		for _, d := range done {
			<-d
		}
		if s := q.Stats(); s.Consumers != 0 {
			t.Errorf("after Consume returned: Consumers %d, want 0", s.Consumers)
		}
	})
}
