// Package notifications is the module that tells customers what became
// of their orders.
package notifications

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/examples/modules/events"
)

// Module keeps the notifications it sent, in an outbox standing in for
// e-mail. It is safe for concurrent use.
type Module struct {
	mu     sync.Mutex
	outbox map[string][]string // order ID -> notifications, in order
}

// Start starts the module on b: it notifies customers of captured
// payments, dispatched shipments and cancelled orders, until ctx ends or
// b stops.
func Start(ctx context.Context, b *herald.Broker) (*Module, error) {
	m := &Module{outbox: map[string][]string{}}
	keys := []string{events.PaymentCaptured, events.ShipmentDispatched, events.OrderCancelled}
	err := events.Subscribe(ctx, b, "notifications", keys, m.notify)
	return m, err
}

// Sent returns the notifications sent about the order id, oldest first.
func (m *Module) Sent(id string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.outbox[id])
}

func (m *Module) notify(_ context.Context, d *herald.Delivery) error {
	var id, text string
	switch e := d.Body.(type) {
	case events.Payment:
		id, text = e.OrderID, fmt.Sprintf("to %s: we received your payment of %.2f for %s", e.Customer, e.Amount, e.OrderID)
	case events.Shipment:
		id, text = e.OrderID, fmt.Sprintf("to %s: %s is on its way, tracking %s", e.Customer, e.OrderID, e.Tracking)
	case events.Cancellation:
		id, text = e.OrderID, fmt.Sprintf("to %s: %s was cancelled (%s)", e.Customer, e.OrderID, e.Reason)
	default:
		return herald.Permanent(fmt.Errorf("notifications: unexpected %s event %T", d.Key, d.Body))
	}
	m.mu.Lock()
	m.outbox[id] = append(m.outbox[id], text)
	m.mu.Unlock()
	return nil
}
