package herald

import (
	"iter"
	"sync"
	"sync/atomic"
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
