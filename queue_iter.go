package herald

import (
	"context"
	"iter"
)

// All returns an iterator over the queue's deliveries, a pull loop that
// allocates nothing per message:
//
//	for d, err := range q.All(ctx) {
//		if err != nil {
//			return err // ctx.Err() or ErrClosed
//		}
//		handle(d.Body)
//		d.Ack()
//	}
//
// The loop body settles each delivery itself, with Ack, Nack or Reject, or
// Reply and then Ack: unlike [Subscription.All], All acks nothing for the
// caller. A delivery the body leaves unsettled is nacked, with cause
// [ErrUnsettled], when the body's iteration ends (the next iteration
// starts, or the loop ends by break, return or panic): the message is
// redelivered after the queue's back-off, counts against its max
// deliveries, and is dead-lettered there, as an unacked message comes back
// to another consumer when an amqp091 channel closes or a NATS ack wait
// passes. So skipping a message with continue retries it; a message is
// never taken as handled without an Ack.
//
// A delivery is valid until its iteration ends. From then on, every
// settle or Reply through it returns ErrSettled and changes nothing, as
// for a [Handler]'s delivery after it returns (see [Delivery], whose
// reuse rules All shares): do not keep it, or settle it from another
// goroutine, past the iteration; use [Queue.Receive] for a delivery of
// your own.
//
// The sequence blocks while the queue is empty. It ends with one last
// pair (nil, err): err is ctx.Err() once ctx ends, ErrClosed once the
// broker closes, or an error wrapping ErrInvalid for a nil ctx. It ends
// without an error when [Broker.Shutdown] has drained the queue. While it
// runs, the loop counts as a consumer: in Stats().Consumers, for
// [Broker.Request]'s responders, and for Shutdown, which waits for the
// loop to end as it waits for Consume to return. [WithConcurrency],
// [WithPrefetch] and broker middleware do not apply: the loop body runs in
// the caller's goroutine, one delivery at a time, in queue order. On a
// queue declared [WithSingleActiveConsumer] the loop lines up with the
// other consumers, is active until it ends, and a delivery its body leaves
// unsettled goes back to the head for the next in line.
func (q *Queue) All(ctx context.Context) iter.Seq2[*Delivery, error] {
	return func(yield func(*Delivery, error) bool) {
		if ctx == nil {
			yield(nil, invalidf("nil context"))
			return
		}
		if q.sac != nil {
			q.pullSingle(ctx, yield) // see singleactive.go
			return
		}
		pull(ctx, q.b, q, settledNack, ErrUnsettled, yield)
	}
}

// pull runs a pull loop on src: each delivery it takes is yielded, then
// retired and, if the loop body left it unsettled, settled as how, with
// cause. It reuses the deliveries of a ring, as a Consume handler
// goroutine does. A subscription's lag is reported on the next delivery's
// Missed.
func pull(ctx context.Context, b *Broker, src source, how uint64, cause error, yield func(*Delivery, error) bool) {
	if !b.addConsumer() {
		yield(nil, ErrClosed)
		return
	}
	defer b.doneConsumer()
	b.checkDeadLetter(src)
	w := b.getWaiter()
	defer b.putWaiter(w)
	p := &puller{how: how, cause: cause}
	p.ring.init(&p.owner)
	src.addWorker(&p.counts)
	defer src.removeWorker(&p.counts)
	defer p.end() // also when the loop body panics
	var missed uint64
	for {
		if err := ctx.Err(); err != nil {
			yield(nil, err)
			return
		}
		d := p.ring.next()
		if err := src.take(ctx, w, d, &p.counts, nil); err != nil {
			if lag, ok := err.(*LagError); ok {
				missed += lag.Missed
				continue
			}
			if err = b.consumeResult(ctx, err); err != nil {
				yield(nil, err)
			}
			return
		}
		d.Missed, missed = missed, 0
		b.observeDeliver(ctx, d, false)
		p.cur = d
		more := yield(d, nil)
		p.end()
		if !more {
			return
		}
	}
}

// puller is a pull loop's state, allocated once per loop.
type puller struct {
	_      [64]byte
	ring   deliveryRing
	counts settleCounts
	owner  handout
	cur    *Delivery // yielded, its iteration not yet over
	how    uint64    // what an unsettled delivery is settled as when its iteration ends
	cause  error
	_      [64]byte
}

// end ends the current delivery's iteration: from now on settles through
// it fail, and if the loop body left it unsettled it is settled as p.how.
func (p *puller) end() {
	d := p.cur
	if d == nil {
		return
	}
	p.cur = nil
	d.retireAs(p.how, p.cause)
}
