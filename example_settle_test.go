package herald_test

import (
	"context"
	"fmt"

	"github.com/heraldmq/herald"
)

// Requeue sends a message that failed back to the head of its queue at
// once, so the messages behind it keep their order; Release gives back a
// message the consumer never started on, without counting an attempt.
func ExampleDelivery_Requeue() {
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	q, _ := b.Queue("steps")
	for _, s := range []string{"one", "two"} {
		q.Publish(ctx, herald.NewMessage(s))
	}

	d, _ := q.Receive(ctx)
	d.Requeue() // failed: try again before "two"
	d, _ = q.Receive(ctx)
	fmt.Println(d.Body, "attempt", d.Attempt)
	d.Ack()

	d, _ = q.Receive(ctx)
	d.Release() // stopping: not an attempt
	d, _ = q.Receive(ctx)
	fmt.Println(d.Body, "attempt", d.Attempt)
	d.Ack()
	// Output:
	// one attempt 2
	// two attempt 1
}
