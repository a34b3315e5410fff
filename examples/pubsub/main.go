// Pubsub: a topic fanned out to several subscribers, replayed by a late
// one, and shared by a group of workers.
//
// A feed publishes price ticks to the "prices" topic. Two subscriptions,
// "dashboard" and "alerts", each receive every tick, in publish order,
// reading the topic's ring buffer with cursors of their own: a publish
// writes once, whatever the number of subscribers. An "audit"
// subscription made after the ticks were published starts FromEarliest
// and replays what the topic retains, with each tick's sequence number.
// Three members of the group "workers" share one stream: each tick goes to
// one of them, with a queue's acks and redelivery. Shutdown waits until
// every subscription has read everything and the group has settled it.
//
//	go run ./examples/pubsub
package main

import (
	"context"
	"fmt"
	"log"
	"strings"
	"sync"
	"time"

	"github.com/heraldmq/herald"
)

type tick struct {
	Symbol string
	Price  float64
}

// journal is what one subscriber saw, printed once all are done, since
// subscribers run concurrently.
type journal struct {
	mu    sync.Mutex
	lines []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.lines = append(j.lines, fmt.Sprintf(format, args...))
}

func main() {
	b := herald.New()
	prices, err := b.Topic("prices", herald.WithCapacity(64)) // retains the last 64 ticks
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	var consumers sync.WaitGroup
	consume := func(sub *herald.Subscription, h herald.Handler) {
		consumers.Go(func() {
			if err := sub.Consume(ctx, h); err != nil {
				log.Print(err)
			}
		})
	}
	subscribe := func(opts ...herald.SubscribeOption) *herald.Subscription {
		sub, err := prices.Subscribe(opts...)
		if err != nil {
			log.Fatal(err)
		}
		return sub
	}

	// Fan-out: every subscription gets every tick.
	var dashboard, alerts, audit journal
	consume(subscribe(), herald.Typed(func(_ context.Context, t tick) error {
		dashboard.add("%s %.2f", t.Symbol, t.Price)
		return nil
	}))
	consume(subscribe(), herald.Typed(func(_ context.Context, t tick) error {
		if t.Price >= 100 {
			alerts.add("%s crossed 100: %.2f", t.Symbol, t.Price)
		}
		return nil
	}))

	// A group: three members share one stream, each tick handled once.
	var mu sync.Mutex
	handledBy := map[tick]int{} // how many members handled each tick
	for range 3 {
		consume(subscribe(herald.WithGroup("workers")), herald.Typed(func(_ context.Context, t tick) error {
			mu.Lock()
			defer mu.Unlock()
			handledBy[t]++
			return nil
		}))
	}

	feed := []tick{{"ACME", 98.5}, {"INIT", 12.25}, {"ACME", 99.75}, {"ACME", 100.5}, {"INIT", 12.5}, {"ACME", 101}}
	for _, t := range feed {
		if err := prices.Publish(ctx, herald.NewMessage(t)); err != nil {
			log.Fatal(err)
		}
	}

	// A late subscriber replays what the topic retains.
	consume(subscribe(herald.FromEarliest()), func(_ context.Context, d *herald.Delivery) error {
		t := d.Body.(tick)
		audit.add("#%d %s %.2f", d.Seq, t.Symbol, t.Price)
		return nil
	})

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil {
		log.Fatal(err)
	}
	consumers.Wait()

	fmt.Println("dashboard:", strings.Join(dashboard.lines, ", "))
	fmt.Println("alerts:   ", strings.Join(alerts.lines, ", "))
	fmt.Println("audit, subscribed after the feed, from earliest:", strings.Join(audit.lines, ", "))
	once := 0
	for _, t := range feed {
		if handledBy[t] == 1 {
			once++
		}
	}
	fmt.Printf("workers: %d of %d ticks handled by exactly one member of the group\n", once, len(feed))
	s := prices.Stats()
	fmt.Printf("topic: published %d, retained %d, %d plain subscriptions, %d group\n", s.Published, s.Retained, s.Subscriptions, s.Groups)
}
