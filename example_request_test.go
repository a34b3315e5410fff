package herald_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldmq/herald"
)

var errNoPrice = errors.New("no price")

// A service refuses a request it cannot answer with ReplyError: the caller
// gets a *ReplyError wrapping the service's own error, and the request is
// acked. One the service rejects makes the caller's Request return at
// once, wrapping ErrRejected.
func ExampleDelivery_ReplyError() {
	b := herald.New()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, _ := b.Queue("pricing")
	prices := map[string]float64{"apple": 0.5}
	go q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
		item := d.Body.(string)
		if item == "" {
			return herald.Permanent(errors.New("empty item")) // rejects the request
		}
		price, ok := prices[item]
		if !ok {
			return d.ReplyError(ctx, fmt.Errorf("%q: %w", item, errNoPrice))
		}
		return d.Reply(ctx, herald.NewMessage(price))
	})

	// The consumer may not have started yet: the queue holds the request
	// until it does. Each request carries ctx's deadline as its TTL.
	request := func(item string) (*herald.Message, error) {
		return b.Request(ctx, "pricing", herald.NewMessage(item))
	}
	reply, err := request("apple")
	fmt.Println("apple:", reply.Body, err)

	_, err = request("kiwi")
	var re *herald.ReplyError
	fmt.Println("kiwi:", err)
	fmt.Println("no price:", errors.Is(err, errNoPrice), errors.As(err, &re))

	_, err = request("")
	fmt.Println("empty:", err)
	fmt.Println("rejected:", errors.Is(err, herald.ErrRejected))
	// Output:
	// apple: 0.5 <nil>
	// kiwi: herald: request answered with an error: "kiwi": no price
	// no price: true true
	// empty: herald: request rejected: empty item
	// rejected: true
}

// A handler serving several queues tells them apart with Source.
func ExampleDelivery_Source() {
	b := herald.New()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	orders, _ := b.Queue("orders")
	events, _ := b.Topic("events")
	sub, _ := events.Subscribe(herald.WithGroup("audit"))
	orders.Publish(ctx, herald.NewMessage(1))
	events.Publish(ctx, herald.NewMessage(2))
	for _, receive := range []func(context.Context) (*herald.Delivery, error){orders.Receive, sub.Receive} {
		d, err := receive(ctx)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(d.Source(), d.Body)
		d.Ack()
	}
	// Output:
	// orders 1
	// events/audit 2
}
