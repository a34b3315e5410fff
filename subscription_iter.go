package herald

import (
	"context"
	"iter"
)

// All returns an iterator over the subscription's deliveries, for
//
//	for d := range sub.All(ctx) { ... }
//
// Each delivery the loop body leaves unsettled is acked when its iteration
// ends: when the next one is fetched, or the loop ends by break, return or
// panic. The sequence blocks while there is nothing to read. It ends when
// ctx ends, the subscription or broker closes, or [Broker.Shutdown] has
// drained the topic; a nil ctx ends it at once. A lag shows as the next
// delivery's Missed.
//
// A delivery is valid until its iteration ends. From then on, every
// settle through it returns ErrSettled and changes nothing: on a plain
// subscription the loop allocates nothing per message, handing out the
// deliveries of a ring again and again as a [Handler]'s are (see
// [Delivery], whose reuse rules All shares). Do not keep a delivery past
// its iteration; use [Subscription.Receive] for one of your own. A group
// member's loop takes each delivery from Receive.
//
// On a plain subscription the loop counts as a consumer while it runs: in
// Stats().Consumers, and for Shutdown, which waits for the loop to end as
// it waits for Consume to return.
func (s *Subscription) All(ctx context.Context) iter.Seq[*Delivery] {
	return func(yield func(*Delivery) bool) {
		if ctx == nil {
			return
		}
		s.r.all(ctx, yield)
	}
}

func (c *cursorReader) all(ctx context.Context, yield func(*Delivery) bool) {
	s := (*Subscription)(c)
	pull(ctx, s.t.b, s, settledAck, nil, func(d *Delivery, err error) bool {
		return err == nil && yield(d)
	})
}
