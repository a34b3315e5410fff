package herald_test

import (
	"context"
	"fmt"
	"log"

	"github.com/heraldmq/herald"
)

type invoice struct {
	ID    int
	Total float64
}

// A typed handler works on the consumer's own type: a body that is an
// invoice arrives as is, JSON bytes are decoded into one, and any other
// body is rejected (here dead-lettered) with an error naming both types.
func ExampleTyped() {
	b := herald.New()
	q, _ := b.Queue("invoices", herald.WithDeadLetter("invoices.dead"))
	dead, _ := b.Queue("invoices.dead")

	ctx := context.Background()
	consumed := make(chan error, 1)
	go func() {
		consumed <- q.Consume(ctx, herald.Typed(func(ctx context.Context, inv invoice) error {
			fmt.Printf("invoice %d: %.2f\n", inv.ID, inv.Total)
			return nil
		}))
	}()

	q.Publish(ctx, herald.NewMessage(invoice{ID: 1, Total: 9.5}))    // a Go value, passed as is
	q.Publish(ctx, herald.NewMessage([]byte(`{"ID":2,"Total":20}`))) // JSON, decoded
	q.Publish(ctx, herald.NewMessage("invoice 3, total 7"))          // neither: rejected
	d, err := dead.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Headers[herald.HeaderDeathError])
	d.Ack()

	b.Shutdown(ctx)
	<-consumed
	// Output:
	// invoice 1: 9.50
	// invoice 2: 20.00
	// permanent: herald: body of the wrong type: got string, handler wants herald_test.invoice
}

// A producer that has bytes publishes them with their content type; the
// consumer decodes them into its own type with a typed handler, here one
// that also sees the delivery's headers.
func ExampleEncode() {
	b := herald.New()
	q, _ := b.Queue("invoices")

	ctx := context.Background()
	consumed := make(chan error, 1)
	go func() {
		consumed <- q.Consume(ctx, herald.TypedDelivery(func(ctx context.Context, inv invoice, d *herald.Delivery) error {
			fmt.Printf("invoice %d: %.2f (%s)\n", inv.ID, inv.Total, d.Headers[herald.HeaderContentType])
			return nil
		}))
	}()

	m, err := herald.Encode(herald.JSONCodec(), invoice{ID: 7, Total: 12.5})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("publishing %s\n", m.Body)
	if err := b.Publish(ctx, "invoices", m); err != nil {
		log.Fatal(err)
	}

	b.Shutdown(ctx)
	<-consumed
	// Output:
	// publishing {"ID":7,"Total":12.5}
	// invoice 7: 12.50 (application/json)
}

// BodyAs applies a typed handler's rules to a message received by hand.
func ExampleBodyAs() {
	b := herald.New()
	defer b.Close()
	q, _ := b.Queue("invoices")

	ctx := context.Background()
	q.Publish(ctx, herald.NewMessage([]byte(`{"ID":8,"Total":3}`)))
	d, _ := q.Receive(ctx)
	inv, err := herald.BodyAs[invoice](d.Message)
	if err != nil {
		d.Reject()
		log.Fatal(err)
	}
	d.Ack()
	fmt.Printf("invoice %d: %.2f\n", inv.ID, inv.Total)
	// Output:
	// invoice 8: 3.00
}
