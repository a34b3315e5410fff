package herald

import (
	"context"
	"errors"
	"maps"
	"testing"
	"testing/synctest"
	"time"
)

// wantDeath fails the test unless dead carries the death headers given, and
// a HeaderDeathTime that parses as RFC 3339 within [after, before].
func wantDeath(t testing.TB, dead *Delivery, want map[string]string, after, before time.Time) {
	t.Helper()
	for k, v := range want {
		if got, ok := dead.Headers[k]; !ok || got != v {
			t.Errorf("dead letter %s = %q (set: %v), want %q", k, got, ok, v)
		}
	}
	if _, ok := want[HeaderDeathError]; !ok {
		if e, ok := dead.Headers[HeaderDeathError]; ok {
			t.Errorf("dead letter has %s = %q, want none", HeaderDeathError, e)
		}
	}
	at, err := time.Parse(time.RFC3339, dead.Headers[HeaderDeathTime])
	if err != nil {
		t.Fatalf("dead letter %s = %q: %v", HeaderDeathTime, dead.Headers[HeaderDeathTime], err)
	}
	// RFC 3339 text drops the monotonic clock; compare to the second.
	if at.Before(after.Truncate(time.Second)) || at.After(before.Add(time.Second)) {
		t.Errorf("dead letter %s = %v, want between %v and %v", HeaderDeathTime, at, after, before)
	}
}

func TestMaxDeliveriesDeadLetters(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "work", WithMaxDeliveries(3), WithDeadLetter("dlq"), WithBackoff(0, 0))
	dlq := mustQueue(t, b, "dlq")
	body := &struct{ n int }{7}
	m := &Message{Body: body, Key: "k", Headers: Headers{"trace": "abc"}, CorrelationID: "corr"}
	if err := q.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for attempt := 1; attempt <= 3; attempt++ {
		d := receiveOrFail(t, q)
		wantBody(t, d, body, attempt)
		if attempt < 3 && dlq.Len() != 0 {
			t.Fatalf("dead-lettered after %d of 3 deliveries", attempt)
		}
		settleOrFail(t, d.Nack)
	}
	end := time.Now()
	wantStats(t, q, QueueStats{Published: 1, Delivered: 3, Nacked: 3, Rejected: 1, DeadLettered: 1})

	dead := receiveOrFail(t, dlq)
	wantDeath(t, dead, map[string]string{
		"trace":             "abc",
		HeaderDeathQueue:    "work",
		HeaderDeathReason:   ReasonDeliveryLimit,
		HeaderDeathAttempts: "3",
	}, start, end)
	if dead.ID != m.ID || dead.Body != body || dead.Key != "k" || dead.CorrelationID != "corr" {
		t.Fatalf("dead letter ID %q body %v key %q corr %q, want the original's", dead.ID, dead.Body, dead.Key, dead.CorrelationID)
	}
	if dead.Attempt != 1 {
		t.Fatalf("dead letter delivered as attempt %d, want 1 in its new queue", dead.Attempt)
	}
	// The original is shared read-only: herald must not have written to it.
	if dead.Message == m {
		t.Fatal("the dead letter is the original message, not a copy")
	}
	if !maps.Equal(m.Headers, Headers{"trace": "abc"}) {
		t.Fatalf("original message's headers changed to %v", m.Headers)
	}
	settleOrFail(t, dead.Ack)
	wantStats(t, dlq, QueueStats{Published: 1, Delivered: 1, Acked: 1})
}

func TestMaxDeliveriesOne(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithMaxDeliveries(1), WithDeadLetter("dlq"))
	dlq := mustQueue(t, b, "dlq")
	publishOrFail(t, q, "x")
	settleOrFail(t, receiveOrFail(t, q).Nack)
	wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Nacked: 1, Rejected: 1, DeadLettered: 1})
	dead := receiveOrFail(t, dlq)
	if dead.Headers[HeaderDeathAttempts] != "1" || dead.Headers[HeaderDeathReason] != ReasonDeliveryLimit {
		t.Fatalf("dead letter headers %v", dead.Headers)
	}
}

func TestDeadLetterHandlerErrorRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithMaxDeliveries(2), WithDeadLetter("dlq"))
		dlq := mustQueue(t, b, "dlq")
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(_ context.Context, d *Delivery) error {
			if d.Attempt == 1 {
				return errors.New("first failure")
			}
			return errors.New("second failure")
		})
		start := time.Now()
		publishOrFail(t, q, "x")
		dead := receiveOrFail(t, dlq)
		cancel()
		<-done
		wantDeath(t, dead, map[string]string{
			HeaderDeathQueue:    "q",
			HeaderDeathReason:   ReasonDeliveryLimit,
			HeaderDeathAttempts: "2",
			HeaderDeathError:    "second failure", // the error of the last attempt
		}, start, time.Now())
		wantStats(t, q, QueueStats{Published: 1, Delivered: 2, Nacked: 2, Rejected: 1, DeadLettered: 1})
	})
}

func TestRejectDeadLetters(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithMaxDeliveries(5), WithDeadLetter("dlq"), WithBackoff(0, 0))
	dlq := mustQueue(t, b, "dlq")
	m := publishOrFail(t, q, "x")
	settleOrFail(t, receiveOrFail(t, q).Nack)
	start := time.Now()
	d := receiveOrFail(t, q)
	wantBody(t, d, "x", 2)
	settleOrFail(t, d.Reject)
	wantStats(t, q, QueueStats{Published: 1, Delivered: 2, Nacked: 1, Rejected: 1, DeadLettered: 1})
	dead := receiveOrFail(t, dlq)
	if dead.ID != m.ID {
		t.Fatalf("dead letter ID %q, want %q", dead.ID, m.ID)
	}
	wantDeath(t, dead, map[string]string{
		HeaderDeathQueue:    "q",
		HeaderDeathReason:   ReasonRejected,
		HeaderDeathAttempts: "2",
	}, start, time.Now())
	if m.Headers != nil {
		t.Fatalf("original message got headers %v", m.Headers)
	}
}

func TestDyingWithoutDeadLetterIsCounted(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithMaxDeliveries(1))
	publishOrFail(t, q, "nacked")
	publishOrFail(t, q, "rejected")
	settleOrFail(t, receiveOrFail(t, q).Nack)
	settleOrFail(t, receiveOrFail(t, q).Reject)
	wantStats(t, q, QueueStats{Published: 2, Delivered: 2, Nacked: 1, Rejected: 2})
}

func TestDeadLetterToUndeclaredQueue(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithMaxDeliveries(1), WithDeadLetter("missing"))
	publishOrFail(t, q, "x")
	publishOrFail(t, q, "y")
	settleOrFail(t, receiveOrFail(t, q).Nack)
	settleOrFail(t, receiveOrFail(t, q).Reject)
	wantStats(t, q, QueueStats{Published: 2, Delivered: 2, Nacked: 1, Rejected: 2, DeadLetterFailed: 2})

	// Declared later, the destination is found: it is looked up at death.
	dlq := mustQueue(t, b, "missing")
	publishOrFail(t, q, "z")
	settleOrFail(t, receiveOrFail(t, q).Reject)
	wantStats(t, q, QueueStats{Published: 3, Delivered: 3, Nacked: 1, Rejected: 3, DeadLettered: 1, DeadLetterFailed: 2})
	wantBody(t, receiveOrFail(t, dlq), "z", 1)
}

func TestDeadLetterToFullQueueNeverBlocks(t *testing.T) {
	for _, overflow := range []Overflow{OverflowBlock, OverflowReject} {
		t.Run(overflow.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newTestBroker(t)
				q := mustQueue(t, b, "q", WithDeadLetter("dlq"))
				dlq := mustQueue(t, b, "dlq", WithCapacity(1), WithOverflow(overflow))
				publishOrFail(t, q, 1)
				publishOrFail(t, q, 2)
				settleOrFail(t, receiveOrFail(t, q).Reject)
				// dlq is full now; the next dead letter is lost, counted, and
				// Reject returns at once.
				settleOrFail(t, receiveOrFail(t, q).Reject)
				wantStats(t, q, QueueStats{Published: 2, Delivered: 2, Rejected: 2, DeadLettered: 1, DeadLetterFailed: 1})
				wantStats(t, dlq, QueueStats{Published: 1, Ready: 1})
				wantBody(t, receiveOrFail(t, dlq), 1, 1)
			})
		})
	}
}

func TestDeadLetterAcceptedWhileDraining(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithDeadLetter("dlq"))
		dlq := mustQueue(t, b, "dlq")
		publishOrFail(t, q, "x")
		// A consumer on dlq, so that Shutdown waits for it to drain (it
		// does not wait for a dead-letter queue nobody reads).
		var reason string
		consumed := consumeAsync(context.Background(), dlq, func(_ context.Context, d *Delivery) error {
			reason = d.Headers[HeaderDeathReason]
			return nil
		})
		shutdown := make(chan error, 1)
		go func() { shutdown <- b.Shutdown(context.Background()) }()
		synctest.Wait()
		settleOrFail(t, receiveOrFail(t, q).Reject)
		if err := <-shutdown; err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		if err := <-consumed; err != nil {
			t.Fatalf("Consume of dlq = %v", err)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Rejected: 1, DeadLettered: 1})
		wantStats(t, dlq, QueueStats{Published: 1, Delivered: 1, Acked: 1})
		if reason != ReasonRejected {
			t.Fatalf("dead letter reason %q", reason)
		}
	})
}

func TestDeadLetterChain(t *testing.T) {
	// A dead-letter queue may dead-letter in turn; the headers say where the
	// message died last.
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithDeadLetter("dlq1"))
	dlq1 := mustQueue(t, b, "dlq1", WithDeadLetter("dlq2"))
	dlq2 := mustQueue(t, b, "dlq2")
	m := publishOrFail(t, q, "x")
	settleOrFail(t, receiveOrFail(t, q).Reject)
	settleOrFail(t, receiveOrFail(t, dlq1).Reject)
	dead := receiveOrFail(t, dlq2)
	if dead.ID != m.ID || dead.Headers[HeaderDeathQueue] != "dlq1" || dead.Headers[HeaderDeathReason] != ReasonRejected {
		t.Fatalf("twice-dead letter ID %q headers %v", dead.ID, dead.Headers)
	}
}
