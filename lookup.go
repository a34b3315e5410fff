package herald

import (
	"fmt"
	"slices"
)

// Names returns the names declared on the broker, sorted: its queues,
// topics and exchanges.
func (b *Broker) Names() []string {
	names := make([]string, 0, b.names.len())
	for name := range b.names.all() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// LookupQueue returns the queue declared as name, or an error wrapping
// ErrNotFound if there is none (or name is a topic or exchange).
func (b *Broker) LookupQueue(name string) (*Queue, error) { return lookupAs[*Queue](b, name) }

// LookupTopic returns the topic declared as name, or an error wrapping
// ErrNotFound if there is none (or name is a queue or exchange).
func (b *Broker) LookupTopic(name string) (*Topic, error) { return lookupAs[*Topic](b, name) }

// LookupExchange returns the exchange declared as name, or an error
// wrapping ErrNotFound if there is none (or name is a queue or topic).
func (b *Broker) LookupExchange(name string) (*Exchange, error) {
	return lookupAs[*Exchange](b, name)
}

func lookupAs[T destination](b *Broker, name string) (T, error) {
	var zero T
	d, ok := b.names.get(name)
	if !ok {
		return zero, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	x, ok := d.(T)
	if !ok {
		return zero, fmt.Errorf("%w: %q is %s, not %s", ErrNotFound, name, article(d.kind()), article(zero.kind()))
	}
	return x, nil
}
