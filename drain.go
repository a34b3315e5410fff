package herald

// What Shutdown waits for. It waits for every message a publisher sent to
// be consumed or to end, as it always did: a queue it was published to is
// drained even if its consumer has not started yet (a program that starts
// Consume in a goroutine and calls Shutdown right after cannot tell herald
// that a consumer is coming). It does not wait for dead letters nobody
// reads: a queue that has only ever received dead letters, with no
// consumer attached and no TTL that sends them on, keeps them, counted in
// Stats, when the broker closes. What is in flight is always waited for:
// a publish on its way into a queue (or from a topic's ring to its
// groups), a delivery handed out and not settled, a dead letter being
// published. A publish that checked draining before Shutdown began is not
// counted by beginPut; see there for how Shutdown sees it anyway.

// drained reports whether Shutdown may stop waiting for q.
func (q *Queue) drained() bool {
	q.lock()
	defer q.mu.Unlock()
	return q.drainedLocked()
}

func (q *Queue) drainedLocked() bool {
	if q.fed || q.consumedLocked() || (q.cfg.ttl > 0 && q.ends.dest != "") {
		// Its consumers take what it holds, or its messages move on.
		return q.idleLocked()
	}
	// Dead letters nobody reads: only what is in flight.
	return q.dying == 0 && q.unackedLocked() == 0 &&
		q.takenLocked() == int64(q.readyLen()+q.scheduled) // no publish between its place and the intake
}

// consumedLocked reports whether a consumer is attached: a running
// Consume, or a Receive call in progress.
func (q *Queue) consumedLocked() bool { return len(q.settles.workers) > 0 || q.receivers.Load() > 0 }

// signalIfQuietLocked wakes Shutdown or WaitIdle if q may be what they
// wait for: drained, or idle.
func (q *Queue) signalIfQuietLocked() {
	switch {
	case q.b.draining.Load() && q.drainedLocked(), q.b.watchers.Load() > 0 && q.idleLocked():
		q.b.signalQuiet()
	}
}

// doneReceiving notes the end of a Receive call: while Shutdown waits, a
// queue that loses its last reader may no longer be waited for.
func (q *Queue) doneReceiving() {
	q.receivers.Add(-1)
	if q.b.draining.Load() {
		q.lock()
		q.signalIfQuietLocked()
		q.mu.Unlock()
	}
}

// drained reports whether Shutdown may stop waiting for t: no publish is
// between the ring and its groups, every subscription has read and settled
// everything, and every group is drained as a queue.
//
// It looks under wmu, as a publish checks draining and writes the ring:
// a publish that found the broker not draining has then written the ring
// and counted itself in feeding, and a later one is refused.
func (t *Topic) drained() bool {
	t.wmu.Lock()
	feeding := t.feeding.Load()
	t.wmu.Unlock()
	if feeding > 0 {
		return false
	}
	for _, s := range *t.subs.Load() {
		if !s.idle() {
			return false
		}
	}
	for _, g := range *t.groups.Load() {
		if !g.q.drained() {
			return false
		}
	}
	return true
}
