package herald

import "sync/atomic"

// settleCounts counts settlements. Each Consume handler goroutine has its
// own, on its own cache line, so that acking never writes memory another
// core is using; Stats adds them up. Deliveries from Receive and the
// ack-timeout sweep use the queue's shared one.
type settleCounts struct {
	delivered atomic.Uint64 // a subscription's redeliveries (see deliveredLocked); a queue counts under its lock
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

// tally adds up a queue's or subscription's settleCounts: a shared one,
// and one for each running handler goroutine. Its owner's lock guards it.
type tally struct {
	shared  settleCounts
	workers []*settleCounts
}

func (t *tally) sum() (delivered, acked, nacked, rejected uint64) {
	delivered, acked, nacked, rejected = t.shared.load()
	for _, c := range t.workers {
		d, a, n, r := c.load()
		delivered, acked, nacked, rejected = delivered+d, acked+a, nacked+n, rejected+r
	}
	return delivered, acked, nacked, rejected
}

// add registers a handler goroutine's counters.
func (t *tally) add(c *settleCounts) { t.workers = append(t.workers, c) }

// remove folds a stopping handler goroutine's counters into the shared ones.
func (t *tally) remove(c *settleCounts) {
	for i, x := range t.workers {
		if x == c {
			c.addTo(&t.shared)
			t.workers = append(t.workers[:i], t.workers[i+1:]...)
			return
		}
	}
}

// unackedLocked is the number of deliveries not yet settled.
func (q *Queue) unackedLocked() int {
	_, acked, nacked, rejected := q.settles.sum()
	return int(q.delivered - acked - nacked - rejected)
}

func (q *Queue) addWorker(c *settleCounts) {
	q.lockSkipIntake()
	q.settles.add(c)
	q.mu.Unlock()
}

func (q *Queue) removeWorker(c *settleCounts) {
	q.lockSkipIntake()
	q.settles.remove(c)
	q.mu.Unlock()
}
