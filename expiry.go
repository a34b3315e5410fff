package herald

import (
	"context"
	"time"
)

// expirySweepGap is the least time between two expiry sweeps of a queue:
// a sweep scans every ready message, so they are spaced out, and an
// expired message leaves the queue at most this long after its expiry.
const expirySweepGap = 5 * time.Millisecond

// sweepBeforeLocked makes sure an expiry sweep runs by the time expires
// comes (or expirySweepGap after the last sweep, if that is later), so a
// message cannot outlive its TTL behind a long-lived one at the head, as it
// can in RabbitMQ.
func (q *Queue) sweepBeforeLocked(expires int64) {
	at := max(expires, q.lastSweep+int64(expirySweepGap))
	if q.sweepAt != 0 && q.sweepAt <= at {
		return
	}
	if q.b.sched.At(q.b.epoch.Add(time.Duration(at)), timed{q: q, kind: timedExpirySweep}) {
		q.sweepAt = at
	}
}

// sweepExpired ends every ready message whose TTL has passed.
func (q *Queue) sweepExpired(ctx context.Context) {
	q.lock()
	now := q.b.clock()
	if q.sweepAt == 0 || q.sweepAt > now {
		q.mu.Unlock()
		return // stale: an earlier sweep was scheduled after this one
	}
	q.sweepAt, q.lastSweep = 0, now
	expired := func(e entry) bool { return e.expires != 0 && e.expires <= now }
	dead, next := q.ready.removeIf(expired, nil)
	dead, later := q.behind.removeIf(expired, dead)
	if next == 0 || (later != 0 && later < next) {
		next = later
	}
	q.freeLocked(len(dead))
	if next != 0 {
		q.sweepBeforeLocked(next)
	}
	q.dieAllRelocking(ctx, dead, endExpired, ReasonExpired, nil)
	if len(dead) > 0 {
		for q.producers.Len() > 0 && q.roomLocked() {
			w, _ := q.producers.PopFront()
			w.wake()
		}
	}
	q.mu.Unlock()
}
