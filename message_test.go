package herald

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"
)

// Unlike RabbitMQ, an expired message does not wait behind a long-lived one
// at the head: the expiry sweep ends it within expirySweepGap, consumer or
// not, and dead-letters it.
func TestExpiryBehindLongLivedHead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithDeadLetter("dead"))
		dead := mustQueue(t, b, "dead")
		ctx := context.Background()
		if err := q.Publish(ctx, &Message{Body: "head", TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if err := q.Publish(ctx, &Message{Body: "short", TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		d := receiveOrFail(t, dead) // no consumer on q: only the sweep can do it
		if waited := time.Since(start); waited < time.Second || waited > time.Second+expirySweepGap {
			t.Fatalf("dead-lettered after %v, want within %v of the 1s TTL", waited, expirySweepGap)
		}
		if d.Body != "short" || d.Headers[HeaderDeathReason] != ReasonExpired {
			t.Fatalf("dead letter %v reason %q", d.Body, d.Headers[HeaderDeathReason])
		}
		synctest.Wait() // the dead letter is counted just after it lands
		wantStats(t, q, QueueStats{Published: 2, Expired: 1, DeadLettered: 1, Ready: 1})
	})
}

func TestShorterOfQueueAndMessageTTLWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithTTL(10*time.Second))
		ctx := context.Background()
		q.Publish(ctx, &Message{Body: "msg-short", TTL: 2 * time.Second})
		q.Publish(ctx, &Message{Body: "msg-long", TTL: time.Minute}) // the queue's 10s wins
		q.Publish(ctx, &Message{Body: "queue"})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if s := q.Stats(); s.Expired != 1 || s.Ready != 2 {
			t.Fatalf("after 5s: %+v, want 1 expired, 2 ready", s)
		}
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if s := q.Stats(); s.Expired != 3 || s.Ready != 0 {
			t.Fatalf("after 11s: %+v, want all 3 expired", s)
		}
	})
}

func TestDelayedDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		ctx := context.Background()
		start := time.Now()
		q.Publish(ctx, &Message{Body: "later", Delay: 3 * time.Second})
		q.Publish(ctx, &Message{Body: "sooner", Delay: time.Second}) // published later, due first
		q.Publish(ctx, &Message{Body: "now"})
		if s := q.Stats(); s.Scheduled != 2 || s.Ready != 1 || s.Published != 3 {
			t.Fatalf("stats %+v, want 2 scheduled, 1 ready", s)
		}
		for _, want := range []struct {
			body string
			at   time.Duration
		}{{"now", 0}, {"sooner", time.Second}, {"later", 3 * time.Second}} {
			d := receiveOrFail(t, q)
			if d.Body != want.body || time.Since(start) != want.at {
				t.Fatalf("got %v at %v, want %v at %v", d.Body, time.Since(start), want.body, want.at)
			}
			d.Ack()
		}
	})
}

func TestDelayedMessageExpiresIfTTLShorterThanDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithDeadLetter("dead"))
		dead := mustQueue(t, b, "dead")
		q.Publish(context.Background(), &Message{Body: "x", Delay: 2 * time.Second, TTL: time.Second})
		d := receiveOrFail(t, dead)
		if d.Headers[HeaderDeathReason] != ReasonExpired {
			t.Fatalf("reason %q, want expired", d.Headers[HeaderDeathReason])
		}
		synctest.Wait() // the dead letter is counted just after it lands
		wantStats(t, q, QueueStats{Published: 1, Expired: 1, DeadLettered: 1})
	})
}

// Delayed messages hold their place in the capacity, so a burst of them
// cannot overflow the queue when they come due.
func TestDelayedMessagesCountAgainstCapacity(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(2), WithOverflow(OverflowReject))
	ctx := context.Background()
	q.Publish(ctx, &Message{Body: 1, Delay: time.Hour})
	q.Publish(ctx, &Message{Body: 2})
	if err := q.Publish(ctx, &Message{Body: 3}); !errors.Is(err, ErrFull) {
		t.Fatalf("third publish = %v, want ErrFull", err)
	}
}

func TestTopicRefusesDelayedMessages(t *testing.T) {
	b := newTestBroker(t)
	tp, _ := b.Topic("t")
	if err := tp.Publish(context.Background(), &Message{Delay: time.Second}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Publish with Delay = %v, want ErrInvalid", err)
	}
}

func TestPrioritiesHigherFirstFIFOWithinLevel(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithPriorities(3))
	ctx := context.Background()
	for i, p := range []uint8{0, 2, 1, 2, 0, 9, 1} { // 9 counts as the top level, 2
		q.Publish(ctx, &Message{Body: fmt.Sprintf("p%d-%d", p, i), Priority: p})
	}
	want := []string{"p2-1", "p2-3", "p9-5", "p1-2", "p1-6", "p0-0", "p0-4"}
	for _, w := range want {
		d := receiveOrFail(t, q)
		if d.Body != w {
			t.Fatalf("got %v, want %v (order %v)", d.Body, w, want)
		}
		d.Ack()
	}
}

func TestPriorityIgnoredWithoutOption(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	ctx := context.Background()
	q.Publish(ctx, &Message{Body: "low", Priority: 0})
	q.Publish(ctx, &Message{Body: "high", Priority: 9})
	wantBody(t, receiveOrFail(t, q), "low", 1)
}

func TestPriorityDropOldestDropsLeastImportant(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithPriorities(2), WithCapacity(2), WithOverflow(OverflowDropOldest))
	ctx := context.Background()
	q.Publish(ctx, &Message{Body: "high", Priority: 1})
	q.Publish(ctx, &Message{Body: "low", Priority: 0})
	q.Publish(ctx, &Message{Body: "high2", Priority: 1}) // drops "low"
	wantBody(t, receiveOrFail(t, q), "high", 1)
	wantBody(t, receiveOrFail(t, q), "high2", 1)
	if s := q.Stats(); s.Dropped != 1 {
		t.Fatalf("dropped %d, want 1", s.Dropped)
	}
}

func TestDedupWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithDedup(time.Minute))
		tp, err := b.Topic("t", WithDedup(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for _, pub := range []func(*Message) error{
			func(m *Message) error { return q.Publish(ctx, m) },
			func(m *Message) error { return tp.Publish(ctx, m) },
		} {
			if err := pub(&Message{ID: "order-1"}); err != nil {
				t.Fatal(err)
			}
			if err := pub(&Message{ID: "order-1"}); !errors.Is(err, ErrDuplicate) {
				t.Fatalf("duplicate within window = %v, want ErrDuplicate", err)
			}
			if err := pub(&Message{}); err != nil { // fresh IDs never collide
				t.Fatal(err)
			}
		}
		time.Sleep(time.Minute + time.Second)
		if err := q.Publish(ctx, &Message{ID: "order-1"}); err != nil {
			t.Fatalf("same ID after the window = %v, want accepted", err)
		}
		if s := q.Stats(); s.Published != 3 || s.Duplicates != 1 {
			t.Fatalf("queue stats %+v", s)
		}
		if s := tp.Stats(); s.Published != 2 || s.Duplicates != 1 {
			t.Fatalf("topic stats %+v", s)
		}
	})
}

// A publish that fails does not use up its ID: retrying it is not a
// duplicate.
func TestDedupRemembersOnlyAccepted(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithDedup(time.Minute), WithCapacity(1), WithOverflow(OverflowReject))
	ctx := context.Background()
	q.Publish(ctx, &Message{ID: "a"})
	if err := q.Publish(ctx, &Message{ID: "b"}); !errors.Is(err, ErrFull) {
		t.Fatalf("= %v, want ErrFull", err)
	}
	receiveOrFail(t, q).Ack()
	if err := q.Publish(ctx, &Message{ID: "b"}); err != nil {
		t.Fatalf("retry of a refused publish = %v, want accepted", err)
	}
}

func TestDedupMemoryBounded(t *testing.T) {
	w := newDedupWindow(int64(time.Hour))
	for i := range MaxDedupIDs + 10 {
		w.add(fmt.Sprint(i), 0)
	}
	if len(w.seen) != MaxDedupIDs || w.order.Len() != MaxDedupIDs {
		t.Fatalf("remembers %d IDs, want at most %d", len(w.seen), MaxDedupIDs)
	}
	if w.contains("0", 0) || !w.contains(fmt.Sprint(MaxDedupIDs+9), 0) {
		t.Fatal("the oldest IDs should be forgotten first")
	}
}

// Receive allocates one Delivery per message, and nothing else: keep it in
// the 128-byte size class.
func TestReceiveAllocatesOneSmallDelivery(t *testing.T) {
	if size := unsafe.Sizeof(Delivery{}); size > 128 {
		t.Errorf("a Delivery takes %d bytes, want at most 128", size)
	}
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	ctx := context.Background()
	m := &Message{ID: "x", Time: time.Unix(1, 0), Body: benchBody}
	n := testing.AllocsPerRun(200, func() {
		if err := q.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		d, err := q.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d.Ack()
	})
	if n != 1 {
		t.Errorf("%.2f allocations per Receive, want 1 (the Delivery)", n)
	}
}
