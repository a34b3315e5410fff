package herald_test

import (
	"context"
	"fmt"

	"github.com/heraldmq/herald"
)

// Browse shows what a queue holds without taking anything: the messages
// are still there for consumers.
func ExampleQueue_Browse() {
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	q, _ := b.Queue("jobs")
	for _, job := range []string{"resize", "thumbnail", "upload"} {
		q.Publish(ctx, &herald.Message{Key: job, Body: job + ".png"})
	}
	for _, m := range q.Browse(2) {
		fmt.Println(m.Key, m.Body)
	}
	fmt.Println("still ready:", q.Len())
	// Output:
	// resize resize.png
	// thumbnail thumbnail.png
	// still ready: 3
}

// Purge empties a queue of its ready messages; Stats counts them as
// purged, so every message published is still accounted for.
func ExampleQueue_Purge() {
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	q, _ := b.Queue("jobs")
	for i := range 3 {
		q.Publish(ctx, herald.NewMessage(i))
	}
	fmt.Println("purged:", q.Purge())
	s := q.Stats()
	fmt.Printf("published %d = purged %d + ready %d\n", s.Published, s.Purged, s.Ready)
	// Output:
	// purged: 3
	// published 3 = purged 3 + ready 0
}

// Browse reads a window of a topic's retained log by sequence number; no
// subscription moves.
func ExampleTopic_Browse() {
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	prices, _ := b.Topic("prices", herald.WithCapacity(4))
	for i := 1; i <= 6; i++ {
		prices.Publish(ctx, herald.NewMessage(i*100))
	}
	// The ring keeps the last 4: 3 to 6. The newest is Stats().Published.
	last := prices.Stats().Published
	for _, m := range prices.Browse(last-1, 2) {
		fmt.Println(m.Seq, m.Body)
	}
	fmt.Println("oldest retained:", prices.Browse(0, 1)[0].Seq)
	// Output:
	// 5 500
	// 6 600
	// oldest retained: 3
}

// Readers lists who reads a topic and how far behind each is.
func ExampleTopic_Readers() {
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	events, _ := b.Topic("events")
	audit, _ := events.Subscribe()
	defer audit.Close()
	mailer, _ := events.Subscribe(herald.WithGroup("mailer"))
	defer mailer.Close()
	for i := range 3 {
		events.Publish(ctx, herald.NewMessage(i))
	}
	d, _ := mailer.Receive(ctx)
	d.Ack()
	for _, r := range events.Readers() {
		fmt.Printf("group %q: %d member(s), lag %d, acked %d\n", r.Group, r.Members, r.Stats.Lag, r.Stats.Acked)
	}
	// Output:
	// group "": 1 member(s), lag 3, acked 0
	// group "mailer": 1 member(s), lag 2, acked 1
}

// Names, the Lookup functions, Options and Bindings describe everything
// declared on a broker.
func ExampleExchange_Bindings() {
	b := herald.New()
	defer b.Close()
	b.Queue("invoices", herald.WithMaxDeliveries(3), herald.WithDeadLetter("invoices.dead"))
	b.Queue("invoices.dead")
	x, _ := b.Exchange("billing", herald.TopicExchange, herald.WithAlternate("unrouted"))
	x.Bind("invoices", "invoice.*")
	for _, name := range b.Names() {
		if q, err := b.LookupQueue(name); err == nil {
			o := q.Options()
			fmt.Printf("queue %s: capacity %d, max deliveries %d, dead letters to %q\n",
				name, o.Capacity, o.MaxDeliveries, o.DeadLetter)
		}
		if x, err := b.LookupExchange(name); err == nil {
			fmt.Printf("%v exchange %s, alternate %q\n", x.Kind(), name, x.Alternate())
			for _, bd := range x.Bindings() {
				fmt.Printf("  %s -> %s\n", bd.Key, bd.Dest)
			}
		}
	}
	// Output:
	// topic exchange billing, alternate "unrouted"
	//   invoice.* -> invoices
	// queue invoices: capacity 1024, max deliveries 3, dead letters to "invoices.dead"
	// queue invoices.dead: capacity 1024, max deliveries 0, dead letters to ""
}
