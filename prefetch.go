package herald

import (
	"context"

	"github.com/heraldmq/herald/internal/ring"
)

// WithPrefetch lets one consumer hold up to n unacked messages
// (RabbitMQ's prefetch): each of its handler goroutines takes up to
// n/concurrency messages at a time, so that it pays once for several.
//
// From a queue it takes at most half of those ready, locking the queue
// once; the messages it holds stay out of other consumers' reach until
// handled, in the order taken, and if the consumer stops first they go
// back to the front of the queue, their attempt not counted. From a topic
// subscription it claims that many published messages with one move of
// the cursor; if the consumer stops first, the subscription redelivers
// them, their attempt not counted. Either way the messages held count as
// Delivered and Unacked. A queue or subscription with an ack timeout takes
// one at a time. Default and minimum: the concurrency (one message per
// handler); at most MaxPrefetch (65536), or Consume returns an error
// wrapping ErrInvalid. Given twice, the last wins.
func WithPrefetch(n int) ConsumeOption { return prefetchOption(n) }

type prefetchOption int

func (o prefetchOption) applyConsume(c *consumeConfig) { c.prefetch = int(o) }

// prefetchBuf holds the messages a handler goroutine took ahead.
type prefetchBuf struct {
	ring.Ring[entry]
	max   int         // messages taken at once, the one handed out included
	ahead []readAhead // a subscription's reads before it claims them
}

// readAhead is a message a subscription read from its topic's ring.
type readAhead struct {
	m  *Message
	at int64 // broker clock at publish, with a max age or a TTL
}

// prefetcher is a source that can take messages ahead: a queue or a
// plain subscription.
type prefetcher interface {
	prefetchBuf(batch int) *prefetchBuf // nil when it does not prefetch
	unprefetch(buf *prefetchBuf)
}

func (q *Queue) prefetchBuf(batch int) *prefetchBuf {
	if q.cfg.ackTimeout > 0 {
		return nil // each delivery's timeout must start when it is handed out
	}
	return &prefetchBuf{max: batch}
}

// prefetchRelocking moves up to buf.max-1 more ready messages, at most half
// of those ready, into buf, counted as delivered.
func (q *Queue) prefetchRelocking(buf *prefetchBuf) {
	now := int64(-1)
	for n := min(buf.max-1, q.ready.Len()/2); n > 0; n-- {
		e, ok := q.ready.PopFront()
		if !ok {
			break // dieRelocking let go of the lock, and others took the rest
		}
		q.freeLocked(1)
		if e.expires != 0 {
			if now < 0 {
				now = q.b.clock()
			}
			if now >= e.expires {
				q.dieRelocking(context.Background(), e, endExpired, ReasonExpired, nil)
				continue
			}
		}
		e.attempt++
		q.delivered++
		buf.PushBack(e)
	}
	q.wakeProducerLocked()
}

// takePrefetched hands out the next message of buf without locking the
// queue, unless it has expired meanwhile.
func (q *Queue) takePrefetched(ctx context.Context, w *waiter, d *Delivery, counts *settleCounts, buf *prefetchBuf) error {
	for buf.Len() > 0 {
		if q.b.closed.Load() {
			return ErrClosed
		}
		e, _ := buf.PopFront()
		if e.expires != 0 && q.b.clock() >= e.expires {
			q.lock()
			// Never handed out: it ends as expired, not unacked, after the
			// attempts it really had.
			q.delivered--
			e.attempt--
			q.dieRelocking(context.Background(), e, endExpired, ReasonExpired, nil)
			q.mu.Unlock()
			continue
		}
		d.reset(q, e, counts)
		return nil
	}
	return q.take(ctx, w, d, counts, buf)
}

// unprefetch puts back, at the front in their order, the messages a
// stopping handler goroutine took ahead and never handed out.
func (q *Queue) unprefetch(buf *prefetchBuf) {
	q.lock()
	defer q.mu.Unlock()
	for buf.Len() > 0 {
		e, _ := buf.PopBack()
		e.attempt--
		q.delivered--
		q.forcePlace()
		q.ready.PushFront(e)
		q.wakeConsumerLocked()
	}
}

func (s *Subscription) prefetchBuf(batch int) *prefetchBuf {
	if s.cfg.ackTimeout > 0 {
		return nil // each delivery's timeout must start when it is handed out
	}
	return &prefetchBuf{max: batch, ahead: make([]readAhead, 0, min(batch, int(s.t.size())))}
}

// claimAhead claims, with one move of the cursor from c, message c (m,
// published at at) and the ones after it up to tail and buf.max, keeping
// in buf those not past the topic's max age.
func (s *Subscription) claimAhead(c, tail uint64, m *Message, at int64, counts *settleCounts, buf *prefetchBuf) {
	t := s.t
	ahead := append(buf.ahead[:0], readAhead{m, at})
	for seq := c + 1; seq < min(tail, c+uint64(buf.max)); seq++ {
		m, at, ok := t.read(seq)
		if !ok {
			break // overwritten: the next take reports the lag
		}
		ahead = append(ahead, readAhead{m, at})
	}
	if !s.claim(c, uint64(len(ahead))) {
		return // another handler of this subscription moved it
	}
	now := int64(-1)
	for i, r := range ahead {
		if t.expired(r.m, r.at, &now) {
			s.ends.observeLost(OutcomeExpired, entry{m: r.m, seq: c + uint64(i)})
			s.ends.expired.Add(1)
			s.passed.Add(1)
			continue
		}
		buf.PushBack(entry{m: r.m, attempt: 1, seq: c + uint64(i)})
	}
	clear(ahead) // let go of the messages
}

// unprefetch hands the messages a stopping handler goroutine claimed and
// never handed out back to the subscription, as its next deliveries, or
// counts them dropped if it is closed.
func (s *Subscription) unprefetch(buf *prefetchBuf) {
	n := buf.Len()
	if n == 0 {
		return
	}
	s.mu.Lock()
	s.settles.shared.delivered.Add(-uint64(n)) // never handed out
	closed := s.closed.Load()
	var dropped []entry
	for buf.Len() > 0 {
		e, _ := buf.PopBack()
		if !closed {
			e.attempt--
			s.retries.PushFront(e)
		} else {
			dropped = s.ends.keepObserved(dropped, e)
		}
	}
	if !closed {
		s.retryN.Add(int32(n))
	}
	s.mu.Unlock()
	if closed {
		s.ends.observeLost(OutcomeDropped, dropped...)
		s.ends.dropped.Add(uint64(n))
		return
	}
	s.t.wakeReaders()
}
