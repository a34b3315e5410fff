// Package events is the contract the modules of the example share: the
// exchange they meet at, the routing key of each event and its payload. A
// module imports this package and herald, never another module, so each
// can be changed, tested or replaced on its own.
package events

import (
	"context"
	"errors"
	"log"
	"time"

	"github.com/heraldmq/herald"
)

// Exchange is the topic exchange every event is published to, with one of
// the keys below, and that each module binds its own queue to.
const Exchange = "events"

// Routing keys: "<entity>.<what happened>", so that a module can bind
// "payment.*" for every payment event.
const (
	OrderPlaced        = "order.placed"        // body: Order
	OrderCancelled     = "order.cancelled"     // body: Cancellation
	PaymentCaptured    = "payment.captured"    // body: Payment
	PaymentDeclined    = "payment.declined"    // body: Payment, with Reason
	ShipmentDispatched = "shipment.dispatched" // body: Shipment
)

// Order is an order that was placed.
type Order struct {
	OrderID  string
	Customer string
	Total    float64
}

// Payment is the outcome of charging an order: captured, or declined for
// Reason.
type Payment struct {
	OrderID  string
	Customer string
	Amount   float64
	Reason   string // why it was declined; "" when captured
}

// Shipment is an order that left the warehouse.
type Shipment struct {
	OrderID  string
	Customer string
	Tracking string
}

// Cancellation is an order that was cancelled, and why.
type Cancellation struct {
	OrderID  string
	Customer string
	Reason   string
}

// Publish publishes body as the event key.
func Publish(ctx context.Context, b *herald.Broker, key string, body any) error {
	return b.Publish(ctx, Exchange, &herald.Message{Key: key, Body: body})
}

// Subscribe declares the exchange and a queue called queue that receives
// the events whose keys match patterns, and consumes it with h in a
// goroutine of its own until ctx ends or the broker stops. A handler error
// retries the event after a short back-off, up to five attempts.
func Subscribe(ctx context.Context, b *herald.Broker, queue string, patterns []string, h herald.Handler) error {
	x, err := b.Exchange(Exchange, herald.TopicExchange)
	if err != nil {
		return err
	}
	q, err := b.Queue(queue, herald.WithMaxDeliveries(5), herald.WithBackoff(time.Millisecond, 50*time.Millisecond))
	if err != nil {
		return err
	}
	for _, p := range patterns {
		if err := x.Bind(queue, p); err != nil {
			return err
		}
	}
	go func() {
		err := q.Consume(ctx, h)
		if err != nil && !errors.Is(err, herald.ErrClosed) && ctx.Err() == nil {
			log.Printf("%s: consumer stopped: %v", queue, err)
		}
	}()
	return nil
}
