package herald

// Purge removes every ready message from the queue (those Len counts) and
// returns how many it removed; a publish still on its way in may land
// after it. They end there, counted in Stats().Purged: they are not
// dead-lettered, whatever the queue's dead-letter destination, as in
// RabbitMQ. Messages handed out and not yet settled, backing off after a
// nack or waiting out a Delay are not ready and stay. Publishers waiting
// for room are woken, and so is a [Broker.Request] whose request was
// purged: it returns an error wrapping ErrNoResponders.
//
// Purge holds the queue's lock while it empties the ready list, in time
// proportional to the ready messages; it never waits for anything else.
func (q *Queue) Purge() int {
	q.lock()
	n := q.readyLen() // those held behind a stalled intake publish too
	if n == 0 {
		q.mu.Unlock()
		return 0
	}
	dq := q.durable()
	var ended []*Message // a Durable queue's, to settle in its log
	var requests []*Message
	reqs := q.b.replies.waiting()
	for range n {
		e, ok := q.ready.PopFront()
		if !ok {
			e, _ = q.behind.PopFront()
		}
		if dq != nil {
			ended = append(ended, e.m)
		}
		if reqs && e.m.ReplyTo != "" {
			requests = append(requests, e.m)
		}
	}
	q.purged += uint64(n)
	q.freeLocked(n)
	q.flushFreedLocked()
	for i := 0; i < n && q.producers.Len() > 0 && q.roomLocked(); i++ {
		w, _ := q.producers.PopFront()
		w.wake()
	}
	q.signalIfQuietLocked()
	q.mu.Unlock()
	if dq != nil {
		dq.purged(ended)
	}
	for _, m := range requests {
		q.b.replies.purged(q.name, m) // see request.go
	}
	return n
}
