package herald

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/ring"
)

// Subscription reads a [Topic]: with its own cursor (a plain
// subscription), or as a member of a group sharing the group's stream.
// Create one with [Topic.Subscribe]; it is safe for concurrent use.
//
// A plain subscription sees the topic's messages in publish order. A
// delivery it hands out is settled like a queue's: Ack, or Nack to have it
// redelivered to this subscription after a back-off (out of order, up to
// its max deliveries), or Reject; the dead ones go to its dead-letter
// destination. Reading more than the topic's capacity behind, under
// OverflowDropOldest, skips to the oldest retained message and reports
// what was missed (see [LagError]).
type Subscription struct {
	t   *Topic
	cfg subscribeConfig

	// A plain subscription's state.
	cursor  atomic.Uint64 // the next sequence number to read
	start   uint64        // the cursor at Subscribe; see deliveredLocked
	passed  atomic.Uint64 // messages the cursor moved past as expired, and durable gaps; see deliveredLocked
	closed  atomic.Bool
	retryN  atomic.Int32 // retries.Len(), readable without mu
	missed  atomic.Uint64
	ends    endings
	settles tally // guarded by mu

	mu      sync.Mutex
	retries ring.Ring[entry] // nacked deliveries whose back-off is over
	delayed int              // nacked deliveries waiting out their back-off

	// r is last so as not to move the plain state: cursor, closed and
	// retryN, read on every take, share a cache line.
	r subReader // how it reads: (*cursorReader)(s), or a *groupMember
}

// subReader is how a Subscription reads: a plain subscription by its own
// cursor on the topic's ring (a cursorReader, below), a group member from
// the group's queue (a groupMember, in group.go). The public methods
// delegate to it: one dynamic call per Stats, Receive, Consume, Close or
// All call, none in Consume's or All's loop.
type subReader interface {
	stats() SubscriptionStats
	receive(ctx context.Context) (*Delivery, error) // ctx not nil
	consume(ctx context.Context, h Handler, opts []ConsumeOption) error
	all(ctx context.Context, yield func(*Delivery) bool) // ctx not nil
	close() error
}

// cursorReader is a plain subscription's reader. It is the Subscription
// itself under another method set, so choosing it allocates nothing.
type cursorReader Subscription

// SubscriptionStats is a snapshot of a subscription's counters. For a
// group member they are the whole group's, as [QueueStats] of its queue.
type SubscriptionStats struct {
	Delivered uint64 // deliveries handed out, redeliveries included
	Acked     uint64
	Nacked    uint64
	Rejected  uint64 // by Reject, a permanent error or max deliveries
	Expired   uint64 // skipped for being older than the topic's max age, or past their TTL
	Dropped   uint64 // redeliveries abandoned by Close
	Missed    uint64 // overwritten before this subscription read them
	// DeadLettered counts the Rejected messages published to the
	// subscription's dead-letter destination; DeadLetterFailed those for
	// which that failed.
	DeadLettered     uint64
	DeadLetterFailed uint64
	Lag              uint64 // messages published and not yet read
	Unacked          int
	Delayed          int // nacked, waiting out their back-off or ready again
	// Consumers counts the handler goroutines of the Consume calls running
	// on the subscription (for a group member, on the whole group).
	Consumers int
}

// Stats returns a snapshot of the subscription's counters.
func (s *Subscription) Stats() SubscriptionStats { return s.r.stats() }

func (c *cursorReader) stats() SubscriptionStats {
	s := (*Subscription)(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	delivered, acked, nacked, rejected := s.deliveredLocked()
	return SubscriptionStats{
		Delivered:        delivered,
		Acked:            acked,
		Nacked:           nacked,
		Rejected:         rejected + s.ends.limited.Load(),
		Expired:          s.ends.expired.Load(),
		Dropped:          s.ends.dropped.Load(),
		Missed:           s.missed.Load(),
		DeadLettered:     s.ends.deadLettered.Load(),
		DeadLetterFailed: s.ends.deadLetterFailed.Load(),
		Lag:              s.lag(),
		Unacked:          int(delivered - acked - nacked - rejected),
		Delayed:          s.delayed + s.retries.Len(),
		Consumers:        len(s.settles.workers),
	}
}

// deliveredLocked returns the subscription's delivered and settled counts;
// mu held. Deliveries from the cursor are not counted one by one but as
// reads: the cursor's moves, less the messages it skipped. That saves an
// atomic add per delivery, and since the cursor is loaded last and moves
// before a delivery is settled or a skip is counted, what it returns
// never counts a settlement without its delivery: Unacked is never
// negative, and idle never sees a delivery in hand as settled.
func (s *Subscription) deliveredLocked() (delivered, acked, nacked, rejected uint64) {
	redelivered, acked, nacked, rejected := s.settles.sum()
	skipped := s.missed.Load() + s.passed.Load()
	return redelivered + s.cursor.Load() - s.start - skipped, acked, nacked, rejected
}

func (s *Subscription) lag() uint64 {
	tail, c := s.t.tail.Load(), s.cursor.Load()
	if c >= tail {
		return 0
	}
	return tail - max(c, s.t.oldest())
}

func (s *Subscription) addWorker(c *settleCounts) {
	s.mu.Lock()
	s.settles.add(c)
	s.mu.Unlock()
}

func (s *Subscription) removeWorker(c *settleCounts) {
	s.mu.Lock()
	s.settles.remove(c)
	s.mu.Unlock()
}

func (s *Subscription) broker() *Broker { return s.t.b }

// errSubscriptionClosed is what Receive returns after Close.
var errSubscriptionClosed error = &wrappedError{msg: "herald: subscription closed", errs: []error{ErrClosed}}

// Receive waits for the next message and hands it to the caller, who
// settles it (see [Subscription]). It blocks until a message is there, ctx
// ends (returning ctx.Err()), the subscription or broker closes (an error
// wrapping ErrClosed), or, once Shutdown has drained the topic, returns
// ErrClosed. When the subscription lagged it returns a *LagError once,
// then carries on from the oldest retained message.
func (s *Subscription) Receive(ctx context.Context) (*Delivery, error) {
	if ctx == nil {
		return nil, invalidf("nil context")
	}
	return s.r.receive(ctx)
}

func (c *cursorReader) receive(ctx context.Context) (*Delivery, error) {
	s := (*Subscription)(c)
	w := s.t.b.getWaiter()
	defer s.t.b.putWaiter(w)
	d := new(Delivery)
	if err := s.take(ctx, w, d, &s.settles.shared, nil); err != nil {
		return nil, err
	}
	s.t.b.observeDeliver(ctx, d, false)
	return d, nil
}

// Consume runs h on the subscription's messages with the semantics of
// [Queue.Consume]: a nil error acks, an error nacks, a [Permanent] error
// rejects, a panic is recovered and counted as an error. It blocks until
// ctx ends (returning ctx.Err()), the subscription closes (an error
// wrapping ErrClosed), the broker closes (ErrClosed), or Shutdown has
// drained the topic (nil). With concurrency 1, h sees the topic's messages
// in publish order, redeliveries aside. A lag is reported on the next
// delivery's Missed, logged, and counted in Stats().Missed.
func (s *Subscription) Consume(ctx context.Context, h Handler, opts ...ConsumeOption) error {
	return s.r.consume(ctx, h, opts)
}

func (c *cursorReader) consume(ctx context.Context, h Handler, opts []ConsumeOption) error {
	s := (*Subscription)(c)
	err := consume(ctx, s.t.b, s, h, opts)
	if err == nil || ctx == nil || ctx.Err() != nil || !s.closed.Load() {
		return err
	}
	return errSubscriptionClosed
}

// Close ends the subscription: its blocked and later Receive calls return
// an error wrapping ErrClosed and it no longer holds the topic's publishers
// back. Redeliveries it still owed are dropped and counted in
// Stats().Dropped. A group member's Close leaves the group, which keeps its
// messages for the other members. Close is idempotent and returns nil.
func (s *Subscription) Close() error { return s.r.close() }

func (c *cursorReader) close() error {
	s := (*Subscription)(c)
	if s.closed.Swap(true) {
		return nil
	}
	s.t.removeSub(s)
	s.mu.Lock()
	n := s.retries.Len()
	var dropped []entry
	for s.retries.Len() > 0 {
		e, _ := s.retries.PopFront()
		dropped = s.ends.keepObserved(dropped, e)
	}
	s.retryN.Store(0)
	s.mu.Unlock()
	s.ends.observeLost(OutcomeDropped, dropped...)
	s.ends.dropped.Add(uint64(n))
	s.t.wakeReaders()
	s.t.b.noteSettled(s.t)
	return nil
}

// take waits for the subscription's next delivery: a redelivery whose
// back-off is over, else the next message claimed ahead into buf, else the
// message at the cursor (with buf, every message up to buf.max from it).
func (s *Subscription) take(ctx context.Context, w *waiter, d *Delivery, counts *settleCounts, buf *prefetchBuf) error {
	t := s.t
	for {
		switch {
		case s.closed.Load():
			return errSubscriptionClosed
		case t.closed.Load():
			return ErrClosed
		}
		if s.retryN.Load() > 0 {
			s.mu.Lock()
			e, ok := s.retries.PopFront()
			if ok {
				s.retryN.Add(-1)
				e.attempt++
				counts.delivered.Add(1)
				d.reset(s, e, counts)
			}
			s.mu.Unlock()
			if ok && (s.cfg.transform == nil || t.b.transformDelivery(s.cfg.transform, d)) {
				return nil
			}
			continue
		}
		if buf != nil && buf.Len() > 0 {
			e, _ := buf.PopFront()
			d.reset(s, e, counts)
			if s.cfg.transform != nil && !t.b.transformDelivery(s.cfg.transform, d) {
				continue
			}
			return nil
		}
		c, tail := s.cursor.Load(), t.tail.Load()
		if c < tail {
			m, at, ok := t.read(c)
			if !ok {
				if err := s.skipLost(c); err != nil {
					return err
				}
				continue
			}
			if buf != nil {
				s.claimAhead(c, tail, m, at, counts, buf)
				continue
			}
			if !s.claim(c, 1) {
				continue // another handler of this subscription took it
			}
			if now := int64(-1); t.expired(m, at, &now) {
				s.ends.observeLost(OutcomeExpired, entry{m: m, seq: c})
				s.ends.expired.Add(1)
				s.passed.Add(1)
				continue
			}
			d.reset(s, entry{m: m, attempt: 1, seq: c}, counts)
			if s.cfg.transform != nil && !t.b.transformDelivery(s.cfg.transform, d) {
				continue
			}
			return nil
		}
		if t.b.drained.Load() {
			return errDrained
		}
		// Unlike a queue's consumer, a subscriber does not yield before
		// parking: with many subscribers, yielding steals the publisher's
		// time (measured: fan-out to 8 is slower with it).
		if err := s.park(ctx, w); err != nil {
			return err
		}
	}
}

// claim moves the cursor from c past n messages, which the caller has
// read, and reports false if another handler moved it first. Moving the
// cursor counts them delivered (see deliveredLocked).
func (s *Subscription) claim(c, n uint64) bool {
	if !s.cursor.CompareAndSwap(c, c+n) {
		return false
	}
	s.t.moved(s, c+n)
	return true
}

// skipLost moves a cursor whose message c was overwritten to the oldest
// retained message, and reports the gap.
func (s *Subscription) skipLost(c uint64) error {
	oldest := s.t.oldest()
	if oldest <= c && s.t.gap(c) {
		// No message ever had c in this ring: a durable topic's gap (see
		// durable_topic.go). Step over it, counted as passed, not as a
		// delivery (under mu, as below).
		s.mu.Lock()
		moved := s.cursor.CompareAndSwap(c, c+1)
		if moved {
			s.passed.Add(1)
		}
		s.mu.Unlock()
		if moved {
			s.t.moved(s, c+1)
		}
		return nil
	}
	if oldest <= c {
		return nil
	}
	// Under mu, so that Stats never sees the cursor moved and the gap not
	// yet counted missed, as that many deliveries (see deliveredLocked).
	s.mu.Lock()
	moved := s.cursor.CompareAndSwap(c, oldest)
	if moved {
		s.missed.Add(oldest - c)
	}
	s.mu.Unlock()
	if !moved {
		return nil // someone else moved it; look again
	}
	n := oldest - c
	s.t.b.log(slog.LevelWarn, "subscription lagged", "topic", s.t.name, "missed", n)
	return &LagError{Missed: n}
}

// park waits, registered as a reader, until a publish, a redelivery or a
// close wakes it, or ctx ends.
func (s *Subscription) park(ctx context.Context, w *waiter) error {
	t := s.t
	t.mu.Lock()
	t.readers.PushBack(w)
	w.parked = true
	t.parked.Add(1)
	t.mu.Unlock()
	// Look again after registering: a publish that stored its tail before
	// the registration saw no parked reader and woke nobody.
	if s.cursor.Load() < t.tail.Load() || s.retryN.Load() > 0 || s.closed.Load() ||
		t.closed.Load() || t.b.drained.Load() {
		t.unpark(w, &t.readers, true)
		return nil
	}
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		t.unpark(w, &t.readers, true)
		return ctx.Err()
	}
}

// settle applies a won settlement of one of s's deliveries.
func (s *Subscription) settle(d *Delivery, how uint64, cause error) {
	if v, ok := cause.(settleVariant); ok && how == settledNack {
		s.settleVariant(d, v) // Requeue or Release; see settlevariants.go
	} else if ko := d.keyOrderOf(); how == settledNack && ko != nil && ko.nack(d, cause) {
		// held by a consumer WithKeyOrdering; see keyorder.go
	} else {
		settleEntry(d, how, cause, &s.cfg.redeliveryConfig, &s.ends, s)
	}
	s.t.b.noteSettled(s.t)
}

// retry hands a nacked message back to this subscription after its
// back-off.
func (s *Subscription) retry(e entry) {
	wait := backoff(s.cfg.redeliveryConfig, int(e.attempt))
	s.mu.Lock()
	s.delayed++
	s.mu.Unlock()
	if wait <= 0 || !s.t.b.sched.At(time.Now().Add(wait), timed{s: s, e: e, kind: timedSubRetry}) {
		s.retryDue(e)
	}
}

// retryDue makes a nacked message the subscription's next delivery.
func (s *Subscription) retryDue(e entry) {
	s.mu.Lock()
	s.delayed--
	if s.closed.Load() {
		s.mu.Unlock()
		s.ends.observeLost(OutcomeDropped, e)
		s.ends.dropped.Add(1)
		return
	}
	s.retries.PushBack(e)
	s.retryN.Add(1)
	s.mu.Unlock()
	s.t.wakeReaders()
}

// idle reports whether the subscription has read everything and holds no
// unsettled or pending redelivery.
func (s *Subscription) idle() bool {
	if s.closed.Load() {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delivered, acked, nacked, rejected := s.deliveredLocked()
	return s.cursor.Load() >= s.t.tail.Load() && s.retries.Len() == 0 && s.delayed == 0 &&
		delivered == acked+nacked+rejected
}
