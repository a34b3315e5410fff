package herald

import (
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
// A Delivery that a [Handler] receives is valid until the handler returns:
// herald reuses it for the next message, so a handler must not keep it or
// settle it from another goroutine after returning. Deliveries from
// [Queue.Receive] belong to the caller.
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
	state   atomic.Uint64 // generation<<2 | settlement; see claim
	gen     uint64        // the generation; written only by reset
	expires int64         // the message's expiry on the broker clock; 0: never

	// Ack-timeout bookkeeping, guarded by q.mu.
	deadline   time.Time
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

// Ack settles the delivery as handled: the message leaves the queue.
// It returns ErrSettled if the delivery was already settled or has been
// redelivered after its ack timeout.
func (d *Delivery) Ack() error { return d.settle(settledAck, nil) }

// Nack settles the delivery as failed for now: the message is redelivered
// after the queue's back-off, or dead-lettered once it has reached the
// queue's max deliveries. It returns ErrSettled if already settled.
func (d *Delivery) Nack() error { return d.settle(settledNack, nil) }

// Reject settles the delivery as never to be retried: the message is
// dead-lettered (reason "rejected"), or dropped and counted in
// Stats().Rejected when the queue has no dead-letter destination. It returns
// ErrSettled if already settled.
func (d *Delivery) Reject() error { return d.settle(settledReject, nil) }

func (d *Delivery) settle(how uint64, cause error) error {
	if !d.claim(how) {
		return ErrSettled
	}
	if d.src != nil {
		d.src.settle(d, how, cause)
	}
	return nil
}

// claim marks the delivery settled as how and reports whether this call
// won: settles race with each other and with the ack-timeout sweep.
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

// settled reports how the delivery was settled: 0 while it is pending.
func (d *Delivery) settled() uint64 { return d.state.Load() & settledMask }

// reset makes d carry e as a new, unsettled delivery from q.
// A handler goroutine reuses one Delivery from one source, so only the
// fields that change are written: each pointer write costs a write barrier
// while the garbage collector runs.
func (d *Delivery) reset(src settler, e entry, counts *settleCounts) {
	d.Message, d.orig, d.Attempt, d.Seq, d.expires = e.m, nil, int(e.attempt), e.seq, e.expires
	if d.src != src {
		d.src = src
	}
	if d.counts != counts {
		d.counts = counts
	}
	d.gen++
	d.state.Store(d.gen << 2) // a new generation, unsettled
}

// settler is where a delivery came from, which applies its settlement
// once claim has decided which settle won.
type settler interface {
	settle(d *Delivery, how uint64, cause error)
	broker() *Broker
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
		} else {
			r.retry(e)
		}
		d.counts.nacked.Add(1)
	case settledReject:
		ends.end(e, endRejected, ReasonRejected, cause)
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
