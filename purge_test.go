package herald

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestPurgeEndsReadyMessages(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithDeadLetter("dead"))
	dq := mustQueue(t, b, "dead")
	for i := range 5 {
		publishOrFail(t, q, i)
	}
	d := receiveOrFail(t, q) // 0 is unacked: not ready, not purged
	if n := q.Purge(); n != 4 {
		t.Fatalf("Purge = %d, want 4", n)
	}
	wantStats(t, q, QueueStats{Published: 5, Delivered: 1, Purged: 4, Unacked: 1})
	wantStats(t, dq, QueueStats{}) // purged messages are not dead letters
	if n := q.Purge(); n != 0 {
		t.Fatalf("Purge of an empty queue = %d, want 0", n)
	}
	settleOrFail(t, d.Ack)
	s := q.Stats()
	if ends := s.Acked + s.Rejected + s.Expired + s.Dropped + s.Purged; ends != s.Published {
		t.Fatalf("ends %d != published %d: %+v", ends, s.Published, s)
	}
	// The queue carries on.
	publishOrFail(t, q, "after")
	d = receiveOrFail(t, q)
	wantBody(t, d, "after", 1)
	settleOrFail(t, d.Ack)
}

func TestPurgeLeavesDelayedAndScheduled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(time.Second, time.Second))
		ctx := context.Background()
		if err := q.Publish(ctx, &Message{Body: "later", Delay: time.Minute}); err != nil {
			t.Fatal(err)
		}
		publishOrFail(t, q, "nacked")
		publishOrFail(t, q, "ready")
		d := receiveOrFail(t, q)
		settleOrFail(t, d.Nack) // backing off for a second
		if n := q.Purge(); n != 1 {
			t.Fatalf("Purge = %d, want 1", n)
		}
		wantStats(t, q, QueueStats{Published: 3, Delivered: 1, Nacked: 1, Purged: 1, Delayed: 1, Scheduled: 1})
		d = receiveOrFail(t, q)
		wantBody(t, d, "nacked", 2)
		settleOrFail(t, d.Ack)
		time.Sleep(time.Minute)
		d = receiveOrFail(t, q)
		wantBody(t, d, "later", 1)
		settleOrFail(t, d.Ack)
	})
}

func TestPurgeWakesBlockedPublishers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithCapacity(2))
		publishOrFail(t, q, 0)
		publishOrFail(t, q, 1)
		errs := make(chan error, 2)
		for i := range 2 {
			go func() { errs <- q.Publish(context.Background(), NewMessage(2+i)) }()
		}
		synctest.Wait() // both publishers are parked
		if n := q.Purge(); n != 2 {
			t.Fatalf("Purge = %d, want 2", n)
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("blocked Publish after Purge: %v", err)
			}
		}
		wantStats(t, q, QueueStats{Published: 4, Purged: 2, Ready: 2})
	})
}

func TestPurgeWithPriorities(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithPriorities(4), WithCapacity(3), WithOverflow(OverflowReject))
	for p := range uint8(3) {
		if err := q.Publish(context.Background(), &Message{Body: p, Priority: p}); err != nil {
			t.Fatal(err)
		}
	}
	if n := q.Purge(); n != 3 {
		t.Fatalf("Purge = %d, want 3", n)
	}
	// The places are free again.
	for p := range uint8(3) {
		if err := q.Publish(context.Background(), &Message{Body: p, Priority: p}); err != nil {
			t.Fatalf("Publish after Purge: %v", err)
		}
	}
	if err := q.Publish(context.Background(), NewMessage("one too many")); !errors.Is(err, ErrFull) {
		t.Fatalf("Publish past the capacity = %v, want ErrFull", err)
	}
}

func TestPurgeEndsWaitIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		publishOrFail(t, q, "nobody takes this")
		idle := make(chan error, 1)
		go func() { idle <- b.WaitIdle(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-idle:
			t.Fatalf("WaitIdle returned %v with a message ready", err)
		default:
		}
		q.Purge()
		if err := <-idle; err != nil {
			t.Fatalf("WaitIdle after Purge: %v", err)
		}
	})
}

func TestPurgeLetsShutdownFinish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		publishOrFail(t, q, "nobody takes this")
		done := make(chan error, 1)
		go func() { done <- b.Shutdown(context.Background()) }()
		synctest.Wait()
		q.Purge()
		if err := <-done; err != nil {
			t.Fatalf("Shutdown after Purge: %v", err)
		}
	})
}

// TestStressNoLossPurge: TestStressNoLossBlock with the queue purged at
// random moments, while producers wait for room and consumers nack: every
// message still ends exactly once, the purged ones in Stats().Purged.
func TestStressNoLossPurge(t *testing.T) {
	p, n := stressSize()
	runStress(t, stressSpec{
		producers: p, perProducer: n, consumers: 3, receivers: 2,
		maxDeliveries: 3,
		work:          []QueueOption{WithCapacity(64), WithBackoff(50*time.Microsecond, time.Millisecond)},
		reasons:       []string{ReasonRejected, ReasonDeliveryLimit, ReasonExpired},
		maxTTL:        2 * time.Millisecond,
		handler:       stressBasicHandler,
		receive:       stressBasicReceive,
		timeout:       20 * time.Second,
		waitLimit:     500 * time.Microsecond,
		purge:         true,
	})
}

// A request that Purge removes before a consumer took it ends its Request
// at once, with an error wrapping ErrNoResponders that names the queue,
// as a request dropped by overflow or expired does.
func TestPurgeEndsWaitingRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "rpc")
		req := startRequest(b, "rpc", NewMessage("req"))
		synctest.Wait() // the request waits in the queue
		if n := q.Purge(); n != 1 {
			t.Fatalf("Purge = %d, want 1", n)
		}
		err := req.ended(t, "Purge removed")
		if !errors.Is(err, ErrNoResponders) || !strings.Contains(err.Error(), `queue "rpc"`) || !strings.Contains(err.Error(), "purged") {
			t.Fatalf("Request = %v, want an error wrapping ErrNoResponders saying queue \"rpc\" purged it", err)
		}
	})
}

// Messages held behind a publish stalled in the intake (see intake.go) are
// ready, as Len and Stats say: Purge removes them too, and they are not
// delivered after it. The stalled publish itself had not landed when
// Purge ran, so it is delivered.
func TestPurgeEndsMessagesHeldBehindAStalledPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		finish := stallPublish(t, q, "stalled")
		for _, body := range []string{"held 1", "held 2"} {
			if err := q.Publish(context.Background(), &Message{Body: body, TTL: time.Hour}); err != nil {
				t.Fatal(err)
			}
		}
		if q.Len() != 2 {
			t.Fatalf("Len = %d with two messages held behind a stalled publish, want 2", q.Len())
		}
		if n := q.Purge(); n != 2 {
			t.Fatalf("Purge = %d, want the 2 messages held behind", n)
		}
		if n := q.Len(); n != 0 {
			t.Fatalf("Len = %d after Purge, want 0", n)
		}
		finish()
		publishOrFail(t, q, "after")
		wantBodies(t, receiveBodies(t, q, 2), "stalled", "after")
		wantStats(t, q, QueueStats{Published: 4, Delivered: 2, Acked: 2, Purged: 2})
	})
}
