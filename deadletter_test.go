package herald

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"strings"
	"sync"
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

func TestDeadLetterKeyKeptOrReplaced(t *testing.T) {
	b := newTestBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keep := mustQueue(t, b, "keep", WithDeadLetter("dead.keep"))
	replace := mustQueue(t, b, "replace", WithDeadLetter("dead.replace"), WithDeadLetterKey("failed.replace"))
	// Same options again: the key option must not make a redeclare differ.
	if again, err := b.Queue("replace", WithDeadLetter("dead.replace"), WithDeadLetterKey("failed.replace")); err != nil || again != replace {
		t.Fatalf("redeclare: %v, %v", again, err)
	}
	deadKeep := mustQueue(t, b, "dead.keep")
	deadReplace := mustQueue(t, b, "dead.replace")
	for _, q := range []*Queue{keep, replace} {
		if err := q.Publish(ctx, &Message{Key: "order.created", Body: q.Name()}); err != nil {
			t.Fatal(err)
		}
		d, err := q.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d.Reject()
	}
	for _, c := range []struct {
		q   *Queue
		key string
	}{{deadKeep, "order.created"}, {deadReplace, "failed.replace"}} {
		d, err := c.q.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Key != c.key {
			t.Errorf("%s: dead letter key %q, want %q", c.q.Name(), d.Key, c.key)
		}
	}
}

// logBuffer collects a broker's log lines, from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// wantCycleLogged fails the test unless logs has n lines about dead
// letters dropped to break a cycle.
func wantCycleLogged(t *testing.T, logs *logBuffer, n int) {
	t.Helper()
	if got := strings.Count(logs.String(), "msg=\"dead letter dropped: it would cycle"); got != n {
		t.Errorf("%d log lines about a cycle, want %d; logs:\n%s", got, n, logs)
	}
}

// Two full queues that drop and dead-letter to each other: each drop
// published its dead letter into the other, which dropped it, and so on
// until the stack overflowed. A dead letter bound for a queue it already
// died in is dropped, counted and logged, as RabbitMQ does.
func TestDeadLetterOverflowCycleIsCut(t *testing.T) {
	for _, overflow := range []Overflow{OverflowDropNewest, OverflowDropOldest} {
		t.Run(overflow.String(), func(t *testing.T) {
			logs := new(logBuffer)
			b := newTestBroker(t, WithLogger(logs.logger()))
			qa := mustQueue(t, b, "a", WithCapacity(1), WithOverflow(overflow), WithDeadLetter("b"))
			qb := mustQueue(t, b, "b", WithCapacity(1), WithOverflow(overflow), WithDeadLetter("a"))
			publishOrFail(t, qa, "a1")
			publishOrFail(t, qb, "b1")
			publishOrFail(t, qa, "a2")
			// drop-newest: a2 dies in a, goes to b, dies there, would go
			// back to a. drop-oldest: a1 dies in a to make room for a2 and
			// goes to b, where b1 dies for it; b1 goes to a, whose room a2
			// holds, dies there and would go back to b.
			sa, sb := qa.Stats(), qb.Stats()
			if unaccounted(sa) != 0 || unaccounted(sb) != 0 {
				t.Errorf("unbalanced: a %+v, b %+v", sa, sb)
			}
			if n := sa.DeadLetterFailed + sb.DeadLetterFailed; n != 1 {
				t.Errorf("%d dead letters dropped for a cycle, want 1: a %+v, b %+v", n, sa, sb)
			}
			if sa.Ready != 1 || sb.Ready != 1 {
				t.Errorf("want one message left in each: a %+v, b %+v", sa, sb)
			}
			wantCycleLogged(t, logs, 1)
		})
	}
}

// A queue that drops the oldest and whose dead-letter exchange routes back
// to it: the dropped message would come back to where it died.
func TestDeadLetterExchangeBackToItselfIsCut(t *testing.T) {
	logs := new(logBuffer)
	b := newTestBroker(t, WithLogger(logs.logger()))
	q := mustQueue(t, b, "q", WithCapacity(1), WithOverflow(OverflowDropOldest), WithDeadLetter("dlx"))
	x, err := b.Exchange("dlx", FanoutExchange)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Bind("q", ""); err != nil {
		t.Fatal(err)
	}
	publishOrFail(t, q, 1)
	publishOrFail(t, q, 2)
	wantStats(t, q, QueueStats{Published: 2, Dropped: 1, DeadLetterFailed: 1, Ready: 1})
	wantBody(t, receiveOrFail(t, q), 2, 1)
	wantCycleLogged(t, logs, 1)
}

// Two queues whose messages expire into each other, with no consumer: the
// message bounced between them forever and WaitIdle never returned.
func TestDeadLetterTTLCycleEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		logs := new(logBuffer)
		b := newTestBroker(t, WithLogger(logs.logger()))
		qa := mustQueue(t, b, "a", WithTTL(time.Second), WithDeadLetter("b"))
		qb := mustQueue(t, b, "b", WithTTL(time.Second), WithDeadLetter("a"))
		publishOrFail(t, qa, "x")
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if err := b.WaitIdle(ctx); err != nil {
			t.Fatalf("WaitIdle = %v", err)
		}
		wantStats(t, qa, QueueStats{Published: 1, Expired: 1, DeadLettered: 1})
		wantStats(t, qb, QueueStats{Published: 1, Expired: 1, DeadLetterFailed: 1})
		wantCycleLogged(t, logs, 1)
	})
}

// The retry pattern of RabbitMQ: a work queue dead-letters what its
// consumer rejects to a retry queue, whose TTL dead-letters it back. A
// consumer's rejection is a decision, not a loop, so the message may come
// back as often as the consumer rejects it.
func TestDeadLetterRetryLoopThroughConsumerIsAllowed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		work := mustQueue(t, b, "work", WithDeadLetter("work.retry"))
		retry := mustQueue(t, b, "work.retry", WithTTL(time.Second), WithDeadLetter("work"))
		publishOrFail(t, work, "job")
		for range 3 {
			settleOrFail(t, receiveOrFail(t, work).Reject)
		}
		d := receiveOrFail(t, work)
		settleOrFail(t, d.Ack)
		if d.Headers[HeaderDeathQueue] != "work.retry" || d.Headers[HeaderDeathReason] != ReasonExpired {
			t.Errorf("headers %v", d.Headers)
		}
		wantStats(t, work, QueueStats{Published: 4, Delivered: 4, Rejected: 3, Acked: 1, DeadLettered: 3})
		wantStats(t, retry, QueueStats{Published: 3, Expired: 3, DeadLettered: 3})
	})
}

// A dead letter that makes another message die, whose dead letter makes
// another die, and so on along a chain of full queues, is published one
// after the other: the stack does not grow with the chain.
func TestDeadLetterChainDoesNotRecurse(t *testing.T) {
	const n = 200
	b := newTestBroker(t)
	depth := 0
	for i := range n {
		opts := []QueueOption{WithCapacity(1), WithOverflow(OverflowDropNewest)}
		if i < n-1 {
			opts = append(opts, WithDeadLetter(fmt.Sprint("q", i+1)))
		} else {
			opts = append(opts, WithTransform(func(m *Message) (*Message, error) {
				depth = runtime.Callers(0, make([]uintptr, 100*n))
				return m, nil
			}))
		}
		q := mustQueue(t, b, fmt.Sprint("q", i), opts...)
		if i < n-1 {
			publishOrFail(t, q, "full")
		}
	}
	q0, _ := b.LookupQueue("q0")
	publishOrFail(t, q0, "over")
	if depth == 0 {
		t.Fatal("the dead letter did not reach the end of the chain")
	}
	if depth > 100 {
		t.Errorf("the end of a chain of %d dead letters ran %d frames deep", n, depth)
	}
}

// A dead-letter queue's transform runs on the scheduler's goroutine when a
// TTL expiry dead-letters; Close from there waited for that goroutine,
// itself, forever.
func TestCloseFromTransformOnScheduler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		closed := make(chan error, 1)
		mustQueue(t, b, "dlq", WithTransform(func(m *Message) (*Message, error) {
			closed <- b.Close()
			return m, nil
		}))
		q := mustQueue(t, b, "q", WithTTL(time.Second), WithDeadLetter("dlq"))
		publishOrFail(t, q, "x")
		select {
		case err := <-closed:
			if err != nil {
				t.Fatalf("Close = %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("Close from a transform on the scheduler's goroutine did not return")
		}
		if err := q.Publish(context.Background(), NewMessage("late")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Publish after Close = %v", err)
		}
		// The dead letter reached a closed queue: counted, not lost, once
		// the scheduler's goroutine has finished with it.
		synctest.Wait()
		wantStats(t, q, QueueStats{Published: 1, Expired: 1, DeadLetterFailed: 1})
	})
}
