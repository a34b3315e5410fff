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

// SubscriptionStats lists each subscription of a topic, and each group
// once, with how far behind it is: what a lag gauge reads.
func ExampleTopic_SubscriptionStats() {
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	t, _ := b.Topic("prices")
	t.Subscribe()
	t.Subscribe(herald.WithGroup("audit"))
	for i := range 3 {
		t.Publish(ctx, herald.NewMessage(i))
	}
	for group, s := range t.SubscriptionStats() {
		fmt.Printf("group %q: lag %d\n", group, s.Lag)
	}
	// Output:
	// group "": lag 3
	// group "audit": lag 3
}

// A handler can tell where its delivery came from, for logs or metrics.
func ExampleDelivery_Place() {
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	t, _ := b.Topic("orders")
	member, _ := t.Subscribe(herald.WithGroup("billing"))
	t.Publish(ctx, herald.NewMessage("book"))
	d, _ := member.Receive(ctx)
	fmt.Printf("%+v\n", d.Place())
	d.Ack()
	// Output:
	// {Name:orders Kind:topic Group:billing}
}
