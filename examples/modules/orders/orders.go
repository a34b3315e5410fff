// Package orders is the module that takes orders and follows each one
// through payment and shipping, as the other modules report them.
package orders

import (
	"context"
	"fmt"
	"sync"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/examples/modules/events"
)

// Status is where an order stands.
type Status string

// The statuses of an order, in the order they come.
const (
	Placed    Status = "placed"
	Paid      Status = "paid"
	Shipped   Status = "shipped"
	Cancelled Status = "cancelled"
)

// Module holds the orders. It is safe for concurrent use.
type Module struct {
	b *herald.Broker

	mu     sync.Mutex
	next   int
	status map[string]Status
}

// Start starts the module on b: it follows payment and shipment events
// until ctx ends or b stops.
func Start(ctx context.Context, b *herald.Broker) (*Module, error) {
	m := &Module{b: b, status: map[string]Status{}}
	err := events.Subscribe(ctx, b, "orders", []string{"payment.*", events.ShipmentDispatched}, m.handle)
	return m, err
}

// Place places an order and announces it as order.placed; it returns the
// order's ID.
func (m *Module) Place(ctx context.Context, customer string, total float64) (string, error) {
	m.mu.Lock()
	m.next++
	id := fmt.Sprintf("order-%d", m.next)
	m.status[id] = Placed
	m.mu.Unlock()
	return id, events.Publish(ctx, m.b, events.OrderPlaced, events.Order{OrderID: id, Customer: customer, Total: total})
}

// Status returns the status of the order id, and false if there is no
// such order.
func (m *Module) Status(id string) (Status, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.status[id]
	return s, ok
}

func (m *Module) handle(ctx context.Context, d *herald.Delivery) error {
	switch e := d.Body.(type) {
	case events.Payment:
		if d.Key == events.PaymentDeclined {
			m.set(e.OrderID, Cancelled)
			return events.Publish(ctx, m.b, events.OrderCancelled, events.Cancellation{
				OrderID: e.OrderID, Customer: e.Customer, Reason: "payment declined: " + e.Reason,
			})
		}
		m.set(e.OrderID, Paid)
	case events.Shipment:
		m.set(e.OrderID, Shipped)
	default:
		return herald.Permanent(fmt.Errorf("orders: unexpected %s event %T", d.Key, d.Body))
	}
	return nil
}

// set moves an order on, never back: a shipment can be reported before
// the payment it followed has been handled here.
func (m *Module) set(id string, s Status) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.status[id] != Shipped && m.status[id] != Cancelled {
		m.status[id] = s
	}
}
