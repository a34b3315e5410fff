package herald_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

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
		}, herald.WithMiddleware(herald.Retry(
			herald.RetryAttempts(5),
			herald.RetryBackoff(time.Millisecond, 10*time.Millisecond))))
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
	b := herald.New(herald.WithMiddleware(herald.Logging(logger), herald.Recover()))
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
