package herald_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/heraldmq/herald"
)

type orderPlaced struct {
	ID    int
	Total float64
}

// Producers and consumers meet at a name: declare a queue, consume it with
// a handler, publish to it by name, and shut down once everything published
// has been handled.
func Example() {
	b := herald.New()
	q, err := b.Queue("orders")
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	consumed := make(chan error, 1)
	go func() {
		consumed <- q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
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

	// Shutdown returns once the consumer has handled all three.
	if err := b.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("consume returned", <-consumed)
	s := q.Stats()
	fmt.Printf("published %d, acked %d, unacked %d\n", s.Published, s.Acked, s.Unacked)
	// Output:
	// order 1: 9.50 (attempt 1)
	// order 2: 19.00 (attempt 1)
	// order 3: 28.50 (attempt 1)
	// consume returned <nil>
	// published 3, acked 3, unacked 0
}

// A producer needs only the destination's name. Publish fills in the
// message's Time, and its ID when the producer leaves it empty.
func ExampleBroker_Publish() {
	b := herald.New()
	defer b.Close()
	q, _ := b.Queue("orders")

	ctx := context.Background()
	m := &herald.Message{
		ID:      "order-42",
		Headers: herald.Headers{"customer": "c-7"},
		Body:    orderPlaced{ID: 42, Total: 18.5},
	}
	if err := b.Publish(ctx, "orders", m); err != nil {
		log.Fatal(err)
	}
	fmt.Println("time stamped:", !m.Time.IsZero())

	err := b.Publish(ctx, "ordres", herald.NewMessage("typo"))
	fmt.Println("unknown name:", errors.Is(err, herald.ErrNotFound))

	d, _ := q.Receive(ctx)
	fmt.Println(d.ID, d.Headers["customer"], d.Body.(orderPlaced).Total)
	d.Ack()
	// Output:
	// time stamped: true
	// unknown name: true
	// order-42 c-7 18.5
}

// Receive hands out one message at a time; the caller settles each one.
func ExampleQueue_Receive() {
	b := herald.New()
	defer b.Close()
	q, _ := b.Queue("orders")

	ctx := context.Background()
	q.Publish(ctx, herald.NewMessage("order 1"))
	q.Publish(ctx, herald.NewMessage("order 2"))

	var last *herald.Delivery
	for q.Len() > 0 {
		d, err := q.Receive(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%v (attempt %d)\n", d.Body, d.Attempt)
		if err := d.Ack(); err != nil {
			log.Fatal(err)
		}
		last = d
	}
	fmt.Println("ack twice:", errors.Is(last.Ack(), herald.ErrSettled))

	// On an empty queue Receive waits, here no longer than 10ms.
	wait, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_, err := q.Receive(wait)
	fmt.Println("empty:", err)
	// Output:
	// order 1 (attempt 1)
	// order 2 (attempt 1)
	// ack twice: true
	// empty: context deadline exceeded
}

// A handler's error nacks the delivery: the message comes back after the
// queue's back-off (none here) with the next attempt number.
func ExampleQueue_Consume() {
	b := herald.New()
	q, _ := b.Queue("payments", herald.WithBackoff(0, 0))

	ctx := context.Background()
	consumed := make(chan error, 1)
	go func() {
		consumed <- q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
			fmt.Printf("charging %v, attempt %d\n", d.Body, d.Attempt)
			if d.Attempt == 1 {
				return errors.New("gateway timeout") // retried
			}
			return nil
		})
	}()
	q.Publish(ctx, herald.NewMessage("order 7"))

	b.Shutdown(ctx)
	<-consumed
	s := q.Stats()
	fmt.Printf("delivered %d, nacked %d, acked %d\n", s.Delivered, s.Nacked, s.Acked)
	// Output:
	// charging order 7, attempt 1
	// charging order 7, attempt 2
	// delivered 2, nacked 1, acked 1
}

// After its max deliveries a message goes to the dead-letter queue, with
// headers saying where it died, why and after how many attempts.
func ExampleWithDeadLetter() {
	b := herald.New()
	defer b.Close()
	orders, _ := b.Queue("orders",
		herald.WithMaxDeliveries(2),
		herald.WithDeadLetter("orders.dead"),
		herald.WithBackoff(0, 0))
	dead, _ := b.Queue("orders.dead")

	ctx := context.Background()
	orders.Publish(ctx, &herald.Message{ID: "order-9", Body: "order 9"})
	for range 2 {
		d, _ := orders.Receive(ctx)
		fmt.Printf("%s attempt %d: nack\n", d.ID, d.Attempt)
		d.Nack()
	}

	d, _ := dead.Receive(ctx)
	h := d.Headers
	fmt.Printf("%s died in %s: %s after %s attempts\n",
		d.ID, h[herald.HeaderDeathQueue], h[herald.HeaderDeathReason], h[herald.HeaderDeathAttempts])
	d.Ack()
	// Output:
	// order-9 attempt 1: nack
	// order-9 attempt 2: nack
	// order-9 died in orders: delivery-limit after 2 attempts
}

// With OverflowReject a full queue turns publishes away with ErrFull, so
// the producer can shed load instead of waiting.
func ExampleWithOverflow() {
	b := herald.New()
	defer b.Close()
	q, _ := b.Queue("orders", herald.WithCapacity(2), herald.WithOverflow(herald.OverflowReject))

	for i := 1; i <= 3; i++ {
		err := q.Publish(context.Background(), herald.NewMessage(i))
		switch {
		case errors.Is(err, herald.ErrFull):
			fmt.Printf("order %d: queue full, try later\n", i)
		case err != nil:
			log.Fatal(err)
		default:
			fmt.Printf("order %d: accepted\n", i)
		}
	}
	fmt.Println("ready:", q.Len())
	// Output:
	// order 1: accepted
	// order 2: accepted
	// order 3: queue full, try later
	// ready: 2
}

// An error wrapped with Permanent is not worth retrying: the delivery is
// rejected at once and dead-lettered with the error.
func ExamplePermanent() {
	b := herald.New()
	orders, _ := b.Queue("orders", herald.WithDeadLetter("orders.invalid"))
	invalid, _ := b.Queue("orders.invalid")

	ctx := context.Background()
	consumed := make(chan error, 1)
	go func() {
		consumed <- orders.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
			o := d.Body.(orderPlaced)
			if o.Total <= 0 {
				return herald.Permanent(fmt.Errorf("order %d: total %.2f", o.ID, o.Total))
			}
			fmt.Printf("order %d shipped\n", o.ID)
			return nil
		})
	}()
	orders.Publish(ctx, herald.NewMessage(orderPlaced{ID: 1, Total: 12}))
	orders.Publish(ctx, herald.NewMessage(orderPlaced{ID: 2, Total: -5}))

	d, _ := invalid.Receive(ctx)
	fmt.Printf("dead letter: %s: %s\n", d.Headers[herald.HeaderDeathReason], d.Headers[herald.HeaderDeathError])
	d.Ack()

	b.Shutdown(ctx)
	<-consumed
	s := orders.Stats()
	fmt.Printf("acked %d, nacked %d, rejected %d\n", s.Acked, s.Nacked, s.Rejected)
	// Output:
	// order 1 shipped
	// dead letter: rejected: permanent: order 2: total -5.00
	// acked 1, nacked 0, rejected 1
}

// Shutdown stops new publishes, lets consumers finish what was accepted and
// returns when they have; Consume then returns nil.
func ExampleBroker_Shutdown() {
	b := herald.New()
	q, _ := b.Queue("emails")

	ctx := context.Background()
	for _, to := range []string{"ana", "bo", "cy"} {
		q.Publish(ctx, herald.NewMessage(to))
	}
	consumed := make(chan error, 1)
	go func() {
		consumed <- q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
			fmt.Println("mail sent to", d.Body)
			return nil
		})
	}()

	// Give up, and close at once, if draining takes more than 5 seconds.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fmt.Println("shutdown:", b.Shutdown(sctx))
	fmt.Println("consume:", <-consumed)

	err := b.Publish(ctx, "emails", herald.NewMessage("dan"))
	fmt.Println("publish after shutdown:", errors.Is(err, herald.ErrClosed))
	// Output:
	// mail sent to ana
	// mail sent to bo
	// mail sent to cy
	// shutdown: <nil>
	// consume: <nil>
	// publish after shutdown: true
}
