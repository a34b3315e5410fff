package herald

import "context"

// The queue's and the plain subscription's side of WithKeyOrdering: a
// consumer that keeps its nacked messages and gives back what it holds.

func (q *Queue) redelivery() *redeliveryConfig { return &q.cfg.redeliveryConfig }

func (q *Queue) holdNacked(d *Delivery, cause error) (entry, bool) {
	return q.holdNackedWith(d, cause, nil)
}

// holdNackedWith settles d as nacked for a consumer that redelivers the
// message itself: it dead-letters it at the max deliveries, and otherwise
// keeps it out of the queue, counted as backing off, and reports true;
// keep, if not nil, is given the kept message under the queue's lock.
func (q *Queue) holdNackedWith(d *Delivery, cause error, keep func(entry)) (entry, bool) {
	e := d.entry()
	q.ends.observeSettle(e, settledNack, cause)
	q.lock()
	q.inflight.remove(d)
	d.counts.nacked.Add(1)
	if q.cfg.maxDeliveries > 0 && int(e.attempt) >= q.cfg.maxDeliveries {
		q.dieRelocking(context.Background(), e, endLimited, ReasonDeliveryLimit, cause)
		q.mu.Unlock()
		q.b.replies.rejected(e.m, cause)
		return e, false
	}
	q.delayed++
	if keep != nil {
		keep(e)
	}
	q.mu.Unlock()
	return e, true
}

func (q *Queue) redeliverHeld(e entry, d *Delivery, counts *settleCounts) bool {
	q.lock()
	q.delayed--
	if e.expires != 0 && q.b.clock() >= e.expires {
		q.dieRelocking(context.Background(), e, endExpired, ReasonExpired, nil)
		q.mu.Unlock()
		return false
	}
	e.attempt++
	q.delivered++
	d.reset(q, e, counts)
	if q.cfg.ackTimeout > 0 {
		q.trackLocked(d)
	}
	q.mu.Unlock()
	return true
}

func (q *Queue) giveBack(items []keyItem) {
	q.lock()
	defer q.mu.Unlock()
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		e := it.e
		if it.d != nil {
			if q.cfg.ackTimeout > 0 {
				if !it.d.claim(settledNack) {
					continue // its ack timeout passed: the sweep gave it back
				}
				q.inflight.remove(it.d)
			}
			e = it.d.entry()
			e.attempt--
			q.delivered--
		} else {
			q.delayed--
		}
		q.forcePlace()
		q.ready.PushFront(e)
		if e.expires != 0 {
			q.sweepBeforeLocked(e.expires)
		}
		q.wakeConsumerLocked()
	}
}

func (s *Subscription) redelivery() *redeliveryConfig { return &s.cfg.redeliveryConfig }

func (s *Subscription) holdNacked(d *Delivery, cause error) (entry, bool) {
	e := d.entry()
	s.ends.observeSettle(e, settledNack, cause)
	if s.cfg.maxDeliveries > 0 && int(e.attempt) >= s.cfg.maxDeliveries {
		s.ends.end(e, endLimited, ReasonDeliveryLimit, cause)
		s.t.b.replies.rejected(e.m, cause)
		d.counts.nacked.Add(1)
		return e, false
	}
	s.mu.Lock()
	s.delayed++
	d.counts.nacked.Add(1)
	s.mu.Unlock()
	return e, true
}

func (s *Subscription) redeliverHeld(e entry, d *Delivery, counts *settleCounts) bool {
	s.mu.Lock()
	s.delayed--
	counts.delivered.Add(1)
	s.mu.Unlock()
	e.attempt++
	d.reset(s, e, counts)
	return s.cfg.transform == nil || s.t.b.transformDelivery(s.cfg.transform, d)
}

func (s *Subscription) giveBack(items []keyItem) {
	s.mu.Lock()
	closed := s.closed.Load()
	var dropped []entry
	for i := len(items) - 1; i >= 0; i-- {
		it := items[i]
		e := it.e
		if it.d != nil {
			e = it.d.entry()
			e.attempt--
			it.d.counts.delivered.Add(^uint64(0))
		} else {
			s.delayed--
		}
		if closed {
			dropped = s.ends.keepObserved(dropped, e)
			s.ends.dropped.Add(1)
			continue
		}
		s.retries.PushFront(e)
		s.retryN.Add(1)
	}
	s.mu.Unlock()
	s.ends.observeLost(OutcomeDropped, dropped...)
	s.t.wakeReaders()
}

func (q *Queue) takeAhead(d *Delivery, counts *settleCounts, buf *prefetchBuf) bool {
	e, ok := buf.PopFront()
	if !ok {
		return false
	}
	if e.expires != 0 && q.b.clock() >= e.expires {
		q.lock()
		// Never handed out: it ends as expired, not unacked, after the
		// attempts it really had.
		q.delivered--
		e.attempt--
		q.dieRelocking(context.Background(), e, endExpired, ReasonExpired, nil)
		q.mu.Unlock()
		return false
	}
	d.reset(q, e, counts)
	return true
}

func (s *Subscription) takeAhead(d *Delivery, counts *settleCounts, buf *prefetchBuf) bool {
	e, ok := buf.PopFront()
	if !ok {
		return false
	}
	d.reset(s, e, counts)
	return s.cfg.transform == nil || s.t.b.transformDelivery(s.cfg.transform, d)
}
