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
// q.lock, which drains the intake first, so it sees every publish that has
// returned, in publish order.
//
// Places: q.occupied counts the messages that hold a place against the
// capacity — ready, scheduled, in the intake, or reserved by a publisher
// on its way in. A publish reserves one; whoever takes a message out of
// the ready list or ends a scheduled one frees it; whoever puts a message
// back (a redelivery) takes one without asking, as a forced publish does.
// A consumer frees places in batches (q.unfreed), so that it does not write
// the counter publishers compare-and-swap on for every message; anything
// that needs the exact count holds the lock and subtracts the batch.

// intakeSize bounds the intake: enough for a consumer to take a batch per
// lock, small enough that a queue costs little memory.
const intakeSize = 128

// newIntake returns the intake for a queue declared with cfg, or nil when
// every publish must take the lock.
func newIntake(cfg queueConfig) *ring.MPSC[entry] {
	if cfg.dedup > 0 || cfg.priorities > 1 || cfg.ttl > 0 {
		return nil
	}
	return ring.NewMPSC[entry](min(cfg.capacity, intakeSize))
}

// lock locks q.mu and moves the intake into the ready list.
func (q *Queue) lock() {
	q.mu.Lock()
	q.drainLocked()
}

// lockToTake locks q.mu for a consumer, draining the intake only when no
// message is ready: whatever is in the intake is newer than everything
// ready, because every push to the back of the ready list drains it first.
// So a consumer that is behind does not touch the cache lines publishers
// are writing; a publisher that finds the intake full drains it.
func (q *Queue) lockToTake() {
	q.mu.Lock()
	if q.ready.Len() == 0 {
		q.drainLocked()
	}
}

// drainLocked moves every completed intake publish to the back of the
// ready list and reports how many it moved.
func (q *Queue) drainLocked() int {
	if q.intake == nil {
		return 0
	}
	n := 0
	for {
		e, ok := q.intake.TryPop()
		if !ok {
			return n
		}
		q.published++
		q.ready.PushBack(e) // its place was reserved by its publisher
		n++
	}
}

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
	return q.intake != nil && !internal && m.Delay <= 0 && m.TTL <= 0
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
	if !q.b.draining.Load() && q.intake.TryPush(e) {
		// The consumer that parks stores sleepers before it looks at the
		// intake a last time: one of the two sees the other.
		if q.sleepers.Load() > 0 {
			q.lock()
			q.wakeConsumerLocked()
			q.mu.Unlock()
		}
		return true, nil
	}
	// Draining, or the intake is full: finish under the lock, place held.
	q.lock()
	if q.closed || (q.b.draining.Load() && !q.b.fromHandler(ctx)) {
		q.freeLocked(1)
		q.wakeProducerLocked()
		if q.b.watched() && q.idleLocked() {
			q.b.signalQuiet()
		}
		q.mu.Unlock()
		return true, ErrClosed
	}
	q.acceptLocked(&e)
	return true, nil
}

// noteSleepersLocked publishes how many consumers are parked, for putFast.
func (q *Queue) noteSleepersLocked() { q.sleepers.Store(int32(q.consumers.Len())) }
