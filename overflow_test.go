package herald

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// receiveBodies receives n messages from q, acks them and returns their bodies.
func receiveBodies(t testing.TB, q *Queue, n int) []any {
	t.Helper()
	var bodies []any
	for range n {
		d := receiveOrFail(t, q)
		bodies = append(bodies, d.Body)
		settleOrFail(t, d.Ack)
	}
	return bodies
}

func wantBodies(t testing.TB, got []any, want ...any) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got bodies %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got bodies %v, want %v", got, want)
		}
	}
}

func TestOverflowString(t *testing.T) {
	for p, want := range map[Overflow]string{
		OverflowBlock: "block", OverflowReject: "reject",
		OverflowDropOldest: "drop-oldest", OverflowDropNewest: "drop-newest",
		Overflow(9): "Overflow(9)",
	} {
		if p.String() != want {
			t.Errorf("%d.String() = %q, want %q", uint8(p), p.String(), want)
		}
	}
}

func TestOverflowReject(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(2), WithOverflow(OverflowReject))
	publishOrFail(t, q, 1)
	publishOrFail(t, q, 2)
	before := q.Stats()
	for _, publish := range []func(*Message) error{
		func(m *Message) error { return q.Publish(context.Background(), m) },
		func(m *Message) error { return b.Publish(context.Background(), "q", m) },
	} {
		if err := publish(NewMessage(3)); !errors.Is(err, ErrFull) {
			t.Fatalf("Publish to a full queue = %v, want ErrFull", err)
		}
	}
	wantStats(t, q, before)
	wantStats(t, q, QueueStats{Published: 2, Ready: 2})
	wantBodies(t, receiveBodies(t, q, 2), 1, 2)
	publishOrFail(t, q, 4) // room again
	wantBodies(t, receiveBodies(t, q, 1), 4)
}

func TestOverflowDropNewest(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(2), WithOverflow(OverflowDropNewest))
	publishOrFail(t, q, 1)
	publishOrFail(t, q, 2)
	publishOrFail(t, q, 3) // returns nil, but is dropped
	publishOrFail(t, q, 4)
	wantStats(t, q, QueueStats{Published: 4, Dropped: 2, Ready: 2})
	wantBodies(t, receiveBodies(t, q, 2), 1, 2)
	wantStats(t, q, QueueStats{Published: 4, Delivered: 2, Acked: 2, Dropped: 2})
}

func TestOverflowDropNewestDeadLetters(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(1), WithOverflow(OverflowDropNewest), WithDeadLetter("dlq"))
	dlq := mustQueue(t, b, "dlq")
	publishOrFail(t, q, 1)
	dropped := publishOrFail(t, q, 2)
	wantStats(t, q, QueueStats{Published: 2, Dropped: 1, DeadLettered: 1, Ready: 1})
	dead := receiveOrFail(t, dlq)
	if dead.ID != dropped.ID || dead.Body != 2 {
		t.Fatalf("dead letter ID %q body %v, want the dropped message %q 2", dead.ID, dead.Body, dropped.ID)
	}
	for k, want := range map[string]string{
		HeaderDeathQueue: "q", HeaderDeathReason: ReasonMaxLen, HeaderDeathAttempts: "0",
	} {
		if got := dead.Headers[k]; got != want {
			t.Errorf("dead letter %s = %q, want %q", k, got, want)
		}
	}
	if _, ok := dead.Headers[HeaderDeathError]; ok {
		t.Errorf("dead letter of an overflow has %s = %q", HeaderDeathError, dead.Headers[HeaderDeathError])
	}
	wantBodies(t, receiveBodies(t, q, 1), 1)
}

func TestOverflowDropOldest(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(3), WithOverflow(OverflowDropOldest))
	for i := 1; i <= 5; i++ {
		publishOrFail(t, q, i)
	}
	wantStats(t, q, QueueStats{Published: 5, Dropped: 2, Ready: 3})
	wantBodies(t, receiveBodies(t, q, 3), 3, 4, 5)
}

func TestOverflowDropOldestDeadLetters(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(2), WithOverflow(OverflowDropOldest), WithDeadLetter("dlq"))
	dlq := mustQueue(t, b, "dlq")
	first := publishOrFail(t, q, 1)
	publishOrFail(t, q, 2)
	publishOrFail(t, q, 3)
	wantStats(t, q, QueueStats{Published: 3, Dropped: 1, DeadLettered: 1, Ready: 2})
	dead := receiveOrFail(t, dlq)
	if dead.ID != first.ID || dead.Headers[HeaderDeathReason] != ReasonMaxLen || dead.Headers[HeaderDeathQueue] != "q" {
		t.Fatalf("dead letter ID %q headers %v, want the oldest %q dropped for maxlen", dead.ID, dead.Headers, first.ID)
	}
	wantBodies(t, receiveBodies(t, q, 2), 2, 3)
}

func TestOverflowDropOldestKeepsRedeliveredOrder(t *testing.T) {
	// The oldest ready message is dropped even when it is a redelivery.
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(2), WithOverflow(OverflowDropOldest), WithBackoff(0, 0))
	publishOrFail(t, q, 1)
	publishOrFail(t, q, 2)
	settleOrFail(t, receiveOrFail(t, q).Nack) // ready: 2, 1
	publishOrFail(t, q, 3)                    // drops 2
	wantStats(t, q, QueueStats{Published: 3, Delivered: 1, Nacked: 1, Dropped: 1, Ready: 2})
	d := receiveOrFail(t, q)
	wantBody(t, d, 1, 2)
	settleOrFail(t, d.Ack)
	wantBodies(t, receiveBodies(t, q, 1), 3)
}

func TestOverflowBlockWaitsForConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithCapacity(2)) // OverflowBlock is the default
		publishOrFail(t, q, 1)
		publishOrFail(t, q, 2)
		published := make(chan error, 1)
		go func() { published <- q.Publish(context.Background(), NewMessage(3)) }()
		synctest.Wait()
		if len(published) != 0 {
			t.Fatalf("Publish to a full queue returned %v, want it to block", <-published)
		}
		wantStats(t, q, QueueStats{Published: 2, Ready: 2})

		d := receiveOrFail(t, q) // makes room
		if err := <-published; err != nil {
			t.Fatalf("blocked Publish = %v, want nil once there is room", err)
		}
		wantStats(t, q, QueueStats{Published: 3, Delivered: 1, Ready: 2, Unacked: 1})
		settleOrFail(t, d.Ack)
		wantBodies(t, receiveBodies(t, q, 2), 2, 3)
	})
}

// A blocked publisher waits for room, not for more room than it needs: one
// Receive from a full queue of any capacity lets it through.
func TestOverflowBlockWakesOnFirstFreeSlot(t *testing.T) {
	for _, capacity := range []int{1, 2, 3, 4, 8, 100} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newTestBroker(t)
				q := mustQueue(t, b, "q", WithCapacity(capacity))
				for i := range capacity {
					publishOrFail(t, q, i)
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				published := make(chan error, 1)
				go func() { published <- q.Publish(ctx, NewMessage(capacity)) }()
				synctest.Wait()
				if len(published) != 0 {
					t.Fatalf("Publish to a full queue returned %v, want it to block", <-published)
				}
				d := receiveOrFail(t, q)
				if err := <-published; err != nil {
					t.Fatalf("blocked Publish after one Receive freed a slot = %v, want nil", err)
				}
				settleOrFail(t, d.Ack)
				wantStats(t, q, QueueStats{Published: uint64(capacity + 1), Delivered: 1, Acked: 1, Ready: capacity})
			})
		})
	}
}

func TestOverflowBlockManyProducersInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithCapacity(1))
		publishOrFail(t, q, 0)
		published := make(chan error, 3)
		for i := 1; i <= 3; i++ {
			go func() { published <- q.Publish(context.Background(), NewMessage(i)) }()
			synctest.Wait() // park them in order 1, 2, 3
		}
		if len(published) != 0 {
			t.Fatal("a Publish to a full queue returned")
		}
		for want := range 4 {
			d := receiveOrFail(t, q)
			wantBody(t, d, want, 1)
			settleOrFail(t, d.Ack)
			synctest.Wait()
			if want < 3 && len(published) != want+1 {
				t.Fatalf("after %d receives %d blocked publishes returned, want %d", want+1, len(published), want+1)
			}
		}
		for range 3 {
			if err := <-published; err != nil {
				t.Fatal(err)
			}
		}
		wantStats(t, q, QueueStats{Published: 4, Delivered: 4, Acked: 4})
	})
}

func TestOverflowBlockHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithCapacity(1))
		publishOrFail(t, q, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		if err := q.Publish(ctx, NewMessage(2)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("blocked Publish = %v, want DeadlineExceeded", err)
		}
		if got := time.Since(start); got != 3*time.Second {
			t.Fatalf("blocked Publish returned after %v, want 3s", got)
		}
		ctx2, cancel2 := context.WithCancel(context.Background())
		cancel2()
		if err := b.Publish(ctx2, "q", NewMessage(3)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Publish with a cancelled ctx to a full queue = %v, want context.Canceled", err)
		}
		wantStats(t, q, QueueStats{Published: 1, Ready: 1})
		// The abandoned publishers left nothing behind: a new one gets the room.
		d := receiveOrFail(t, q)
		settleOrFail(t, d.Ack)
		publishOrFail(t, q, 4)
		wantBodies(t, receiveBodies(t, q, 1), 4)
	})
}

func TestOverflowBlockReturnsErrClosedOnClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithCapacity(1))
		publishOrFail(t, q, 1)
		published := make(chan error, 2)
		for range 2 {
			go func() { published <- q.Publish(context.Background(), NewMessage(2)) }()
		}
		synctest.Wait()
		b.Close()
		for range 2 {
			if err := <-published; !errors.Is(err, ErrClosed) {
				t.Fatalf("Publish blocked at Close = %v, want ErrClosed", err)
			}
		}
		wantStats(t, q, QueueStats{Published: 1, Ready: 1})
	})
}

func TestOverflowBlockReturnsErrClosedOnShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithCapacity(1))
		publishOrFail(t, q, 1)
		published := make(chan error, 1)
		go func() { published <- q.Publish(context.Background(), NewMessage(2)) }()
		synctest.Wait()
		shutdown := make(chan error, 1)
		go func() { shutdown <- b.Shutdown(context.Background()) }()
		if err := <-published; !errors.Is(err, ErrClosed) {
			t.Fatalf("Publish blocked when Shutdown began = %v, want ErrClosed", err)
		}
		settleOrFail(t, receiveOrFail(t, q).Ack)
		if err := <-shutdown; err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Acked: 1})
	})
}

func TestCapacityCountsOnlyReady(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(2), WithOverflow(OverflowReject), WithBackoff(0, 0))
	publishOrFail(t, q, 1)
	publishOrFail(t, q, 2)
	d1 := receiveOrFail(t, q)
	d2 := receiveOrFail(t, q)
	// Two unacked, none ready: there is room for two more.
	publishOrFail(t, q, 3)
	publishOrFail(t, q, 4)
	if err := q.Publish(context.Background(), NewMessage(5)); !errors.Is(err, ErrFull) {
		t.Fatalf("Publish with 2 ready = %v, want ErrFull", err)
	}
	// A nack always requeues, even past the capacity.
	settleOrFail(t, d1.Nack)
	settleOrFail(t, d2.Nack)
	wantStats(t, q, QueueStats{Published: 4, Delivered: 2, Nacked: 2, Ready: 4})
	if q.Len() != 4 {
		t.Fatalf("Len = %d, want 4", q.Len())
	}
	if err := q.Publish(context.Background(), NewMessage(6)); !errors.Is(err, ErrFull) {
		t.Fatalf("Publish over capacity = %v, want ErrFull", err)
	}
	wantBodies(t, receiveBodies(t, q, 4), 3, 4, 1, 2)
}

func TestNackRequeuesIntoFullBlockingQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithCapacity(1), WithBackoff(time.Second, time.Second))
		publishOrFail(t, q, 1)
		d := receiveOrFail(t, q)
		publishOrFail(t, q, 2)
		settleOrFail(t, d.Nack) // the queue is full, the nack still succeeds
		time.Sleep(time.Second)
		synctest.Wait()
		wantStats(t, q, QueueStats{Published: 2, Delivered: 1, Nacked: 1, Ready: 2})
		// A blocked publisher waits until the queue is below capacity again.
		published := make(chan error, 1)
		go func() { published <- q.Publish(context.Background(), NewMessage(3)) }()
		synctest.Wait()
		settleOrFail(t, receiveOrFail(t, q).Ack) // 2
		synctest.Wait()
		if len(published) != 0 {
			t.Fatal("Publish went through with the queue at capacity")
		}
		d = receiveOrFail(t, q) // 1
		wantBody(t, d, 1, 2)
		settleOrFail(t, d.Ack)
		if err := <-published; err != nil {
			t.Fatal(err)
		}
		wantBodies(t, receiveBodies(t, q, 1), 3)
	})
}

// A blocked publisher waits for room. When the message filling the queue
// expires, the expiry sweep frees that room with no consumer involved: the
// publisher must be woken, or it waits for ever on a queue with room.
func TestBlockedPublishWakesWhenExpiredMessagesFreeRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithCapacity(1), WithTTL(time.Second))
		publishOrFail(t, q, "old")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		published := make(chan error, 1)
		go func() { published <- q.Publish(ctx, &Message{Body: "new", TTL: time.Hour}) }()
		synctest.Wait()
		if len(published) != 0 {
			t.Fatalf("Publish returned %v, want it blocked behind \"old\"", <-published)
		}
		time.Sleep(time.Second + expirySweepGap) // "old" expires and is swept
		synctest.Wait()
		if len(published) != 1 {
			t.Fatal("Publish still blocked after the message in its way expired")
		}
		d, err := q.Receive(ctx)
		if err != nil {
			t.Fatalf("Receive = %v, want the blocked publisher's message", err)
		}
		wantBody(t, d, "new", 1)
		settleOrFail(t, d.Ack)
		if err := <-published; err != nil {
			t.Fatalf("blocked Publish = %v", err)
		}
		wantStats(t, q, QueueStats{Published: 2, Delivered: 1, Acked: 1, Expired: 1})
	})
}
