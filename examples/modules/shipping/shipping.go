// Package shipping is the module that dispatches the orders whose payment
// was captured.
package shipping

import (
	"context"
	"strings"
	"sync"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/examples/modules/events"
)

// Module dispatches paid orders. It is safe for concurrent use.
type Module struct {
	b *herald.Broker

	mu       sync.Mutex
	tracking map[string]string
}

// Start starts the module on b: it dispatches each order whose payment
// is captured, until ctx ends or b stops.
func Start(ctx context.Context, b *herald.Broker) (*Module, error) {
	m := &Module{b: b, tracking: map[string]string{}}
	err := events.Subscribe(ctx, b, "shipping", []string{events.PaymentCaptured}, herald.Typed(m.dispatch))
	return m, err
}

// Tracking returns the tracking number of the order id, and false if it
// was not dispatched.
func (m *Module) Tracking(id string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.tracking[id]
	return t, ok
}

func (m *Module) dispatch(ctx context.Context, p events.Payment) error {
	tracking := "TRK-" + strings.ToUpper(p.OrderID)
	m.mu.Lock()
	m.tracking[p.OrderID] = tracking
	m.mu.Unlock()
	return events.Publish(ctx, m.b, events.ShipmentDispatched, events.Shipment{
		OrderID: p.OrderID, Customer: p.Customer, Tracking: tracking,
	})
}
