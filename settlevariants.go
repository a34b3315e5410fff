package herald

import "context"

// settleVariant rides as the cause of a nack to say that the nack is one
// of the variants adapters need (see Requeue and Release) rather than a
// plain Nack; it never reaches users.
type settleVariant uint8

const (
	variantRequeue settleVariant = iota + 1 // at the head, now, attempt counted
	variantRelease                          // at the head, now, attempt not counted
)

func (v settleVariant) Error() string {
	if v == variantRelease {
		return "herald: released"
	}
	return "herald: requeued"
}

// Requeue settles the delivery as failed for now and puts its message back
// at the head of its queue at once, with no back-off, so that it is the
// next message handed out (for a plain subscription, its next delivery):
// the order of the messages behind it holds, as after Kafka's seek back to
// the failed offset. It counts as a nack and as an attempt: at the
// queue's max deliveries the message is dead-lettered as after Nack.
// It returns ErrSettled as Ack does.
//
// With several consumers, another consumer may take the message first;
// [WithSingleActiveConsumer] keeps the queue's order across them.
func (d *Delivery) Requeue() error { return d.settle(settledNack, variantRequeue) }

// Release gives the delivery's message back, at the head of its queue (for
// a plain subscription, as its next delivery), as if it had never been
// handed out: the attempt is not counted, nor is the delivery in
// Stats().Delivered or Nacked, and no back-off applies. It is for a
// consumer that stops while holding a message it has not handled, such as
// an adapter whose subscriber closes. It returns ErrSettled as Ack does.
func (d *Delivery) Release() error { return d.settle(settledNack, variantRelease) }

// settleVariant applies a won Requeue or Release of one of q's deliveries.
func (q *Queue) settleVariant(d *Delivery, v settleVariant) {
	e := d.entry()
	if v == variantRequeue {
		q.ends.observeSettle(e, settledNack, nil)
	} else if q.ends.dur != nil {
		q.ends.dur.released(e, e.attempt-1) // so that a restart does not count it either
	}
	q.lock()
	q.inflight.remove(d)
	if v == variantRelease {
		e.attempt--
		q.delivered--
	} else {
		d.counts.nacked.Add(1)
		if q.cfg.maxDeliveries > 0 && int(e.attempt) >= q.cfg.maxDeliveries {
			q.dieRelocking(context.Background(), e, endLimited, ReasonDeliveryLimit, nil)
			q.mu.Unlock()
			q.b.replies.rejected(e.m, nil)
			return
		}
	}
	q.forcePlace()
	q.ready.PushFront(e)
	if e.expires != 0 {
		q.sweepBeforeLocked(e.expires)
	}
	q.wakeConsumerLocked()
	q.mu.Unlock()
}

// settleVariant applies a won Requeue or Release of one of s's
// deliveries.
func (s *Subscription) settleVariant(d *Delivery, v settleVariant) {
	e := d.entry()
	if v == variantRequeue {
		s.ends.observeSettle(e, settledNack, nil)
		if s.cfg.maxDeliveries > 0 && int(e.attempt) >= s.cfg.maxDeliveries {
			s.ends.end(e, endLimited, ReasonDeliveryLimit, nil)
			s.t.b.replies.rejected(e.m, nil)
			d.counts.nacked.Add(1)
			return
		}
	}
	s.mu.Lock()
	if v == variantRelease {
		e.attempt--
		d.counts.delivered.Add(^uint64(0))
	} else {
		d.counts.nacked.Add(1)
	}
	if s.closed.Load() {
		s.mu.Unlock()
		s.ends.observeLost(OutcomeDropped, e)
		s.ends.dropped.Add(1)
		return
	}
	s.retries.PushFront(e)
	s.retryN.Add(1)
	s.mu.Unlock()
	s.t.wakeReaders()
}
