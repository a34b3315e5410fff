// Quickstart: declare a queue, consume it with a handler, publish to it by
// name, and shut down once everything published has been handled.
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/heraldmq/herald"
)

type orderPlaced struct {
	ID    int
	Total float64
}

func main() {
	b := herald.New()
	q, err := b.Queue("orders")
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		done <- q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
			o := d.Body.(orderPlaced)
			fmt.Printf("order %d: %.2f (attempt %d)\n", o.ID, o.Total, d.Attempt)
			return nil // nil acks
		})
	}()

	for i := 1; i <= 3; i++ {
		if err := b.Publish(ctx, "orders", herald.NewMessage(orderPlaced{ID: i, Total: 9.5 * float64(i)})); err != nil {
			log.Fatal(err)
		}
	}

	// Shutdown lets the consumer finish what was published, then closes.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil {
		log.Fatal(err)
	}
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	s := q.Stats()
	fmt.Printf("published %d, acked %d\n", s.Published, s.Acked)
}
