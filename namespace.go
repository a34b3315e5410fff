package herald

import (
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// namespace maps the broker's names to its queues, topics and exchanges.
// Publishes look names up without taking a lock. Declares, serialised by
// Broker.mu, add one name in constant time: a copy-on-write map would copy
// every name on each declare, which made declaring n names cost n².
type namespace struct {
	m sync.Map // string → destination; never deleted from
	n atomic.Int64
}

// get returns the destination called name.
func (ns *namespace) get(name string) (destination, bool) {
	d, ok := ns.m.Load(name)
	if !ok {
		return nil, false
	}
	return d.(destination), true
}

// add adds a name not yet declared; Broker.mu must be held.
func (ns *namespace) add(name string, d destination) {
	ns.m.Store(name, d)
	ns.n.Add(1)
}

// all yields every name and its destination, in no particular order.
func (ns *namespace) all() iter.Seq2[string, destination] {
	return func(yield func(string, destination) bool) {
		ns.m.Range(func(k, v any) bool { return yield(k.(string), v.(destination)) })
	}
}

// len returns how many names are declared.
func (ns *namespace) len() int { return int(ns.n.Load()) }

// MaxNameLen is the longest name a queue, topic or exchange may have.
const MaxNameLen = 255

// validateName accepts names of 1 to MaxNameLen bytes made of ASCII
// letters, digits and . _ - : / — enough for "orders.created" or
// "billing/invoices" — and rejects everything else, wildcards included, so
// that a name can never be mistaken for a routing pattern.
func validateName(name string) error {
	if name == "" {
		return invalidf("empty name")
	}
	if strings.HasPrefix(name, replyPrefix) {
		return invalidf("name %q: names starting with %q are Request's reply destinations", name, replyPrefix)
	}
	if len(name) > MaxNameLen {
		return invalidf("name of %d bytes, longest is %d", len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '_', c == '-', c == ':', c == '/':
		default:
			r, _ := utf8.DecodeRuneInString(name[i:])
			what := fmt.Sprintf("%q", r)
			if r == utf8.RuneError {
				what = fmt.Sprintf("byte %#02x", c) // not UTF-8
			}
			return invalidf("name %q: %s at byte %d is not an ASCII letter, digit or . _ - : /", name, what, i)
		}
	}
	return nil
}

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
