package herald_test

import (
	"context"
	"fmt"

	"github.com/heraldmq/herald"
)

// An Observer sees every publish, delivery and outcome. Its Publish hook
// can add headers, which is how trace context travels with a message.
func ExampleWithObserver() {
	b := herald.New(herald.WithObserver(herald.Observer{
		Publish: func(ctx context.Context, p herald.PublishInfo) (herald.Headers, func(error)) {
			return herald.Headers{"sent-to": p.Kind + " " + p.Name}, func(err error) {
				fmt.Println("published:", p.Message.Body, err)
			}
		},
		Deliver: func(ctx context.Context, d herald.DeliverInfo) {
			fmt.Println("delivered:", d.Delivery.Body, "attempt", d.Delivery.Attempt)
		},
		End: func(e herald.EndInfo) {
			if e.DeadLetter != "" {
				fmt.Println(e.Outcome.String()+":", e.Message.Body, e.Reason, "to", e.DeadLetter)
				return
			}
			fmt.Println(e.Outcome.String()+":", e.Message.Body)
		},
	}))
	defer b.Close()
	ctx := context.Background()
	b.Queue("dead")
	q, _ := b.Queue("orders", herald.WithDeadLetter("dead"))

	q.Publish(ctx, herald.NewMessage("book"))
	q.Publish(ctx, herald.NewMessage("lamp"))
	d, _ := q.Receive(ctx)
	fmt.Println("header:", d.Headers["sent-to"])
	d.Ack()
	d, _ = q.Receive(ctx)
	d.Reject()
	// Output:
	// published: book <nil>
	// published: lamp <nil>
	// delivered: book attempt 1
	// header: queue orders
	// acked: book
	// delivered: lamp attempt 1
	// rejected: lamp rejected to dead
}
