package herald_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/heraldmq/herald"
)

// A service answers requests on a queue; callers wait for their own reply.
// A request to a queue waits for a consumer, so the service may still be
// starting; a request nothing could ever receive fails at once.
func ExampleBroker_Request() {
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	q, _ := b.Queue("pricing")
	b.Topic("news")

	// A topic with no subscriber: nobody could ever answer.
	_, err := b.Request(ctx, "news", herald.NewMessage("hello?"))
	fmt.Println("no subscriber:", errors.Is(err, herald.ErrNoResponders))

	go q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
		return d.Reply(ctx, herald.NewMessage(fmt.Sprintf("%s: 0.50", d.Body)))
	})
	reply, err := b.Request(ctx, "pricing", herald.NewMessage("apple"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("reply:", reply.Body)
	// Output:
	// no subscriber: true
	// reply: apple: 0.50
}

// WaitIdle lets a test publish, wait for a whole flow to settle, and
// assert, with no sleep.
func ExampleBroker_WaitIdle() {
	b := herald.New()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	orders, _ := b.Queue("orders")
	invoices, _ := b.Queue("invoices")

	go orders.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
		return invoices.Publish(ctx, herald.NewMessage(fmt.Sprintf("invoice for %v", d.Body)))
	})
	total := 0
	go invoices.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
		total++
		return nil
	})
	for i := range 3 {
		orders.Publish(ctx, herald.NewMessage(i))
	}
	if err := b.WaitIdle(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("invoices handled:", total)
	// Output: invoices handled: 3
}

// A transform on the queue upgrades old producers' messages as they enter.
func ExampleWithTransform() {
	type orderV2 struct{ ID, Currency string }
	upgrade := func(m *herald.Message) (*herald.Message, error) {
		id, ok := m.Body.(string) // v1 producers publish a bare order ID
		if !ok {
			return nil, fmt.Errorf("not a v1 order: %T", m.Body)
		}
		c := *m
		c.Body = orderV2{ID: id, Currency: "EUR"}
		return &c, nil
	}
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	q, _ := b.Queue("orders", herald.WithTransform(upgrade))
	q.Publish(ctx, herald.NewMessage("order-7"))
	err := q.Publish(ctx, herald.NewMessage(42))
	d, _ := q.Receive(ctx)
	fmt.Printf("%+v\n", d.Body)
	fmt.Println(errors.Is(err, herald.ErrTransform), err)
	// Output:
	// {ID:order-7 Currency:EUR}
	// true queue "orders": herald: transform failed: not a v1 order: int
}

// Higher priorities first, first in first out within a priority.
func ExampleWithPriorities() {
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	q, _ := b.Queue("tickets", herald.WithPriorities(3))
	q.Publish(ctx, &herald.Message{Body: "typo on the website", Priority: 0})
	q.Publish(ctx, &herald.Message{Body: "checkout is down", Priority: 2})
	q.Publish(ctx, &herald.Message{Body: "slow search", Priority: 1})
	q.Publish(ctx, &herald.Message{Body: "payments failing", Priority: 2})
	for range 4 {
		d, _ := q.Receive(ctx)
		fmt.Println(d.Priority, d.Body)
		d.Ack()
	}
	// Output:
	// 2 checkout is down
	// 2 payments failing
	// 1 slow search
	// 0 typo on the website
}

// A repeated message ID within the window is refused, not queued twice.
func ExampleWithDedup() {
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	q, _ := b.Queue("payments", herald.WithDedup(time.Minute))
	fmt.Println(q.Publish(ctx, &herald.Message{ID: "pay-1", Body: 100}))
	err := q.Publish(ctx, &herald.Message{ID: "pay-1", Body: 100}) // a retry after a timeout
	fmt.Println(errors.Is(err, herald.ErrDuplicate), q.Len())
	// Output:
	// <nil>
	// true 1
}

// A Delivery is settled once: Ack, Nack (retry after the back-off) or
// Reject (dead-letter); Attempt counts the deliveries so far.
func ExampleDelivery() {
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	q, _ := b.Queue("jobs", herald.WithBackoff(0, 0), herald.WithDeadLetter("jobs.dead"))
	dead, _ := b.Queue("jobs.dead")
	q.Publish(ctx, herald.NewMessage("resize image"))

	d, _ := q.Receive(ctx)
	fmt.Println(d.Body, "attempt", d.Attempt)
	d.Nack() // try again
	fmt.Println("second settle:", d.Ack())

	d, _ = q.Receive(ctx)
	fmt.Println(d.Body, "attempt", d.Attempt)
	d.Reject() // give up: to the dead-letter queue

	dl, _ := dead.Receive(ctx)
	fmt.Println("dead:", dl.Body, dl.Headers[herald.HeaderDeathReason], "after", dl.Headers[herald.HeaderDeathAttempts])
	// Output:
	// resize image attempt 1
	// second settle: herald: delivery already settled
	// resize image attempt 2
	// dead: resize image rejected after 2
}

// WithPrefetch lets a consumer take several messages per visit to the
// queue; the ones it holds count as Unacked and wait for its handlers,
// out of other consumers' reach.
func ExampleWithPrefetch() {
	b := herald.New()
	defer b.Close()
	jobs, _ := b.Queue("jobs")
	ctx := context.Background()
	for i := 1; i <= 10; i++ {
		jobs.Publish(ctx, herald.NewMessage(i))
	}

	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	consumer, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		jobs.Consume(consumer, func(context.Context, *herald.Delivery) error {
			once.Do(func() { close(started); <-release })
			return nil
		}, herald.WithPrefetch(4))
	}()
	<-started // the first handler call holds on
	s := jobs.Stats()
	fmt.Println("held by the consumer:", s.Unacked, "ready for others:", s.Ready)

	close(release)
	b.WaitIdle(ctx)
	fmt.Println("acked:", jobs.Stats().Acked)
	stop()
	<-done
	// Output:
	// held by the consumer: 4 ready for others: 6
	// acked: 10
}
