package herald

import "sync/atomic"

// settleCounts counts settlements. Each Consume handler goroutine has its
// own, on its own cache line, so that acking never writes memory another
// core is using; Stats adds them up. Deliveries from Receive and the
// ack-timeout sweep use the queue's shared one.
type settleCounts struct {
	delivered atomic.Uint64 // used by subscriptions; a queue counts under its lock
	acked     atomic.Uint64
	nacked    atomic.Uint64 // nacks and ack timeouts
	rejected  atomic.Uint64 // rejects and permanent errors
	_         [32]byte      // pad to a 64-byte cache line
}

func (c *settleCounts) load() (delivered, acked, nacked, rejected uint64) {
	return c.delivered.Load(), c.acked.Load(), c.nacked.Load(), c.rejected.Load()
}

// addTo folds c into dst, for a handler goroutine that stops.
func (c *settleCounts) addTo(dst *settleCounts) {
	dst.delivered.Add(c.delivered.Load())
	dst.acked.Add(c.acked.Load())
	dst.nacked.Add(c.nacked.Load())
	dst.rejected.Add(c.rejected.Load())
}

// sumLocked returns the queue's settlement counts across all counters.
func (q *Queue) sumLocked() (acked, nacked, rejected uint64) {
	acked, nacked, rejected = q.settles.acked.Load(), q.settles.nacked.Load(), q.settles.rejected.Load()
	for _, c := range q.workerSettles {
		acked += c.acked.Load()
		nacked += c.nacked.Load()
		rejected += c.rejected.Load()
	}
	return acked, nacked, rejected
}

// unackedLocked is the number of deliveries not yet settled.
func (q *Queue) unackedLocked() int {
	acked, nacked, rejected := q.sumLocked()
	return int(q.delivered - acked - nacked - rejected)
}

// addWorker registers a handler goroutine's counters.
func (q *Queue) addWorker(c *settleCounts) {
	q.mu.Lock()
	q.workerSettles = append(q.workerSettles, c)
	q.mu.Unlock()
}

// removeWorker folds a stopping handler goroutine's counters into the
// queue's shared ones.
func (q *Queue) removeWorker(c *settleCounts) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, x := range q.workerSettles {
		if x == c {
			c.addTo(&q.settles)
			q.workerSettles = append(q.workerSettles[:i], q.workerSettles[i+1:]...)
			return
		}
	}
}
