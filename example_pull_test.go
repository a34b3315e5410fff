package herald_test

import (
	"context"
	"fmt"
	"log"

	"github.com/heraldmq/herald"
)

// A pull loop settles each delivery itself. One left unsettled (here the
// first attempt at order 2) is nacked when the next iteration starts, and
// comes back after the queue's back-off; the loop ends without an error
// once Shutdown has drained the queue.
func ExampleQueue_All() {
	b := herald.New()
	q, err := b.Queue("orders", herald.WithBackoff(0, 0))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		if err := q.Publish(ctx, herald.NewMessage(i)); err != nil {
			log.Fatal(err)
		}
	}
	go func() {
		if err := b.Shutdown(ctx); err != nil {
			log.Fatal(err)
		}
	}()

	for d, err := range q.All(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("order %d, attempt %d\n", d.Body, d.Attempt)
		if d.Body == 2 && d.Attempt == 1 {
			continue // not settled: nacked, redelivered
		}
		d.Ack()
	}
	s := q.Stats()
	fmt.Printf("acked %d, nacked %d\n", s.Acked, s.Nacked)
	// Output:
	// order 1, attempt 1
	// order 2, attempt 1
	// order 3, attempt 1
	// order 2, attempt 2
	// acked 3, nacked 1
}
