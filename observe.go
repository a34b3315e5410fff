package herald

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
)

// Observer is a set of hooks that watch messages move through a broker:
// each publish, each delivery, and each outcome counted in Stats. Install
// one with [WithObserver]; any hook may be nil. It is what tracing and
// metrics integrations (the otel and prometheus modules) build on.
//
// Observer is a struct of optional funcs, as net/http/httptrace's
// ClientTrace is, rather than an interface: a user sets only the hooks
// they need, herald skips a nil hook at the cost of one comparison, and
// new hooks can be added later without breaking anyone's code.
//
// The hooks are user code and are called like handlers: never while
// herald holds a lock, so a hook may publish, read Stats or settle other
// deliveries. They run on the goroutine that did the work (the
// publisher's, the handler's, herald's own timer goroutine for expiries
// and ack timeouts), so they should be quick. A hook that panics is
// recovered and logged (see [WithLogger]), and herald goes on as if it
// had returned nothing.
type Observer struct {
	// Publish is called for each publish to a queue, topic, exchange or
	// reply destination ([Broker.Publish], the Publish methods,
	// [Broker.Request], [Delivery.Reply]) once its checks have passed and
	// the message is stamped, before it is stored; not for what herald
	// publishes itself (dead letters, see End). ctx is the publisher's.
	//
	// Headers it returns are added to the message, replacing any with the
	// same name: this is how trace context travels. herald then stores a
	// shallow copy of the message with its own Headers map, so that the
	// caller's message and its map, which the caller may share with other
	// messages or goroutines, are never written. done, if not nil, is
	// called with what the publish returns once it has returned.
	Publish func(ctx context.Context, p PublishInfo) (add Headers, done func(err error))

	// Deliver is called for each delivery handed to a consumer: just
	// before a Consume handler runs, with the handler's context, or just
	// before Receive returns, with its caller's. The delivery is the
	// consumer's: the hook must not settle or keep it.
	Deliver func(ctx context.Context, d DeliverInfo)

	// End is called once for each outcome that Stats counts: each ack,
	// nack (a delivery's failure, followed by a redelivery or a dead
	// letter) and reject, and each message expired or dropped. So at any
	// quiet moment the calls of each Outcome add up to the Acked, Nacked,
	// Rejected, Expired and Dropped counters of the broker's queues,
	// subscriptions and topics. A dead-lettered message is reported once,
	// for its ending, with the destination it went to (see [EndInfo]).
	End func(e EndInfo)
}

// WithObserver makes the broker report to o (see [Observer]). Default:
// nothing observes, and herald pays one comparison per message for the
// possibility. Given twice, both observers are called, in the order given;
// headers both Publish hooks add are merged, the later winning.
func WithObserver(o Observer) Option { return observerOption(o) }

type observerOption Observer

func (o observerOption) applyBroker(c *brokerConfig) {
	next := Observer(o)
	if c.obs != nil {
		next = chainObservers(*c.obs, next)
	}
	if next.Publish == nil && next.Deliver == nil && next.End == nil {
		return // nothing to observe: keep the unobserved path
	}
	c.obs = &next
}

// Place is where in a broker something happened.
type Place struct {
	// Name is the queue's, topic's or exchange's name; for a reply to a
	// Request, the private reply destination's.
	Name string
	// Kind is "queue", "topic", "exchange" or "reply".
	Kind string
	// Group is the subscription group, for a topic's group; "" otherwise.
	Group string
}

// PublishInfo describes a publish, for [Observer.Publish].
type PublishInfo struct {
	Place            // where it is published to
	Message *Message // stamped (ID and Time set); read only
}

// DeliverInfo describes a delivery, for [Observer.Deliver].
type DeliverInfo struct {
	Place              // the queue, or the topic and group, it comes from
	Delivery *Delivery // read only: do not settle or keep it
	// Consume is true for a delivery to a Consume handler, false for one
	// that Receive or an All loop hands out.
	Consume bool
}

// Outcome is what became of a delivery or a message, for [Observer.End].
type Outcome uint8

const (
	// OutcomeAcked: a delivery was acked and the message left.
	OutcomeAcked Outcome = iota + 1
	// OutcomeNacked: a delivery failed (Nack, a handler's error, an ack
	// timeout). The message is redelivered, or, at the max deliveries,
	// ends next as OutcomeRejected with reason ReasonDeliveryLimit.
	OutcomeNacked
	// OutcomeRejected: the message ended by Reject, a Permanent error, a
	// failed subscription transform, or reaching the max deliveries.
	OutcomeRejected
	// OutcomeExpired: the message ended by its TTL, or a topic's max age,
	// before it was delivered.
	OutcomeExpired
	// OutcomeDropped: the message ended by the overflow policy (reason
	// ReasonMaxLen), or as a redelivery that a closed subscription no
	// longer wanted (no reason).
	OutcomeDropped
)

// String returns the outcome's name, such as "acked".
func (o Outcome) String() string {
	switch o {
	case OutcomeAcked:
		return "acked"
	case OutcomeNacked:
		return "nacked"
	case OutcomeRejected:
		return "rejected"
	case OutcomeExpired:
		return "expired"
	case OutcomeDropped:
		return "dropped"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// EndInfo describes an outcome, for [Observer.End].
type EndInfo struct {
	// Place is the queue, or the topic (and group), where it happened. A
	// topic's publish dropped by OverflowDropNewest has the topic's
	// Place, as have a plain subscription's outcomes.
	Place
	Message *Message // as published (before any subscription transform); read only
	Attempt int      // deliveries so far; 0 for a message never delivered
	Outcome Outcome
	// Reason is, for OutcomeRejected, OutcomeExpired and OutcomeDropped,
	// the Reason constant a dead letter would carry in HeaderDeathReason.
	Reason string
	// Err is why a delivery failed, for OutcomeNacked and OutcomeRejected:
	// the handler's error (nil for Nack or Reject), or one saying the ack
	// timeout passed.
	Err error
	// DeadLetter is the destination the message was dead-lettered to, or
	// "" if it was not. DeadLetterErr is why dead-lettering it failed
	// (counted in Stats' DeadLetterFailed).
	DeadLetter    string
	DeadLetterErr error
}

// Place returns where the delivery came from: its queue, or its topic
// and, for a group member, group. A Delivery no broker made returns the
// zero Place.
func (d *Delivery) Place() Place {
	switch src := d.src.(type) {
	case *Queue:
		return src.ends.where
	case *Subscription:
		return src.ends.where
	}
	return Place{}
}

// placeOf returns where a publish to d goes.
func placeOf(d destination) Place {
	switch x := d.(type) {
	case *Queue:
		return Place{Name: x.name, Kind: "queue"}
	case *Topic:
		return Place{Name: x.name, Kind: "topic"}
	case *Exchange:
		return Place{Name: x.name, Kind: "exchange"}
	case *replyBox:
		return Place{Name: x.name, Kind: "reply"}
	}
	return Place{Kind: d.kind()}
}

// publishObserved is publishTo with an observer: Publish hook, put, done.
func (b *Broker) publishObserved(ctx context.Context, d destination, m *Message) error {
	o := b.cfg.obs
	if o.Publish == nil {
		return d.put(ctx, m, false)
	}
	add, done := b.callPublish(ctx, o.Publish, PublishInfo{Place: placeOf(d), Message: m})
	if len(add) > 0 {
		c := m.clone()
		maps.Copy(c.Headers, add)
		m = c
	}
	err := d.put(ctx, m, false)
	if done != nil {
		b.guard("Publish done", func() { done(err) })
	}
	return err
}

func (b *Broker) callPublish(ctx context.Context, hook func(context.Context, PublishInfo) (Headers, func(error)), p PublishInfo) (add Headers, done func(error)) {
	b.guard("Publish", func() { add, done = hook(ctx, p) })
	return add, done
}

// guard runs an observer's hook, recovering and logging a panic.
func (b *Broker) guard(hook string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			b.log(slog.LevelWarn, "observer panicked", "hook", hook, "panic", r)
		}
	}()
	f()
}

// observeDeliver reports a delivery about to be handed to a consumer.
func (b *Broker) observeDeliver(ctx context.Context, d *Delivery, consume bool) {
	if b.dur != nil {
		b.dur.delivered(d) // see durable_queue.go
	}
	if o := b.cfg.obs; o != nil && o.Deliver != nil {
		b.deliverObserved(ctx, o.Deliver, d, consume)
	}
}

func (b *Broker) deliverObserved(ctx context.Context, hook func(context.Context, DeliverInfo), d *Delivery, consume bool) {
	b.guard("Deliver", func() { hook(ctx, DeliverInfo{Place: d.Place(), Delivery: d, Consume: consume}) })
}

// observed reports whether an End hook wants to hear of x's outcomes.
func (x *endings) observed() bool {
	o := x.b.cfg.obs
	return o != nil && o.End != nil || x.dur != nil || x.b.replies.waiting()
}

// observeSettle reports an ack or a nack; a reject is reported by end,
// which it calls.
func (x *endings) observeSettle(e entry, how uint64, cause error) {
	if !x.observed() {
		return
	}
	switch how {
	case settledAck:
		x.report(e, EndInfo{Message: e.m, Attempt: int(e.attempt), Outcome: OutcomeAcked})
	case settledNack:
		x.report(e, EndInfo{Message: e.m, Attempt: int(e.attempt), Outcome: OutcomeNacked, Err: cause})
	}
}

// observeEnd reports an ending that end counted; dlErr is why the dead
// letter failed, if it did.
func (x *endings) observeEnd(e entry, how ending, reason string, cause, dlErr error) {
	if !x.observed() {
		return
	}
	info := EndInfo{Message: e.m, Attempt: int(e.attempt), Reason: reason, DeadLetterErr: dlErr}
	switch how {
	case endRejected, endLimited:
		info.Outcome, info.Err = OutcomeRejected, cause
	case endExpired:
		info.Outcome = OutcomeExpired
	case endDropped:
		info.Outcome = OutcomeDropped
	}
	if x.dest != "" && dlErr == nil {
		info.DeadLetter = x.dest
	}
	x.report(e, info)
}

// observeTimeouts reports the deliveries an ack-timeout sweep nacked.
func (x *endings) observeTimeouts(es []entry) {
	if !x.observed() {
		return
	}
	for _, e := range es {
		x.report(e, EndInfo{Message: e.m, Attempt: int(e.attempt), Outcome: OutcomeNacked, Err: ErrAckTimeout})
	}
}

// observeLost reports messages a subscription counted expired (past the
// topic's max age) or dropped (redeliveries after Close) without end.
func (x *endings) observeLost(how Outcome, es ...entry) {
	if !x.observed() {
		return
	}
	for _, e := range es {
		reason := ""
		if how == OutcomeExpired {
			reason = ReasonExpired
		}
		x.report(e, EndInfo{Message: e.m, Attempt: int(e.attempt), Outcome: how, Reason: reason})
	}
}

// keepObserved appends e to es if an End hook will want it, so that it can
// be reported once the lock is let go.
func (x *endings) keepObserved(es []entry, e entry) []entry {
	if !x.observed() {
		return es
	}
	return append(es, e)
}

func (x *endings) report(e entry, info EndInfo) {
	info.Place = x.where
	if x.dur != nil {
		x.dur.observe(e, info) // see durable_queue.go
	}
	x.b.replies.ended(info) // see request.go
	if o := x.b.cfg.obs; o != nil && o.End != nil {
		hook := o.End
		x.b.guard("End", func() { hook(info) })
	}
}

// observeDropped reports a publish that OverflowDropNewest dropped.
func (t *Topic) observeDropped(m *Message) {
	if o := t.b.cfg.obs; o != nil && o.End != nil {
		info := EndInfo{Place: Place{Name: t.name, Kind: "topic"}, Message: m, Outcome: OutcomeDropped, Reason: ReasonMaxLen}
		t.b.guard("End", func() { o.End(info) })
	}
	t.b.replies.dropped(t.name, m) // see request.go
}

// chainObservers returns an Observer that calls a's hooks, then b's.
func chainObservers(a, b Observer) Observer {
	return Observer{
		Publish: chainPublish(a.Publish, b.Publish),
		Deliver: chain2(a.Deliver, b.Deliver),
		End:     chain1(a.End, b.End),
	}
}

func chainPublish(a, b func(context.Context, PublishInfo) (Headers, func(error))) func(context.Context, PublishInfo) (Headers, func(error)) {
	if a == nil || b == nil {
		if a == nil {
			return b
		}
		return a
	}
	return func(ctx context.Context, p PublishInfo) (Headers, func(error)) {
		ha, da := a(ctx, p)
		hb, db := b(ctx, p)
		h := ha
		if len(hb) > 0 {
			h = make(Headers, len(ha)+len(hb))
			maps.Copy(h, ha)
			maps.Copy(h, hb)
		}
		switch {
		case da == nil:
			return h, db
		case db == nil:
			return h, da
		}
		return h, func(err error) { da(err); db(err) }
	}
}

func chain1[A any](a, b func(A)) func(A) {
	if a == nil || b == nil {
		if a == nil {
			return b
		}
		return a
	}
	return func(x A) { a(x); b(x) }
}

func chain2[A, B any](a, b func(A, B)) func(A, B) {
	if a == nil || b == nil {
		if a == nil {
			return b
		}
		return a
	}
	return func(x A, y B) { a(x, y); b(x, y) }
}
