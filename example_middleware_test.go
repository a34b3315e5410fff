package herald_test

import (
	"context"
	"fmt"

	"github.com/heraldmq/herald"
)

// trace returns middleware that prints when a delivery enters and leaves it.
func trace(name string) herald.Middleware {
	return func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) error {
			fmt.Println("enter", name)
			defer fmt.Println("leave", name)
			return next(ctx, d)
		}
	}
}

// The broker's middleware wrap every consumer's, which wrap the handler;
// in each list the first given is the outermost.
func ExampleWithMiddleware() {
	b := herald.New(herald.WithMiddleware(trace("broker")))
	q, _ := b.Queue("orders")

	ctx := context.Background()
	consumed := make(chan error, 1)
	go func() {
		consumed <- q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
			fmt.Println("handle", d.Body)
			return nil
		}, herald.WithMiddleware(trace("consumer 1"), trace("consumer 2")))
	}()
	q.Publish(ctx, herald.NewMessage("order 1"))

	b.Shutdown(ctx)
	<-consumed
	// Output:
	// enter broker
	// enter consumer 1
	// enter consumer 2
	// handle order 1
	// leave consumer 2
	// leave consumer 1
	// leave broker
}

// Middleware can tell whether the handler settled the delivery itself
// or left it to its returned error.
func ExampleDelivery_Settled() {
	settledBy := func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) error {
			err := next(ctx, d)
			fmt.Printf("%v: settled by the handler: %v\n", d.Body, d.Settled())
			return err
		}
	}
	b := herald.New()
	q, _ := b.Queue("orders")

	ctx := context.Background()
	consumed := make(chan error, 1)
	go func() {
		consumed <- q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
			if d.Body == "order 2" {
				return d.Reject()
			}
			return nil
		}, herald.WithMiddleware(settledBy))
	}()
	q.Publish(ctx, herald.NewMessage("order 1"))
	q.Publish(ctx, herald.NewMessage("order 2"))

	b.Shutdown(ctx)
	<-consumed
	// Output:
	// order 1: settled by the handler: false
	// order 2: settled by the handler: true
}
