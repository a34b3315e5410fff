package herald

import (
	"context"

	"github.com/heraldmq/herald/internal/ring"
)

// A queue's publishes usually skip its lock: a fresh message that needs no
// bookkeeping under the lock (no TTL, Delay, dedup or priorities) takes a
// place against the capacity with one compare-and-swap and goes into the
// queue's intake, a lock-free ring that whoever next holds the lock moves,
// in order, to the back of the ready list. So a publisher and a consumer
// do not contend for the lock, and a consumer moves many messages for one
// lock. Everything that looks at the ready list takes the lock with
// q.lock (or a consumer's q.lockToTake; see Locking in queue.go), which
// drains the intake first, so it sees every publish that has returned, in
// publish order.
//
// Places: q.occupied counts the messages that hold a place against the
// capacity — ready, scheduled, in the intake, or reserved by a publisher
// on its way in. A publish reserves one; whoever takes a message out of
// the ready list or ends a scheduled one frees it; whoever puts a message
// back (a redelivery) takes one without asking, as a forced publish does.
// A consumer frees places in batches (q.unfreed), so that it does not write
// the counter publishers compare-and-swap on for every message; anything
// that needs the exact count holds the lock and subtracts the batch.

// Order: the intake keeps the publishes that took it in order, and so do
// the ready list and the publishes that take the lock; the danger is a
// publish that takes the lock (a message with a TTL, or the intake full)
// while an earlier publish of the same producer waits in the intake behind
// another producer's, which has claimed its slot and not yet filled it:
// draining stops at that slot. So while the intake holds a claimed, unfilled
// slot, a publish under the lock does not go to the ready list but waits in
// q.behind, and q.held sends later publishes to the lock too; the drain
// that gets past the slot moves q.behind after what it drained. Each
// producer's messages come out in the order it published them.

// intakeSize bounds the intake: enough for a consumer to take a batch per
// lock, small enough that a queue costs little memory.
const intakeSize = 128

// intakeFits reports whether a queue declared with cfg may take publishes
// through an intake; with dedup, priorities or a TTL every publish needs
// the lock.
func intakeFits(cfg queueConfig) bool {
	return cfg.dedup == 0 && cfg.priorities <= 1 && cfg.ttl == 0
}

// intakeRing returns the queue's intake, made by the first publish that
// needs it: a queue nobody publishes to without its lock costs no ring.
func (q *Queue) intakeRing() *ring.MPSC[entry] {
	if in := q.intake.Load(); in != nil {
		return in
	}
	return q.makeIntake()
}

func (q *Queue) makeIntake() *ring.MPSC[entry] {
	q.intake.CompareAndSwap(nil, ring.NewMPSC[entry](min(q.cfg.capacity, intakeSize)))
	return q.intake.Load()
}

// drainIntakeLocked moves every completed intake publish to the back of the
// ready list, then the messages held behind, if no publish in the intake is
// still unfilled, and reports how many messages it made ready.
func (q *Queue) drainIntakeLocked() int {
	in := q.intake.Load()
	if in == nil {
		return 0
	}
	n := 0
	for {
		e, ok := in.TryPop()
		if !ok {
			break
		}
		q.published++
		q.ready.PushBack(e) // its place was reserved by its publisher
		n++
	}
	if n > 0 && !q.fed {
		q.fed = true // only publishers' own messages take the intake
	}
	if q.held.Load() && !in.Pending() {
		for {
			e, ok := q.behind.PopFront()
			if !ok {
				break
			}
			q.ready.PushBack(e)
			n++
			q.wakeConsumerLocked() // nobody was woken for it when it was held
		}
		q.held.Store(false)
	}
	return n
}

// stalledLocked drains the intake and reports whether a publish in it
// has claimed its slot and not yet filled it.
func (q *Queue) stalledLocked() bool {
	in := q.intake.Load()
	if in == nil {
		return false
	}
	q.drainIntakeLocked()
	return in.Pending()
}

// readyLen is the number of ready messages, those held behind the intake
// included.
func (q *Queue) readyLen() int { return q.ready.Len() + q.behind.Len() }

// reserve takes a place against the capacity, if one is free. Without
// q.mu it may see places that a consumer has freed as taken.
func (q *Queue) reserve() bool {
	for {
		n := q.occupied.Load()
		if n >= int64(q.cfg.capacity) {
			return false
		}
		if q.occupied.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// freeBatch is how many places a consumer frees at once.
const freeBatch = 32

// freeLocked gives back n places, in batches.
func (q *Queue) freeLocked(n int) {
	if q.unfreed += n; q.unfreed >= freeBatch {
		q.flushFreedLocked()
	}
}

// flushFreedLocked makes q.occupied exact.
func (q *Queue) flushFreedLocked() {
	if q.unfreed > 0 {
		q.occupied.Add(-int64(q.unfreed))
		q.unfreed = 0
	}
}

// takenLocked is the exact number of places taken.
func (q *Queue) takenLocked() int64 { return q.occupied.Load() - int64(q.unfreed) }

// forcePlace takes a place whether or not one is free: for a message that
// comes back (a redelivery) or that its topic checked room for.
func (q *Queue) forcePlace() { q.occupied.Add(1) }

// fastEligible reports whether a publish of m may take the intake.
func (q *Queue) fastEligible(m *Message, internal bool) bool {
	return q.fast && !internal && m.Delay <= 0 && m.TTL <= 0
}

// putFast publishes e through the intake. done is false, with nothing
// changed, when the queue has no free place: the caller takes the locked
// path, where the overflow policy decides.
func (q *Queue) putFast(ctx context.Context, e entry) (done bool, err error) {
	if !q.reserve() {
		return false, nil
	}
	// The place is reserved before draining is checked, and Shutdown sets
	// draining before it checks places: one of the two sees the other.
	if !q.b.draining.Load() && !q.held.Load() {
		in := q.intakeRing()
		if pos, ok := in.Claim(); ok {
			in.Fill(pos, e)
			// The consumer that parks stores sleepers before it looks at
			// the intake a last time: one of the two sees the other. And
			// Shutdown may have seen this publish on its way.
			if q.sleepers.Load() > 0 || q.b.draining.Load() {
				q.filled()
			}
			return true, nil
		}
	}
	// Draining, messages held behind an unfilled publish, or the intake is
	// full: finish under the lock, place held.
	q.lock()
	if q.closed || (q.b.draining.Load() && !q.b.fromHandler(ctx)) {
		q.freeLocked(1)
		q.wakeProducerLocked()
		q.signalIfQuietLocked()
		q.mu.Unlock()
		return true, ErrClosed
	}
	q.acceptAndUnlock(&e)
	return true, nil
}

// filled follows a publish through the intake when a consumer may be
// parked, or Shutdown waiting, for it.
func (q *Queue) filled() {
	q.lock()
	if q.consumers.Len() > 0 {
		q.wakeConsumerLocked()
	}
	if q.b.draining.Load() {
		q.signalIfQuietLocked()
	}
	q.mu.Unlock()
}

// noteSleepersLocked publishes how many consumers are parked, for putFast.
func (q *Queue) noteSleepersLocked() { q.sleepers.Store(int32(q.consumers.Len())) }
