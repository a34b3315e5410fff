package herald

import (
	"context"
	"sync"
	"sync/atomic"
)

// WithSingleActiveConsumer makes one consumer of the queue receive at a
// time (RabbitMQ's x-single-active-consumer), so that the queue's order
// holds across a fleet of consumers, one of which works while the others
// stand by.
//
// Consume calls, [Queue.All] loops and Receive calls line up in the order
// they are made. The first is active: a Consume call until it returns (its
// context ends, the broker closes or Shutdown drains the queue), an All
// loop until it ends; a Receive call until
// the delivery it returns is settled (or its ack timeout passes), so that
// Receive loops in several goroutines take turns, one message at a time.
// The others wait, under their own contexts, and do not count in
// Stats().Consumers. When the active one stops, the next in line takes
// over, starting with the first unacked message: the messages the
// stopping consumer's handlers nack once its context has ended (a handler
// that returns ctx.Err() does), and those it took ahead with WithPrefetch,
// go back to the head of the queue, in the order they were handed out
// with concurrency 1 (with more, in the order the handlers returned),
// with no back-off; a nacked message counts the attempt.
//
// A nack while the active consumer runs goes back after the back-off, as
// on any queue; use [Delivery.Requeue] to retry at the head. It is part of
// the queue's options: declaring the queue again without it, or declaring
// it with it over a queue declared without, returns an error wrapping
// ErrExists. Default: off, every consumer receives at once.
func WithSingleActiveConsumer() QueueOption { return singleActiveOption{} }

type singleActiveOption struct{}

func (singleActiveOption) applyQueue(c *queueConfig) { c.singleActive = true }

// singleActive is a queue's line of consumers, of which one, the holder,
// receives. A holder is a Consume call's token or the Delivery a Receive
// call returned. Lock order: q.mu, then mu; mu is never held while taking
// q.mu.
type singleActive struct {
	mu     sync.Mutex
	holder any
	line   []*standby // guarded by mu, oldest first
	// active is the context of the active Consume call: once it has
	// ended, the call's nacks are held in returning, guarded by q.mu,
	// until it returns.
	active    atomic.Pointer[context.Context]
	returning []entry
}

// stopping reports whether the active Consume call's context has ended.
// Its handlers see their contexts end only after it has, so a nack that
// follows from that sees it too.
func (s *singleActive) stopping() bool {
	ctx := s.active.Load()
	return ctx != nil && (*ctx).Err() != nil
}

type standby struct {
	token any
	ch    chan struct{} // closed when token becomes the holder
}

// acquire waits, under ctx, until token holds the queue.
func (s *singleActive) acquire(ctx context.Context, b *Broker, token any) error {
	s.mu.Lock()
	if s.holder == nil && len(s.line) == 0 {
		s.holder = token
		s.mu.Unlock()
		return nil
	}
	w := &standby{token: token, ch: make(chan struct{})}
	s.line = append(s.line, w)
	s.mu.Unlock()
	var err error
	select {
	case <-w.ch:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-b.ctx.Done():
		err = ErrClosed
	}
	s.mu.Lock()
	if s.holder == token { // handed over meanwhile: pass it on
		s.mu.Unlock()
		s.release(token)
		return err
	}
	for i, x := range s.line {
		if x == w {
			s.line = append(s.line[:i], s.line[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	return err
}

// release hands the queue from token, if it holds it, to the next in line.
func (s *singleActive) release(token any) {
	s.mu.Lock()
	if s.holder != token {
		s.mu.Unlock()
		return
	}
	s.holder = nil
	if len(s.line) > 0 {
		w := s.line[0]
		s.line[0] = nil
		s.line = s.line[1:]
		s.holder = w.token
		close(w.ch)
	}
	s.mu.Unlock()
}

// consumeSingle is Consume on a queue with a single active consumer: it
// waits for its turn, then consumes until it stops, and hands over.
func (q *Queue) consumeSingle(ctx context.Context, h Handler, opts []ConsumeOption) error {
	if _, err := consumeOptions(ctx, h, opts); err != nil {
		return err
	}
	token := new(byte)
	if err := q.sac.acquire(ctx, q.b, token); err != nil {
		return err
	}
	q.sac.active.Store(&ctx)
	err := consume(ctx, q.b, q, h, opts)
	q.handOver(token)
	return err
}

// pullSingle is Queue.All on a queue with a single active consumer: the
// loop waits for its turn and is active until it ends. Its context is
// ended before the loop lets go of its last delivery, so that a delivery
// the loop body leaves unsettled goes back to the head for the next in
// line, as a stopping Consume's nacks do.
func (q *Queue) pullSingle(ctx context.Context, yield func(*Delivery, error) bool) {
	token := new(byte)
	if err := q.sac.acquire(ctx, q.b, token); err != nil {
		yield(nil, err)
		return
	}
	defer q.handOver(token) // also when the loop body panics
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	q.sac.active.Store(&ctx)
	pull(ctx, q.b, q, settledNack, ErrUnsettled, func(d *Delivery, err error) (more bool) {
		defer func() {
			if !more { // the body broke, returned or panicked
				stop()
			}
		}()
		return yield(d, err)
	})
}

// handOver puts back at the head what the stopping consumer nacked, then
// lets the next in line take over.
func (q *Queue) handOver(token any) {
	q.lock()
	back := q.sac.returning
	q.sac.returning = nil
	q.sac.active.Store(nil)
	for i := len(back) - 1; i >= 0; i-- {
		q.delayed--
		q.forcePlace()
		q.ready.PushFront(back[i])
		if e := back[i]; e.expires != 0 {
			q.sweepBeforeLocked(e.expires)
		}
		q.wakeConsumerLocked()
	}
	q.mu.Unlock()
	q.sac.release(token)
}

// holdNack keeps a nack of the stopping active consumer, to go back to
// the head when it has stopped; it reports false when the consumer is not
// stopping, and the nack goes the usual way.
func (q *Queue) holdNack(d *Delivery, cause error) bool {
	if !q.sac.stopping() {
		return false
	}
	// Counted as waiting out a back-off until handed over.
	q.holdNackedWith(d, cause, func(e entry) { q.sac.returning = append(q.sac.returning, e) })
	return true
}

// receiveSingle is Receive on a queue with a single active consumer: the
// call waits for its turn, and the delivery it returns holds the queue
// until it is settled.
func (q *Queue) receiveSingle(ctx context.Context) (*Delivery, error) {
	d := new(Delivery)
	if err := q.sac.acquire(ctx, q.b, d); err != nil {
		return nil, err
	}
	q.receivers.Add(1)
	defer q.doneReceiving()
	w := q.b.getWaiter()
	defer q.b.putWaiter(w)
	if err := q.take(ctx, w, d, &q.settles.shared, nil); err != nil {
		q.sac.release(d)
		return nil, err
	}
	q.b.observeDeliver(ctx, d, false)
	return d, nil
}
