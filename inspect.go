package herald

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// What a declared queue, topic or exchange is made of, for tools that show
// a broker (such as package console): each function here returns a
// snapshot, holds no lock longer than it takes to copy, and runs no user
// code.

// QueueOptions are the options a queue was declared with, defaults filled
// in, as [Queue.Options] reports them.
type QueueOptions struct {
	Capacity   int           // WithCapacity
	Overflow   Overflow      // WithOverflow
	TTL        time.Duration // WithTTL; 0: messages never expire
	Priorities int           // WithPriorities; 1: none
	Dedup      time.Duration // WithDedup; 0: none
	RedeliveryOptions
	Transform bool // WithTransform was given
}

// RedeliveryOptions are how a queue, or a topic's subscription group,
// redelivers and dead-letters.
type RedeliveryOptions struct {
	MaxDeliveries int    // WithMaxDeliveries; 0: unlimited
	DeadLetter    string // WithDeadLetter; "": none
	// DeadLetterKey replaces a dead letter's key when ReplaceKey is set
	// (WithDeadLetterKey); otherwise a dead letter keeps its key.
	DeadLetterKey string
	ReplaceKey    bool
	AckTimeout    time.Duration // WithAckTimeout; 0: none
	BackoffMin    time.Duration // WithBackoff
	BackoffMax    time.Duration
}

func (c redeliveryConfig) options() RedeliveryOptions {
	return RedeliveryOptions{
		MaxDeliveries: c.maxDeliveries, DeadLetter: c.deadLetter,
		DeadLetterKey: c.deadLetterKey, ReplaceKey: c.replaceKey,
		AckTimeout: c.ackTimeout, BackoffMin: c.backoffMin, BackoffMax: c.backoffMax,
	}
}

// Options returns the options the queue was declared with.
func (q *Queue) Options() QueueOptions {
	c := q.cfg
	return QueueOptions{
		Capacity: c.capacity, Overflow: c.overflow, TTL: c.ttl, Priorities: max(c.priorities, 1),
		Dedup: c.dedup, RedeliveryOptions: c.redeliveryConfig.options(), Transform: c.transform != nil,
	}
}

// TopicOptions are the options a topic was declared with, as
// [Topic.Options] reports them.
type TopicOptions struct {
	// Capacity is how many messages the ring retains: WithCapacity rounded
	// up to a power of two.
	Capacity int
	Overflow Overflow      // WithOverflow
	MaxAge   time.Duration // WithMaxAge; 0: none
	Dedup    time.Duration // WithDedup; 0: none
}

// Options returns the options the topic was declared with.
func (t *Topic) Options() TopicOptions {
	return TopicOptions{Capacity: int(t.size()), Overflow: t.cfg.overflow, MaxAge: t.cfg.maxAge, Dedup: t.cfg.dedup}
}

// TopicReader is one reader of a topic, as [Topic.Readers] reports it: a
// plain subscription or a subscription group.
type TopicReader struct {
	// Group is the group's name; "" for a plain subscription.
	Group string
	// Members is how many of a group's subscriptions are open; 1 for a
	// plain subscription.
	Members int
	// Redelivery is how the reader redelivers and dead-letters.
	Redelivery RedeliveryOptions
	// Stats are the subscription's, or the whole group's; Stats.Lag is how
	// many messages it has yet to read.
	Stats SubscriptionStats
}

// Readers returns the topic's open plain subscriptions, in the order they
// subscribed, then its groups, in the order they were created. A group
// lives as long as its topic, so it is listed with no member too.
func (t *Topic) Readers() []TopicReader {
	subs, groups := *t.subs.Load(), *t.groups.Load()
	out := make([]TopicReader, 0, len(subs)+len(groups))
	for _, s := range subs {
		out = append(out, TopicReader{Members: 1, Redelivery: s.cfg.redeliveryConfig.options(), Stats: s.Stats()})
	}
	for _, g := range groups {
		out = append(out, TopicReader{
			Group: g.name, Members: int(g.members.Load()), Redelivery: g.cfg.options(), Stats: groupStats(g.q.Stats()),
		})
	}
	return out
}

// Binding is one of an exchange's bindings, as [Exchange.Bindings]
// reports it.
type Binding struct {
	Dest string // the queue, topic or exchange bound
	Key  string // the binding key or pattern; on fanout and headers exchanges only a name
	// Headers and MatchAny are a headers exchange's MatchAll or MatchAny
	// option; Headers is a copy, nil on other kinds.
	Headers  Headers
	MatchAny bool
	// Transform is set when the binding was made WithTransform.
	Transform bool
	// Observer is set for a binding made AsObserver; they come after the
	// others.
	Observer bool
}

// Bindings returns the exchange's bindings, grouped by destination in the
// order the destinations were first bound, each destination's in the order
// they were made. It waits for a concurrent Bind or Unbind to finish, never
// for publishers.
func (e *Exchange) Bindings() []Binding {
	e.mu.Lock()
	targets := slices.Collect(maps.Values(e.routes.targets))
	slices.SortFunc(targets, func(a, b *target) int { return cmp.Compare(a.seq, b.seq) })
	var out []Binding
	for _, t := range targets {
		for _, b := range t.bindings {
			out = append(out, Binding{Dest: b.dest, Key: b.key, Headers: maps.Clone(b.headers), MatchAny: b.any, Transform: b.transform != nil})
		}
	}
	e.mu.Unlock()
	return append(out, e.observerBindings()...)
}

// Alternate returns the name of the exchange's alternate exchange (see
// [WithAlternate]), or "" if it has none.
func (e *Exchange) Alternate() string { return e.cfg.alternate }
