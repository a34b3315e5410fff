package herald

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// A delivery kept past its iteration settles nothing: not the message the
// loop has gone on to, not one that reuses the same Delivery eight
// messages later, not after the loop ended.
func TestSubscriptionAllStaleSettle(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(64))
	s := subscribeOrFail(t, tp, WithMaxDeliveries(1))
	const n = 40
	publishInts(t, tp, 1, n)
	var kept []*Delivery
	for d := range s.All(context.Background()) {
		for j, k := range kept {
			if err := k.Reject(); !errors.Is(err, ErrSettled) {
				t.Fatalf("during %d, Reject through delivery %d = %v, want ErrSettled", d.Seq, j, err)
			}
		}
		if c := s.Stats().Consumers; c != 1 {
			t.Errorf("Stats().Consumers in the loop = %d, want 1", c)
		}
		if d.Seq%9 == 0 {
			kept = append(kept, d)
		}
		if d.Seq%2 == 0 {
			d.Ack() // the others are acked by the loop
		}
		if d.Seq == n {
			break
		}
	}
	for j, k := range kept {
		if err := k.Nack(); !errors.Is(err, ErrSettled) {
			t.Errorf("after the loop, Nack through delivery %d = %v, want ErrSettled", j, err)
		}
	}
	wantSubStats(t, s, SubscriptionStats{Delivered: n, Acked: n})
}

// Without late settles, a plain subscription's loop allocates nothing per
// message.
func TestSubscriptionAllAllocatesNothingPerMessage(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	b := newTestBroker(t)
	const n = 4000
	tp := topicOrFail(t, b, "t", WithCapacity(n))
	s := subscribeOrFail(t, tp)
	ctx := context.Background()
	for range n {
		if err := tp.Publish(ctx, &Message{ID: "x", Body: benchBody, Time: time.Unix(1, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	i := 0
	for d := range s.All(ctx) {
		if i++; i == n/2 {
			d.Ack() // and the others are acked by the loop
		}
		if i == n {
			break
		}
	}
	runtime.ReadMemStats(&after)
	// The loop's own state is allocated once.
	if allocs := after.Mallocs - before.Mallocs; allocs > 10 {
		t.Errorf("%d allocations for %d messages, want a few for the loop", allocs, n)
	}
	wantSubStats(t, s, SubscriptionStats{Delivered: n, Acked: n})
}

// A loop body that panics leaves its delivery acked, as a break would.
func TestSubscriptionAllPanicAcks(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	s := subscribeOrFail(t, tp)
	publishInts(t, tp, 1, 2)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		for range s.All(context.Background()) {
			panic("boom")
		}
	}()
	wantSubStats(t, s, SubscriptionStats{Delivered: 1, Acked: 1, Lag: 1})
}

// Shutdown lets the loop read everything, then ends it, and waits for it.
func TestSubscriptionAllShutdown(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	s := subscribeOrFail(t, tp)
	publishInts(t, tp, 1, 3)
	var seen int
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for range s.All(context.Background()) {
			seen++
		}
	}()
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	select {
	case <-ended:
	default:
		t.Fatal("Shutdown returned while the loop ran")
	}
	if seen != 3 {
		t.Errorf("the loop saw %d messages, want 3", seen)
	}
	wantSubStats(t, s, SubscriptionStats{Delivered: 3, Acked: 3})
}
