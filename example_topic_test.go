package herald_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/heraldmq/herald"
)

// Every subscription of a topic sees every message published after it
// subscribed, in publish order; the topic writes each message once.
func ExampleTopic() {
	b := herald.New()
	defer b.Close()
	news, _ := b.Topic("news")
	audit, _ := news.Subscribe()
	search, _ := news.Subscribe()

	ctx := context.Background()
	for _, headline := range []string{"rates up", "rain tomorrow"} {
		news.Publish(ctx, herald.NewMessage(headline))
	}
	for _, sub := range []struct {
		name string
		s    *herald.Subscription
	}{{"audit", audit}, {"search", search}} {
		for range 2 {
			d, _ := sub.s.Receive(ctx)
			fmt.Printf("%s got #%d %v\n", sub.name, d.Seq, d.Body)
			d.Ack()
		}
	}
	// Output:
	// audit got #1 rates up
	// audit got #2 rain tomorrow
	// search got #1 rates up
	// search got #2 rain tomorrow
}

// A topic retains its last messages (WithCapacity, rounded up to a power
// of two) so that a late subscriber can replay them.
func ExampleFromEarliest() {
	b := herald.New()
	defer b.Close()
	prices, _ := b.Topic("prices", herald.WithCapacity(4))
	ctx := context.Background()
	for i := 1; i <= 6; i++ {
		prices.Publish(ctx, herald.NewMessage(100+i))
	}

	late, _ := prices.Subscribe(herald.FromEarliest())
	fmt.Println("retained:", prices.Stats().Retained)
	for late.Stats().Lag > 0 {
		d, _ := late.Receive(ctx)
		fmt.Printf("#%d %v\n", d.Seq, d.Body)
		d.Ack()
	}
	// Output:
	// retained: 4
	// #3 103
	// #4 104
	// #5 105
	// #6 106
}

// Members of a subscription group share one stream: each message is
// handled by one of them, with a queue's acks and redeliveries.
func ExampleWithGroup() {
	b := herald.New()
	defer b.Close()
	jobs, _ := b.Topic("jobs")
	ctx, cancel := context.WithCancel(context.Background())

	const n = 10
	var mu sync.Mutex
	handled := map[any]int{}
	var all sync.WaitGroup
	all.Add(n)
	var workers sync.WaitGroup
	for range 2 {
		member, _ := jobs.Subscribe(herald.WithGroup("workers"))
		workers.Go(func() {
			member.Consume(ctx, func(_ context.Context, d *herald.Delivery) error {
				mu.Lock()
				handled[d.Body]++
				mu.Unlock()
				all.Done()
				return nil
			})
		})
	}
	for i := range n {
		jobs.Publish(ctx, herald.NewMessage(i))
	}
	all.Wait()
	cancel()
	workers.Wait()

	once := true
	for i := range n {
		once = once && handled[i] == 1
	}
	fmt.Printf("handled %d messages, each once: %v\n", len(handled), once)
	// Output:
	// handled 10 messages, each once: true
}

// All ranges over a subscription's deliveries, acking each one the loop
// body leaves unsettled.
func ExampleSubscription_All() {
	b := herald.New()
	defer b.Close()
	events, _ := b.Topic("events")
	sub, _ := events.Subscribe()
	ctx := context.Background()
	for _, e := range []string{"created", "paid", "shipped"} {
		events.Publish(ctx, herald.NewMessage(e))
	}

	for d := range sub.All(ctx) {
		fmt.Println(d.Seq, d.Body)
		if d.Body == "shipped" {
			break
		}
	}
	fmt.Println("acked:", sub.Stats().Acked)
	// Output:
	// 1 created
	// 2 paid
	// 3 shipped
	// acked: 3
}
