package heraldotel

import (
	"github.com/heraldmq/herald"
	"go.opentelemetry.io/otel/propagation"
)

// HeaderCarrier adapts a message's herald.Headers to a
// propagation.TextMapCarrier, so that any propagator can inject context
// into them or extract it. A nil HeaderCarrier reads as empty; Set on it
// panics, as on a nil map.
type HeaderCarrier herald.Headers

var _ propagation.TextMapCarrier = HeaderCarrier(nil)

// Get returns the value of header key, or "".
func (c HeaderCarrier) Get(key string) string { return c[key] }

// Set sets header key to value.
func (c HeaderCarrier) Set(key, value string) { c[key] = value }

// Keys returns the header names, in no particular order.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
