package herald

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// wantNothingReady fails the test unless a Receive on q finds no message
// within a short (fake) wait.
func wantNothingReady(t testing.TB, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if d, err := q.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Receive = %v (body %v), want nothing delivered", err, bodyOf(d))
	}
}

func TestQueueTTLExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithTTL(10*time.Second))
		publishOrFail(t, q, "old")
		time.Sleep(5 * time.Second)
		publishOrFail(t, q, "young")
		time.Sleep(5 * time.Second) // "old" is 10s old: expired; "young" 5s

		d := receiveOrFail(t, q)
		wantBody(t, d, "young", 1)
		settleOrFail(t, d.Ack)
		wantStats(t, q, QueueStats{Published: 2, Delivered: 1, Acked: 1, Expired: 1})
	})
}

func TestQueueTTLNotBeforeItsTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithTTL(10*time.Second))
		publishOrFail(t, q, "x")
		time.Sleep(10*time.Second - time.Nanosecond)
		d := receiveOrFail(t, q)
		wantBody(t, d, "x", 1)
		settleOrFail(t, d.Ack)
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Acked: 1})
	})
}

func TestExpiredMessageNeverDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithTTL(time.Second))
		for i := range 3 {
			publishOrFail(t, q, i)
		}
		time.Sleep(time.Second)
		wantNothingReady(t, q)
		wantStats(t, q, QueueStats{Published: 3, Expired: 3})

		// The same through Consume.
		publishOrFail(t, q, 3)
		time.Sleep(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := q.Consume(ctx, func(_ context.Context, d *Delivery) error {
			t.Errorf("expired message %v delivered", d.Body)
			return nil
		})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Consume = %v", err)
		}
		wantStats(t, q, QueueStats{Published: 4, Expired: 4})
	})
}

func TestMessageTTL(t *testing.T) {
	for _, tc := range []struct {
		name             string
		queueTTL, msgTTL time.Duration
		alive, expiredAt time.Duration // receivable at alive, gone at expiredAt
	}{
		{name: "message TTL only", msgTTL: 3 * time.Second, alive: 3*time.Second - 1, expiredAt: 3 * time.Second},
		{name: "message shorter than queue", queueTTL: 10 * time.Second, msgTTL: 2 * time.Second, alive: 2*time.Second - 1, expiredAt: 2 * time.Second},
		{name: "queue shorter than message", queueTTL: 2 * time.Second, msgTTL: 10 * time.Second, alive: 2*time.Second - 1, expiredAt: 2 * time.Second},
		{name: "equal", queueTTL: 4 * time.Second, msgTTL: 4 * time.Second, alive: 4*time.Second - 1, expiredAt: 4 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newTestBroker(t)
				var opts []QueueOption
				if tc.queueTTL > 0 {
					opts = append(opts, WithTTL(tc.queueTTL))
				}
				q := mustQueue(t, b, "q", opts...)
				start := time.Now()
				for _, body := range []string{"alive", "expired"} {
					m := NewMessage(body)
					m.TTL = tc.msgTTL
					if err := q.Publish(context.Background(), m); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(tc.alive - time.Since(start))
				d := receiveOrFail(t, q)
				wantBody(t, d, "alive", 1)
				settleOrFail(t, d.Ack)
				time.Sleep(tc.expiredAt - time.Since(start))
				wantNothingReady(t, q)
				wantStats(t, q, QueueStats{Published: 2, Delivered: 1, Acked: 1, Expired: 1})
			})
		})
	}
}

func TestExpiredDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithTTL(time.Second), WithDeadLetter("dlq"))
		dlq := mustQueue(t, b, "dlq")
		m := NewMessage("x")
		m.Headers = Headers{"h": "v"}
		if err := q.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		died := time.Now()
		wantNothingReady(t, q)
		wantStats(t, q, QueueStats{Published: 1, Expired: 1, DeadLettered: 1})

		dead := receiveOrFail(t, dlq)
		if dead.ID != m.ID || dead.Body != "x" {
			t.Fatalf("dead letter ID %q body %v", dead.ID, dead.Body)
		}
		wantDeath(t, dead, map[string]string{
			"h":                 "v",
			HeaderDeathQueue:    "q",
			HeaderDeathReason:   ReasonExpired,
			HeaderDeathAttempts: "0",
		}, died, died)
		if len(m.Headers) != 1 {
			t.Fatalf("original headers changed to %v", m.Headers)
		}
		if dead.TTL != 0 {
			t.Fatalf("dead letter TTL %v, want 0: it starts a new life", dead.TTL)
		}
	})
}

func TestMessageTTLDeadLetterDoesNotExpireAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithDeadLetter("dlq"))
		dlq := mustQueue(t, b, "dlq")
		m := NewMessage("x")
		m.TTL = time.Second
		if err := q.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		wantNothingReady(t, q)
		time.Sleep(time.Hour)
		dead := receiveOrFail(t, dlq)
		if dead.ID != m.ID || dead.Headers[HeaderDeathReason] != ReasonExpired {
			t.Fatalf("dead letter ID %q headers %v", dead.ID, dead.Headers)
		}
		if m.TTL != time.Second {
			t.Fatalf("original message's TTL changed to %v", m.TTL)
		}
		wantStats(t, dlq, QueueStats{Published: 1, Delivered: 1, Unacked: 1})
	})
}

func TestTTLCountsFromPublishAcrossRedelivery(t *testing.T) {
	// A nacked message keeps its expiry: it is not delivered after it.
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithTTL(5*time.Second), WithBackoff(10*time.Second, 10*time.Second), WithDeadLetter("dlq"))
		dlq := mustQueue(t, b, "dlq")
		publishOrFail(t, q, "x")
		settleOrFail(t, receiveOrFail(t, q).Nack)
		time.Sleep(10 * time.Second)
		wantNothingReady(t, q)
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Nacked: 1, Expired: 1, DeadLettered: 1})
		dead := receiveOrFail(t, dlq)
		if dead.Headers[HeaderDeathReason] != ReasonExpired || dead.Headers[HeaderDeathAttempts] != "1" {
			t.Fatalf("dead letter headers %v", dead.Headers)
		}
	})
}

// A delayed message whose TTL ends before its Delay expires on time, and
// gives its place back then, not when the Delay passes.
func TestDelayedMessageExpiresOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithCapacity(1), WithOverflow(OverflowReject), WithDeadLetter("dlq"))
		dlq := mustQueue(t, b, "dlq")
		start := time.Now()
		if err := q.Publish(context.Background(), &Message{Body: "x", TTL: 10 * time.Millisecond, Delay: time.Hour}); err != nil {
			t.Fatal(err)
		}
		d := receiveOrFail(t, dlq)
		if got := time.Since(start); got != 10*time.Millisecond {
			t.Fatalf("dead-lettered after %v, want at its TTL, 10ms", got)
		}
		if d.Headers[HeaderDeathReason] != ReasonExpired {
			t.Fatalf("dead letter headers %v", d.Headers)
		}
		wantStats(t, q, QueueStats{Published: 1, Expired: 1, DeadLettered: 1})
		publishOrFail(t, q, "next") // the place is free again
	})
}

// A nacked message whose TTL ends during its back-off expires then, not
// when the back-off ends.
func TestBackingOffMessageExpiresOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithTTL(time.Second), WithBackoff(time.Hour, time.Hour), WithDeadLetter("dlq"))
		dlq := mustQueue(t, b, "dlq")
		start := time.Now()
		publishOrFail(t, q, "x")
		settleOrFail(t, receiveOrFail(t, q).Nack)
		receiveOrFail(t, dlq)
		if got := time.Since(start); got != time.Second {
			t.Fatalf("dead-lettered after %v, want at its TTL, 1s", got)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Nacked: 1, Expired: 1, DeadLettered: 1})
	})
}
