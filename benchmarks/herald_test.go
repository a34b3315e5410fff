package benchmarks

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/heraldmq/herald"
)

// herald: queues, a topic and a topic exchange of capacity 1024, consumed
// with Consume handlers that ack by returning nil.

// consumer is a Queue or a Subscription.
type consumer interface {
	Consume(ctx context.Context, h herald.Handler, opts ...herald.ConsumeOption) error
}

// consume runs src.Consume(h) in the background and returns a function
// that stops it and waits for it to return.
func consume(src consumer, h herald.Handler) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Consume(ctx, h)
	}()
	return func() { cancel(); <-done }
}

// stopAll calls each stop function, as returned by consume.
func stopAll(stops []func()) {
	for _, stop := range stops {
		stop()
	}
}

// counting is a handler that counts and acks.
func counting(c *counter) herald.Handler {
	return func(context.Context, *herald.Delivery) error {
		c.add()
		return nil
	}
}

func newQueue(b *testing.B, br *herald.Broker, name string) *herald.Queue {
	q, err := br.Queue(name, herald.WithCapacity(capacity))
	if err != nil {
		b.Fatal(err)
	}
	return q
}

func herald1to1(b *testing.B) {
	br := herald.New()
	defer br.Close()
	q := newQueue(b, br, "bench")
	c := newCounter(b.N)
	stop := consume(q, counting(c))
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if err := q.Publish(ctx, &herald.Message{Body: body}); err != nil {
			b.Fatal(err)
		}
	}
	c.wait(b, nil)
	b.StopTimer()
	stop()
	c.check(b, "consumer")
}

// herald4to4: four producers, four competing Consume calls on one queue.
func herald4to4(b *testing.B) {
	br := herald.New()
	defer br.Close()
	q := newQueue(b, br, "bench")
	c := newCounter(b.N)
	var stops []func()
	for range consumers {
		stops = append(stops, consume(q, counting(c)))
	}
	ctx := context.Background()
	b.ResetTimer()
	var prod sync.WaitGroup
	for p := range producers {
		prod.Go(func() {
			for range share(b.N, p) {
				if err := q.Publish(ctx, &herald.Message{Body: body}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	prod.Wait()
	if b.Failed() {
		stopAll(stops)
		return
	}
	c.wait(b, nil)
	b.StopTimer()
	stopAll(stops)
	c.check(b, "consumers")
}

// heraldFanout publishes each message once to a topic with eight
// subscriptions.
func heraldFanout(b *testing.B) {
	br := herald.New()
	defer br.Close()
	t, err := br.Topic("bench", herald.WithCapacity(capacity))
	if err != nil {
		b.Fatal(err)
	}
	cs := make([]*counter, subscribers)
	var stops []func()
	defer func() { stopAll(stops) }()
	for i := range cs {
		sub, err := t.Subscribe()
		if err != nil {
			b.Fatal(err)
		}
		cs[i] = newCounter(b.N)
		stops = append(stops, consume(sub, counting(cs[i])))
	}
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if err := t.Publish(ctx, &herald.Message{Body: body}); err != nil {
			b.Fatal(err)
		}
	}
	waitAll(b, cs, nil)
	b.StopTimer()
	stopAll(stops)
	stops = nil
	checkAll(b, cs)
}

// heraldReqReply is Broker.Request answered by a queue consumer with
// Delivery.Reply.
func heraldReqReply(b *testing.B) {
	br := herald.New()
	defer br.Close()
	q := newQueue(b, br, "rpc")
	ready := make(chan struct{})
	var primed bool
	defer consume(q, func(ctx context.Context, d *herald.Delivery) error {
		if !primed {
			primed = true
			close(ready)
			return nil
		}
		return d.Reply(ctx, &herald.Message{Body: d.Body})
	})()
	ctx := context.Background()
	// Request fails fast while no consumer is running: wait for one.
	if err := q.Publish(ctx, &herald.Message{}); err != nil {
		b.Fatal(err)
	}
	<-ready
	b.ResetTimer()
	for range b.N {
		m, err := br.Request(ctx, "rpc", &herald.Message{Body: body})
		if err != nil {
			b.Fatal(err)
		}
		if m.Body != body {
			b.Fatal("wrong reply")
		}
	}
	b.StopTimer()
}

// heraldRoute publishes to a topic exchange with 100 bindings to 100
// queues; routeKey reaches one of them, which a consumer drains.
func heraldRoute(b *testing.B) {
	br := herald.New()
	defer br.Close()
	x, err := br.Exchange("bench", herald.TopicExchange)
	if err != nil {
		b.Fatal(err)
	}
	var target *herald.Queue
	for i := range 100 {
		q := newQueue(b, br, fmt.Sprintf("bench%d", i))
		p := routePattern(i, false)
		if err := x.Bind(q.Name(), p); err != nil {
			b.Fatal(err)
		}
		if p == routeKey {
			target = q
		}
	}
	c := newCounter(b.N)
	stop := consume(target, counting(c))
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if err := x.Publish(ctx, &herald.Message{Key: routeKey, Body: body}); err != nil {
			b.Fatal(err)
		}
	}
	c.wait(b, nil)
	b.StopTimer()
	stop()
	c.check(b, "consumer")
	for i := range 100 {
		q, _ := br.LookupQueue(fmt.Sprintf("bench%d", i))
		if q != target && q.Stats().Published != 0 {
			b.Fatalf("queue %s got messages routed with %q", q.Name(), routeKey)
		}
	}
}
