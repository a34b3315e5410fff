package herald

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

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
