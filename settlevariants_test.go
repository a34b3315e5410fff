package herald

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Requeue puts the message back at the head at once, counting the nack
// and the attempt; the messages behind it keep their order.
func TestRequeueAtHead(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	for i := range 3 {
		publishOrFail(t, q, i)
	}
	d := receiveOrFail(t, q)
	wantBody(t, d, 0, 1)
	settleOrFail(t, d.Requeue)
	if err := d.Requeue(); !errors.Is(err, ErrSettled) {
		t.Fatalf("second Requeue: %v, want ErrSettled", err)
	}
	wantStats(t, q, QueueStats{Published: 3, Delivered: 1, Nacked: 1, Ready: 3})
	d = receiveOrFail(t, q)
	wantBody(t, d, 0, 2)
	settleOrFail(t, d.Ack)
	for i := 1; i < 3; i++ {
		d := receiveOrFail(t, q)
		wantBody(t, d, i, 1)
		settleOrFail(t, d.Ack)
	}
	wantStats(t, q, QueueStats{Published: 3, Delivered: 4, Nacked: 1, Acked: 3})
}

// Release gives the message back at the head without counting the
// attempt or the delivery.
func TestReleaseNotCounted(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithMaxDeliveries(1))
	publishOrFail(t, q, "a")
	publishOrFail(t, q, "b")
	for range 3 { // released three times, under a max of one delivery
		d := receiveOrFail(t, q)
		wantBody(t, d, "a", 1)
		settleOrFail(t, d.Release)
		wantStats(t, q, QueueStats{Published: 2, Ready: 2})
	}
	d := receiveOrFail(t, q)
	wantBody(t, d, "a", 1)
	settleOrFail(t, d.Ack)
	wantStats(t, q, QueueStats{Published: 2, Delivered: 1, Acked: 1, Ready: 1})
}

// Requeue at the max deliveries dead-letters as Nack does.
func TestRequeueAtMaxDeliveriesDeadLetters(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithMaxDeliveries(2), WithDeadLetter("dead"))
	dead := mustQueue(t, b, "dead")
	publishOrFail(t, q, "poison")
	for attempt := 1; attempt <= 2; attempt++ {
		d := receiveOrFail(t, q)
		wantBody(t, d, "poison", attempt)
		settleOrFail(t, d.Requeue)
	}
	d := receiveOrFail(t, dead)
	if d.Body != "poison" || d.Headers[HeaderDeathReason] != ReasonDeliveryLimit {
		t.Fatalf("dead letter %v %v", d.Body, d.Headers)
	}
	settleOrFail(t, d.Ack)
	wantStats(t, q, QueueStats{Published: 1, Delivered: 2, Nacked: 2, Rejected: 1, DeadLettered: 1})
}

// A handler that requeues a message sees it again before the ones behind
// it: Consume keeps the queue's order across the failure.
func TestRequeueInHandlerKeepsOrder(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	for i := range 4 {
		publishOrFail(t, q, i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var seen []any
	err := q.Consume(ctx, func(_ context.Context, d *Delivery) error {
		seen = append(seen, d.Body)
		if d.Body == 1 && d.Attempt == 1 {
			return d.Requeue()
		}
		if len(seen) == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume: %v", err)
	}
	if want := []any{0, 1, 1, 2, 3}; !equalAny(seen, want) {
		t.Fatalf("handled %v, want %v", seen, want)
	}
}

func equalAny(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// On a plain subscription, Requeue and Release make the message the next
// delivery; Release does not count it.
func TestSubscriptionRequeueAndRelease(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	s := subscribeOrFail(t, tp, WithMaxDeliveries(2), WithBackoff(time.Hour, time.Hour))
	publishInts(t, tp, 1, 3)
	d := receiveSubOrFail(t, s)
	settleOrFail(t, d.Release)
	d = receiveSubOrFail(t, s)
	if d.Body != 1 || d.Attempt != 1 {
		t.Fatalf("after Release got %v attempt %d", d.Body, d.Attempt)
	}
	settleOrFail(t, d.Requeue) // no back-off, despite the hour
	d = receiveSubOrFail(t, s)
	if d.Body != 1 || d.Attempt != 2 {
		t.Fatalf("after Requeue got %v attempt %d", d.Body, d.Attempt)
	}
	settleOrFail(t, d.Requeue) // the max deliveries: it ends
	for want := 2; want <= 3; want++ {
		d := receiveSubOrFail(t, s)
		if d.Body != want {
			t.Fatalf("got %v, want %d", d.Body, want)
		}
		settleOrFail(t, d.Ack)
	}
	st := s.Stats()
	if st.Delivered != 4 || st.Nacked != 2 || st.Rejected != 1 || st.Acked != 2 || st.Unacked != 0 || st.Delayed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A Delivery made without a broker records a Requeue or Release.
func TestSettleVariantsWithoutBroker(t *testing.T) {
	d := &Delivery{Message: NewMessage(1)}
	if err := d.Release(); err != nil {
		t.Fatal(err)
	}
	if err := d.Requeue(); !errors.Is(err, ErrSettled) {
		t.Fatalf("Requeue after Release: %v", err)
	}
}
