package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/middleware"
)

// Retry calls the handler again in place, on the same delivery, while it
// fails; the queue sees one delivery, acked.
func ExampleRetry() {
	b := herald.New()
	q, _ := b.Queue("payments")

	ctx := context.Background()
	consumed := make(chan error, 1)
	tries := 0
	go func() {
		consumed <- q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
			tries++
			if tries < 3 {
				fmt.Printf("%v: attempt %d, try %d: gateway busy\n", d.Body, d.Attempt, tries)
				return errors.New("gateway busy")
			}
			fmt.Printf("%v: attempt %d, try %d: charged\n", d.Body, d.Attempt, tries)
			return nil
		}, herald.WithMiddleware(middleware.Retry(middleware.RetryPolicy{
			Attempts:    5,
			InitialWait: time.Millisecond,
			MaxWait:     10 * time.Millisecond,
		})))
	}()
	q.Publish(ctx, herald.NewMessage("order 7"))

	b.Shutdown(ctx)
	<-consumed
	s := q.Stats()
	fmt.Printf("delivered %d, acked %d, nacked %d\n", s.Delivered, s.Acked, s.Nacked)
	// Output:
	// order 7: attempt 1, try 1: gateway busy
	// order 7: attempt 1, try 2: gateway busy
	// order 7: attempt 1, try 3: charged
	// delivered 1, acked 1, nacked 0
}

// With Recover inside Logging, a handler's panic is logged as an error;
// the delivery is then retried by the queue as for any error.
func ExampleRecover() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" {
				return slog.Attr{} // for a stable output
			}
			return a
		},
	}))
	b := herald.New(herald.WithMiddleware(middleware.Logging(logger), middleware.Recover()))
	q, _ := b.Queue("orders", herald.WithBackoff(0, 0))

	ctx := context.Background()
	consumed := make(chan error, 1)
	go func() {
		consumed <- q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
			if d.Attempt == 1 {
				panic("stock level unknown")
			}
			return nil
		})
	}()
	q.Publish(ctx, &herald.Message{ID: "order-1", Body: "order 1"})

	b.Shutdown(ctx)
	<-consumed
	// Output:
	// level=WARN msg="delivery failed" source=orders id=order-1 attempt=1 error="herald: handler panicked: stock level unknown"
}

// Timeout inside Retry gives each try its own deadline.
func ExampleTimeout() {
	b := herald.New()
	q, _ := b.Queue("lookups")

	ctx := context.Background()
	consumed := make(chan error, 1)
	tries := 0
	go func() {
		consumed <- q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
			tries++
			if tries == 1 {
				<-ctx.Done() // a stuck lookup
				fmt.Println("try 1:", ctx.Err())
				return ctx.Err()
			}
			fmt.Println("try 2: found")
			return nil
		}, herald.WithMiddleware(
			middleware.Retry(middleware.RetryPolicy{InitialWait: -1}),
			middleware.Timeout(10*time.Millisecond)))
	}()
	q.Publish(ctx, herald.NewMessage("user 3"))

	b.Shutdown(ctx)
	<-consumed
	// Output:
	// try 1: context deadline exceeded
	// try 2: found
}
