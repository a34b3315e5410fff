package herald

import (
	"context"
	"slices"
	"time"
)

// deliveryList is an intrusive doubly linked list of unsettled deliveries in
// the order they were handed out. Every delivery of a queue gets the same
// ack timeout, so that order is also deadline order: the sweep looks only at
// the head.
type deliveryList struct{ head, tail *Delivery }

func (l *deliveryList) pushBack(d *Delivery) {
	d.prev, d.next, d.listed = l.tail, nil, true
	if l.tail != nil {
		l.tail.next = d
	} else {
		l.head = d
	}
	l.tail = d
}

func (l *deliveryList) remove(d *Delivery) {
	if !d.listed {
		return
	}
	if d.prev != nil {
		d.prev.next = d.next
	} else {
		l.head = d.next
	}
	if d.next != nil {
		d.next.prev = d.prev
	} else {
		l.tail = d.prev
	}
	d.prev, d.next, d.listed = nil, nil, false
}

// trackLocked starts d's ack timeout.
func (q *Queue) trackLocked(d *Delivery) {
	d.deadline = deadline(q.b.clock(), q.cfg.ackTimeout)
	q.inflight.pushBack(d)
	if !q.ackSweepDue {
		q.scheduleSweepLocked(d.deadline)
	}
}

// scheduleSweepLocked schedules a sweep at at on the broker clock.
func (q *Queue) scheduleSweepLocked(at int64) {
	q.ackSweepDue = q.b.sched.At(q.b.epoch.Add(time.Duration(at)), timed{q: q, kind: timedAckSweep})
}

// sweepAckTimeouts redelivers every delivery whose ack timeout has passed.
// A timed-out message goes back to the front of the queue, in the order it
// was first handed out, unless it has reached the max deliveries. The
// handlers still holding them have their contexts cancelled, with cause
// ErrAckTimeout.
func (q *Queue) sweepAckTimeouts(ctx context.Context) {
	var expired []entry
	q.lock()
	q.ackSweepDue = false
	now := q.b.clock()
	for d := q.inflight.head; d != nil && d.deadline <= now; d = q.inflight.head {
		q.inflight.remove(d)
		// Read before the claim: once the handler goroutine sees the claim,
		// it may hand d out again.
		cancel := d.cancel
		// A settle racing with the sweep wins or loses here, once.
		if d.claim(settledNack | timedOutBit) {
			if q.sac != nil {
				q.sac.release(d) // a Receive's delivery held the queue
			}
			expired = append(expired, d.entry())
			if cancel != nil {
				// Before the message is ready again, so that no handler
				// sees its redelivery while the first one's context is
				// live. The context is one herald made for the handler
				// (see handlerCtx): cancelling it runs no handler code.
				cancel(ErrAckTimeout)
			}
		}
	}
	if q.inflight.head != nil {
		q.scheduleSweepLocked(q.inflight.head.deadline)
	}
	var dead []entry
	for i := len(expired) - 1; i >= 0; i-- {
		e := expired[i]
		if q.cfg.maxDeliveries > 0 && int(e.attempt) >= q.cfg.maxDeliveries {
			dead = append(dead, e)
			continue
		}
		q.forcePlace()
		q.ready.PushFront(e)
		q.wakeConsumerLocked()
	}
	slices.Reverse(dead) // dead-lettered in the order handed out
	// Counted with the messages' moves, under mu, for exact Stats.
	q.settles.shared.nacked.Add(uint64(len(expired)))
	q.dieAllRelocking(ctx, dead, endLimited, ReasonDeliveryLimit, ErrAckTimeout)
	q.mu.Unlock()
	q.ends.observeTimeouts(expired)
	for _, e := range dead {
		q.b.replies.rejected(e.m, ErrAckTimeout)
	}
	if len(expired) > 0 {
		q.b.noteSettled(q)
	}
}

// timed is an item of the broker's scheduler.
type timed struct {
	q    *Queue
	s    *Subscription
	e    entry
	kind uint8
}

const (
	timedRetry       uint8 = iota // q.retryDue(e)
	timedAckSweep                 // q.sweepAckTimeouts()
	timedSubRetry                 // s.retryDue(e)
	timedDelay                    // q.delayDue(e)
	timedExpirySweep              // q.sweepExpired()
)

func (t timed) fire() {
	switch t.kind {
	case timedRetry:
		t.q.retryDue(onScheduler, t.e)
	case timedAckSweep:
		t.q.sweepAckTimeouts(onScheduler)
	case timedSubRetry:
		t.s.retryDue(t.e)
	case timedDelay:
		t.q.delayDue(onScheduler, t.e)
	case timedExpirySweep:
		t.q.sweepExpired(onScheduler)
	}
}

// onScheduler is the context of what the scheduler's goroutine runs. The
// dead letters it publishes carry it, so that while a transform (user
// code) runs on that goroutine, Close does not wait for the goroutine:
// the transform may be the one calling Close.
var onScheduler = context.WithValue(context.Background(), onSchedulerKey{}, true)

type onSchedulerKey struct{}
