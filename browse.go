package herald

// BrowsedMessage is a message seen without being consumed, as
// [Queue.Browse] and [Topic.Browse] return it.
type BrowsedMessage struct {
	// Message is shared with the consumers that will get it: read-only.
	*Message
	// Seq is the message's sequence number in its topic (the first is 1);
	// 0 for a queue's message.
	Seq uint64
	// Deliveries is how many times a queue's message has been handed out
	// already: above 0 for one nacked or timed out and ready again.
	Deliveries int
}

// Browse returns up to n of the queue's ready messages, in the order
// consumers would receive them (highest priority first, then FIFO),
// without taking them: they stay ready, no counter changes and nobody is
// notified. Messages unacked, backing off after a nack or waiting out a
// Delay are not ready and not returned, nor are those whose TTL has passed.
// It returns nil when n <= 0 or nothing is ready.
//
// Browse holds the queue's lock while it copies n entries, so it holds up
// the queue's publishers and consumers in proportion to n; it never waits
// for anything else.
func (q *Queue) Browse(n int) []BrowsedMessage {
	if n <= 0 {
		return nil
	}
	q.lock()
	defer q.mu.Unlock()
	now := q.b.clock()
	out := make([]BrowsedMessage, 0, min(n, q.readyLen()))
	add := func(e *entry) bool {
		if e.expires == 0 || now < e.expires {
			out = append(out, BrowsedMessage{Message: e.m, Deliveries: int(e.attempt)})
		}
		return len(out) < n
	}
	q.ready.each(add)
	if len(out) < n {
		q.behind.each(add) // held behind a stalled intake publish: next in line
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// each calls f with each ready entry in the order PopFront takes them,
// until f returns false.
func (r *readyList) each(f func(*entry) bool) {
	for i := len(r.levels) - 1; i >= 0; i-- {
		l := &r.levels[i]
		for k := range l.Len() {
			if !f(l.At(k)) {
				return
			}
		}
	}
}

// Browse returns up to n of the messages the topic retains, oldest first,
// starting at sequence number from (see [Delivery.Seq]); from 0, or below
// the oldest retained message, starts at the oldest. Messages older than
// the topic's [WithMaxAge], which no subscription would deliver, are
// skipped. Nothing is consumed: no cursor moves. It returns nil when n <= 0
// or no message from there on is retained.
//
// The newest message's sequence number is Stats().Published, so
// Browse(Stats().Published-n+1, n) returns the last n. Browse takes no
// lock that publishers wait on; a message that a publish overwrites while
// Browse reads is left out.
func (t *Topic) Browse(from uint64, n int) []BrowsedMessage {
	if n <= 0 {
		return nil
	}
	tail := t.tail.Load()
	from = max(from, t.oldest())
	if from >= tail {
		return nil
	}
	aged, limit := t.cfg.maxAge > 0, t.b.clock()-int64(t.cfg.maxAge)
	out := make([]BrowsedMessage, 0, min(uint64(n), tail-from))
	for seq := from; seq < tail && len(out) < n; seq++ {
		m, at, ok := t.read(seq)
		if !ok || (aged && at < limit) {
			continue
		}
		out = append(out, BrowsedMessage{Message: m, Seq: seq})
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
