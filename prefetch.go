package herald

import (
	"context"

	"github.com/heraldmq/herald/internal/ring"
)

// WithPrefetch lets one consumer of a queue hold up to n unacked messages
// (RabbitMQ's prefetch): each of its handler goroutines takes up to
// n/concurrency ready messages at a time, never more than half of those
// ready, so that it locks the queue once for several messages. The
// messages it holds count as Unacked and stay out of other consumers'
// reach until handled, in the order taken; if the consumer stops first,
// they go back to the front of the queue, their attempt not counted. A
// queue with an ack timeout, and topic subscriptions, take one at a time.
// Default and minimum: the concurrency (one message per handler). Given
// twice, the last wins.
func WithPrefetch(n int) ConsumeOption { return prefetchOption(n) }

type prefetchOption int

func (o prefetchOption) applyConsume(c *consumeConfig) { c.prefetch = int(o) }

// prefetchBuf holds the messages a handler goroutine took ahead.
type prefetchBuf struct {
	ring.Ring[entry]
	max int // messages taken at once, the one handed out included
}

// prefetcher is a source that can take messages ahead: a queue.
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

// prefetchLocked moves up to buf.max-1 more ready messages, at most half
// of those ready, into buf, counted as delivered.
func (q *Queue) prefetchLocked(buf *prefetchBuf) {
	now := int64(-1)
	for n := min(buf.max-1, q.ready.Len()/2); n > 0; n-- {
		e, ok := q.ready.PopFront()
		if !ok {
			break // dieLocked let go of the lock, and others took the rest
		}
		q.freeLocked(1)
		if e.expires != 0 {
			if now < 0 {
				now = q.b.clock()
			}
			if now >= e.expires {
				q.dieLocked(e, endExpired, ReasonExpired)
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
			q.dieLocked(e, endExpired, ReasonExpired)
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
