// Package billing is the module that charges placed orders and reports
// each payment as captured or declined.
package billing

import (
	"context"
	"fmt"
	"sync"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/examples/modules/events"
)

// Module charges orders up to a card limit. It is safe for concurrent use.
type Module struct {
	b     *herald.Broker
	limit float64

	mu       sync.Mutex
	captured map[string]float64
}

// Start starts the module on b: it charges every placed order of up to
// limit, and declines the others, until ctx ends or b stops.
func Start(ctx context.Context, b *herald.Broker, limit float64) (*Module, error) {
	m := &Module{b: b, limit: limit, captured: map[string]float64{}}
	err := events.Subscribe(ctx, b, "billing", []string{events.OrderPlaced}, herald.Typed(m.charge))
	return m, err
}

// Captured returns the amount captured for the order id, and false if
// none was.
func (m *Module) Captured(id string) (float64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.captured[id]
	return a, ok
}

func (m *Module) charge(ctx context.Context, o events.Order) error {
	p := events.Payment{OrderID: o.OrderID, Customer: o.Customer, Amount: o.Total}
	if o.Total > m.limit {
		p.Reason = fmt.Sprintf("%.2f is over the card limit", o.Total)
		return events.Publish(ctx, m.b, events.PaymentDeclined, p)
	}
	m.mu.Lock()
	m.captured[o.OrderID] = o.Total
	m.mu.Unlock()
	return events.Publish(ctx, m.b, events.PaymentCaptured, p)
}
