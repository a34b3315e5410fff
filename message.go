package herald

import (
	"context"
	"log/slog"
	"maps"
	"sync/atomic"
	"time"
)

// Headers are a message's string metadata, like AMQP headers or NATS
// headers. Headers exchanges route on them.
type Headers map[string]string

// Message is what producers publish. Publish fills in ID and Time when they
// are empty; after Publish the message belongs to herald and its consumers,
// which share it read-only, so the caller must not change it (herald never
// copies Body: in-process messaging is zero-copy).
type Message struct {
	ID            string        // unique; assigned by publish when empty
	Key           string        // routing key, used by exchanges
	Headers       Headers       // metadata; matched by headers exchanges
	Body          any           // any Go value, passed by reference
	Time          time.Time     // assigned by publish when zero
	CorrelationID string        // ties a reply to its request
	ReplyTo       string        // where a reply should be published
	Priority      uint8         // higher first, on queues declared with priorities
	TTL           time.Duration // expires this long after publish; 0: never
	Delay         time.Duration // not delivered before this long after publish
}

// NewMessage returns a message carrying body. ID and Time are assigned when
// it is published.
func NewMessage(body any) *Message { return &Message{Body: body} }

// stamp fills in the fields publish assigns.
func (m *Message) stamp(c *wallClock) {
	if m.ID == "" {
		m.ID = nextID()
	}
	if m.Time.IsZero() {
		m.Time = c.now()
	}
}

// clone returns a shallow copy of m with its own Headers map, for herald's
// own changes (dead-letter headers) that must not touch the shared original.
func (m *Message) clone() *Message {
	c := *m
	c.Headers = make(Headers, len(m.Headers)+5)
	maps.Copy(c.Headers, m.Headers)
	return &c
}

// Delivery is one handing-out of a message to a consumer: the shared,
// read-only message, which attempt this is, and the methods that settle it.
// Exactly one settle wins; any later one returns ErrSettled.
//
// A Delivery that a [Handler] receives is the handler's until it returns.
// From then on every settle and Reply through it returns ErrSettled and
// changes nothing: herald has settled the delivery as the handler's result
// said. So a goroutine that the handler leaves behind cannot settle the
// message that the consumer has gone on to (settle before returning, or
// wait in the handler for the goroutines that settle).
//
// To consume without allocating, each handler goroutine hands out the
// eight Delivery values of a ring of its own again and again. A late
// settle that reaches a Delivery while it carries a later message could not
// be told from that message's own settle, so herald makes it unlikely and
// then impossible: the first late settle or Reply it sees, which it logs as
// a warning, makes that consumer give every later message a Delivery of
// its own (an allocation each). Before that first one, a late settle
// reaches a later message only if it comes after its handler goroutine has
// handed out eight more messages, and while the one that reuses its
// Delivery is being handled. Under the race detector (go test -race) every
// message gets a Delivery of its own, so a test run with -race catches
// every late settle, however late: it returns ErrSettled and is logged.
//
// Deliveries from [Queue.Receive] and [Subscription.Receive] belong to the
// caller and are never reused.
//
// A zero Delivery with only Message set is valid: settling it records the
// outcome and nothing else, which lets a handler be unit-tested without a
// broker.
type Delivery struct {
	*Message     // shared, read-only: d.Body, d.ID, d.Key ...
	Attempt  int // 1 on the first delivery

	// Seq is the message's sequence number in its topic (the first is 1);
	// 0 for queue deliveries.
	Seq uint64
	// Missed is, for a Consume handler on a topic subscription, how many
	// messages the subscription missed just before this one because it
	// lagged (see LagError); 0 otherwise.
	Missed uint64

	src     settler       // the queue or subscription it came from
	orig    *Message      // what was published, when a transform replaced Message
	counts  *settleCounts // where the settlement is counted
	state   atomic.Uint64 // generation<<genShift | flags | settlement; see claim
	expires int64         // the message's expiry on the broker clock; 0: never
	owner   *handout      // the consumer that hands it out; nil from Receive
	// cancel ends the context of the handler the delivery was given to:
	// set on queues with an ack timeout, whose sweep calls it.
	cancel context.CancelCauseFunc

	// Ack-timeout bookkeeping, guarded by q.mu. deadline is on the broker
	// clock, 8 bytes rather than a time.Time's 24: Receive allocates a
	// Delivery per message.
	deadline   int64
	prev, next *Delivery
	listed     bool
}

// How a delivery was settled, in the low bits of Delivery.state.
const (
	settledNone uint64 = iota
	settledAck
	settledNack
	settledReject
	settledMask = 3
)

// Flags in Delivery.state, above the settlement and below the generation:
// retiredBit marks a delivery whose handler has returned, after which the
// user's settles fail; timedOutBit one that the ack-timeout sweep settled.
const (
	retiredBit  uint64 = 4
	timedOutBit uint64 = 8
	genShift    uint64 = 4
)

// Ack settles the delivery as handled: the message leaves the queue.
// It returns ErrSettled if the delivery was already settled, has been
// redelivered after its ack timeout, or was given to a handler that has
// returned.
func (d *Delivery) Ack() error { return d.settle(settledAck, nil) }

// Nack settles the delivery as failed for now: the message is redelivered
// after the queue's back-off, or dead-lettered once it has reached the
// queue's max deliveries. It returns ErrSettled as Ack does.
func (d *Delivery) Nack() error { return d.settle(settledNack, nil) }

// Reject settles the delivery as never to be retried: the message is
// dead-lettered (reason "rejected"), or dropped and counted in
// Stats().Rejected when the queue has no dead-letter destination. It returns
// ErrSettled as Ack does.
func (d *Delivery) Reject() error { return d.settle(settledReject, nil) }

// settle is a settle by the user: it fails once the handler has returned.
func (d *Delivery) settle(how uint64, cause error) error {
	for {
		cur := d.state.Load()
		if cur&retiredBit != 0 {
			d.late()
			return ErrSettled
		}
		if cur&settledMask != settledNone {
			return ErrSettled
		}
		if d.state.CompareAndSwap(cur, cur|how) {
			break
		}
	}
	d.apply(how, cause)
	return nil
}

func (d *Delivery) apply(how uint64, cause error) {
	if d.src != nil {
		d.src.settle(d, how, cause)
	}
}

// claim marks the delivery settled as how and reports whether this call
// won: herald's own settles (a handler's result, the ack-timeout sweep)
// race with each other and with the user's.
func (d *Delivery) claim(how uint64) bool {
	for {
		cur := d.state.Load()
		if cur&settledMask != settledNone {
			return false
		}
		if d.state.CompareAndSwap(cur, cur|how) {
			return true
		}
	}
}

// timedOut reports whether the ack-timeout sweep settled the delivery.
func (d *Delivery) timedOut() bool { return d.state.Load()&timedOutBit != 0 }

// retire marks the delivery as its handler's no more: settles and replies
// through it fail from now on.
func (d *Delivery) retire() { d.state.Or(retiredBit) }

// retireAs retires d and, unless it is settled already, settles it as how
// with the same atomic operation: one per message on the consumer's path,
// where retire and then finish would take two.
func (d *Delivery) retireAs(how uint64, cause error) {
	for {
		cur := d.state.Load()
		if cur&settledMask != settledNone {
			d.retire()
			return
		}
		if d.state.CompareAndSwap(cur, cur|how|retiredBit) {
			d.apply(how, cause)
			return
		}
	}
}

// isRetired reports whether the delivery's handler has returned; it notes
// a late use if so.
func (d *Delivery) isRetired() bool {
	if d.state.Load()&retiredBit == 0 {
		return false
	}
	d.late()
	return true
}

// late notes a settle or Reply through a delivery whose handler has
// returned: the first makes its consumer stop reusing deliveries. It reads
// only fields that do not change when the ring hands d out again.
func (d *Delivery) late() {
	if d.owner == nil || d.owner.Swap(true) {
		return
	}
	if d.src != nil {
		d.src.broker().log(slog.LevelWarn,
			"delivery settled after its handler returned, to no effect; "+
				"from now on this consumer allocates a Delivery per message so that such settles keep failing",
			"source", d.src.sourceName())
	}
}

// settled reports how the delivery was settled: 0 while it is pending.
func (d *Delivery) settled() uint64 { return d.state.Load() & settledMask }

// reset makes d carry e as a new, unsettled delivery from q.
// A handler goroutine reuses one Delivery from one source, so only the
// fields that change are written: each pointer write costs a write barrier
// while the garbage collector runs.
func (d *Delivery) reset(src settler, e entry, counts *settleCounts) {
	d.Message, d.Attempt, d.Seq, d.expires = e.m, int(e.attempt), e.seq, e.expires
	if d.orig != nil { // set only by a transform
		d.orig = nil
	}
	// counts belong to one consumer of one source (or are the source's
	// shared ones), so the same counts mean the same src: comparing the
	// pointers costs less than comparing the interfaces.
	if d.counts != counts || d.src == nil {
		d.src, d.counts = src, counts
	}
	// A new generation, unsettled. Only reset writes the generation bits.
	d.state.Store((d.state.Load()>>genShift + 1) << genShift)
}

// Settled reports whether the delivery has been settled: acked, nacked or
// rejected, through its methods or by herald (its handler's result, its
// ack timeout). It does not block. Middleware that calls the rest of the
// chain again, such as package middleware's Retry, checks it to stop once
// a handler settled the delivery itself. Like the settle methods, it is
// meaningful only while the handler the delivery was given to runs.
func (d *Delivery) Settled() bool { return d.settled() != settledNone }

// Source returns the name of what the delivery came from: the queue's
// name; for a plain topic subscription, the topic's; for a member of a
// subscription group, the topic's name, "/" and the group's name. It
// returns "" for a Delivery that herald did not make.
func (d *Delivery) Source() string {
	if d.src == nil {
		return ""
	}
	return d.src.sourceName()
}

func (q *Queue) sourceName() string        { return q.name }
func (s *Subscription) sourceName() string { return s.t.name }

// settler is where a delivery came from, which applies its settlement
// once claim has decided which settle won.
type settler interface {
	settle(d *Delivery, how uint64, cause error)
	broker() *Broker
	sourceName() string // for logs and Delivery.Source
}

// retrier is a queue or subscription, which redelivers a nacked message.
type retrier interface{ retry(e entry) }

// settleEntry sends a settled delivery's message where it goes next —
// nowhere (ack), back through r (nack), or to its end (reject, or a nack
// at max deliveries) — and only then counts the settlement, so that the
// message is never missing from Stats, at worst briefly counted twice.
func settleEntry(d *Delivery, how uint64, cause error, c *redeliveryConfig, ends *endings, r retrier) {
	e := d.entry()
	ends.observeSettle(e, how, cause)
	switch how {
	case settledAck:
		d.counts.acked.Add(1)
	case settledNack:
		if c.maxDeliveries > 0 && int(e.attempt) >= c.maxDeliveries {
			ends.end(e, endLimited, ReasonDeliveryLimit, cause)
			d.src.broker().replies.rejected(e.m, cause)
		} else {
			r.retry(e)
		}
		d.counts.nacked.Add(1)
	case settledReject:
		ends.end(e, endRejected, ReasonRejected, cause)
		d.src.broker().replies.rejected(e.m, cause)
		d.counts.rejected.Add(1)
	}
}

// entry is how a queue holds a message: by value, 32 bytes, so the ring
// allocates nothing per message.
type entry struct {
	m       *Message
	attempt int32  // deliveries so far
	expires int64  // on the broker clock; 0: never
	seq     uint64 // topic sequence number; 0 in queues
}

func (d *Delivery) entry() entry {
	m := d.Message
	if d.orig != nil {
		m = d.orig
	}
	return entry{m: m, attempt: int32(d.Attempt), expires: d.expires, seq: d.Seq}
}
