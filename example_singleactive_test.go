package herald_test

import (
	"context"
	"fmt"

	"github.com/heraldmq/herald"
)

// Two instances consume a queue whose order matters; one works at a time.
// The primary stops while holding message 2: the standby takes over with
// it, then carries on in order.
func ExampleWithSingleActiveConsumer() {
	b := herald.New()
	defer b.Close()
	q, _ := b.Queue("ledger", herald.WithSingleActiveConsumer())
	for i := 1; i <= 4; i++ {
		q.Publish(context.Background(), herald.NewMessage(i))
	}

	primary, crash := context.WithCancel(context.Background())
	started, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		q.Consume(primary, func(ctx context.Context, d *herald.Delivery) error {
			fmt.Println("primary:", d.Body)
			if d.Body == 1 {
				close(started)
			}
			if d.Body == 2 {
				crash() // stops while message 2 is unacked
				return ctx.Err()
			}
			return nil
		})
	}()

	<-started // the primary is active; the standby lines up behind it
	standby, done := context.WithCancel(context.Background())
	q.Consume(standby, func(ctx context.Context, d *herald.Delivery) error {
		fmt.Println("standby:", d.Body, "attempt", d.Attempt)
		if d.Body == 4 {
			done()
		}
		return nil
	})
	<-stopped
	// Output:
	// primary: 1
	// primary: 2
	// standby: 2 attempt 2
	// standby: 3 attempt 1
	// standby: 4 attempt 1
}
