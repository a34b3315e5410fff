package herald

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"testing/synctest"
	"time"
)

// All acks nothing itself: what the loop body settles is what happens.
func TestQueueAllSettlesOnlyWhatTheBodySettles(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithMaxDeliveries(1))
	for i := range 3 {
		publishOrFail(t, q, i)
	}
	ctx := context.Background()
	var got []int
	for d, err := range q.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		i := d.Body.(int)
		got = append(got, i)
		if c := q.Stats().Consumers; c != 1 {
			t.Errorf("Stats().Consumers in the loop = %d, want 1", c)
		}
		switch i {
		case 0:
			d.Ack()
		case 1:
			d.Reject()
		case 2:
			d.Ack()
		}
		if err := d.Ack(); !errors.Is(err, ErrSettled) {
			t.Errorf("second Ack of %d = %v, want ErrSettled", i, err)
		}
		if i == 2 {
			break
		}
	}
	if fmt.Sprint(got) != "[0 1 2]" {
		t.Errorf("loop saw %v, want [0 1 2]", got)
	}
	wantStats(t, q, QueueStats{Published: 3, Delivered: 3, Acked: 2, Rejected: 1})
}

// A delivery the body leaves unsettled is nacked with ErrUnsettled when its
// iteration ends, whether the loop goes on or breaks: it comes back.
func TestQueueAllNacksWhatTheBodyLeavesUnsettled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var causes []error
		b := newTestBroker(t, WithObserver(Observer{End: func(e EndInfo) {
			if e.Outcome == OutcomeNacked {
				causes = append(causes, e.Err)
			}
		}}))
		q := mustQueue(t, b, "q", WithBackoff(time.Second, time.Second))
		publishOrFail(t, q, "a")
		publishOrFail(t, q, "b")
		ctx := context.Background()
		var seen []string
		for d, err := range q.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, fmt.Sprintf("%s%d", d.Body, d.Attempt))
			switch {
			case d.Body == "a" && d.Attempt == 1:
				continue // unsettled: nacked, back after the back-off
			case d.Body == "b":
				// unsettled and the loop breaks: nacked too
			default:
				d.Ack()
				continue
			}
			break
		}
		if fmt.Sprint(seen) != "[a1 b1]" {
			t.Fatalf("first loop saw %v, want [a1 b1]", seen)
		}
		wantStats(t, q, QueueStats{Published: 2, Delivered: 2, Nacked: 2, Delayed: 2})
		for _, err := range causes {
			if !errors.Is(err, ErrUnsettled) {
				t.Errorf("nack cause %v, want ErrUnsettled", err)
			}
		}
		if len(causes) != 2 {
			t.Errorf("%d nacks observed, want 2", len(causes))
		}
		seen = nil
		for d, err := range q.All(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			seen = append(seen, fmt.Sprintf("%s%d", d.Body, d.Attempt))
			d.Ack()
			if len(seen) == 2 {
				break
			}
		}
		if fmt.Sprint(seen) != "[a2 b2]" {
			t.Errorf("second loop saw %v, want [a2 b2]", seen)
		}
		wantStats(t, q, QueueStats{Published: 2, Delivered: 4, Acked: 2, Nacked: 2})
	})
}

// A panic in the loop body ends the loop with the delivery nacked and the
// consumer gone.
func TestQueueAllPanicNacks(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	publishOrFail(t, q, "boom")
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want boom", r)
			}
		}()
		for d := range q.All(context.Background()) {
			panic(d.Body)
		}
	}()
	s := q.Stats()
	if s.Nacked != 1 || s.Unacked != 0 || s.Consumers != 0 {
		t.Errorf("after the panic: %+v, want 1 nacked, none unacked, no consumer", s)
	}
}

// The loop ends with ctx.Err() when ctx ends, ErrClosed when the broker
// closes, ErrInvalid for a nil ctx, and without an error when Shutdown has
// drained the queue.
func TestQueueAllEnds(t *testing.T) {
	last := func(seq func(func(*Delivery, error) bool)) (n int, err error) {
		for d, e := range seq {
			if e != nil {
				if d != nil {
					t.Errorf("delivery %v with error %v", d, e)
				}
				err = e
				continue // the sequence must end by itself
			}
			n++
			d.Ack()
		}
		return n, err
	}
	t.Run("ctx", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newTestBroker(t)
			q := mustQueue(t, b, "q")
			publishOrFail(t, q, 1)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if n, err := last(q.All(ctx)); n != 1 || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got %d deliveries, then %v; want 1, then DeadlineExceeded", n, err)
			}
		})
	})
	t.Run("close", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newTestBroker(t)
			q := mustQueue(t, b, "q")
			go func() {
				synctest.Wait() // the loop is parked
				b.Close()
			}()
			if n, err := last(q.All(context.Background())); n != 0 || !errors.Is(err, ErrClosed) {
				t.Errorf("got %d deliveries, then %v; want 0, then ErrClosed", n, err)
			}
			if n, err := last(q.All(context.Background())); n != 0 || !errors.Is(err, ErrClosed) {
				t.Errorf("after Close: %d deliveries, then %v; want 0, then ErrClosed", n, err)
			}
		})
	})
	t.Run("shutdown", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newTestBroker(t)
			q := mustQueue(t, b, "q")
			for i := range 3 {
				publishOrFail(t, q, i)
			}
			shut := make(chan error, 1)
			go func() {
				synctest.Wait() // the loop has taken all three and is parked
				shut <- b.Shutdown(context.Background())
			}()
			if n, err := last(q.All(context.Background())); n != 3 || err != nil {
				t.Errorf("got %d deliveries, then %v; want 3, then nil", n, err)
			}
			if err := <-shut; err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	})
	t.Run("nil ctx", func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		//lint:ignore SA1012 a nil ctx is what is tested
		if n, err := last(q.All(nil)); n != 0 || !errors.Is(err, ErrInvalid) {
			t.Errorf("got %d deliveries, then %v; want 0, then ErrInvalid", n, err)
		}
	})
}

// A delivery kept past its iteration settles nothing: not the message the
// loop has gone on to, not one that reuses the same Delivery eight
// messages later, not after the loop ended.
func TestQueueAllStaleSettle(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithMaxDeliveries(1))
	const n = 40
	for i := range n {
		publishOrFail(t, q, i)
	}
	var kept []*Delivery
	for d, err := range q.All(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		i := d.Body.(int)
		for j, k := range kept {
			if err := k.Reject(); !errors.Is(err, ErrSettled) {
				t.Fatalf("during %d, Reject through delivery %d = %v, want ErrSettled", i, j, err)
			}
			if err := k.Reply(context.Background(), NewMessage("late")); !errors.Is(err, ErrSettled) {
				t.Fatalf("during %d, Reply through delivery %d = %v, want ErrSettled", i, j, err)
			}
		}
		if i%9 == 0 {
			kept = append(kept, d)
		}
		if err := d.Ack(); err != nil {
			t.Fatalf("Ack of %d: %v", i, err)
		}
		if i == n-1 {
			break
		}
	}
	for j, k := range kept {
		if err := k.Nack(); !errors.Is(err, ErrSettled) {
			t.Errorf("after the loop, Nack through delivery %d = %v, want ErrSettled", j, err)
		}
	}
	wantStats(t, q, QueueStats{Published: n, Delivered: n, Acked: n})
}

// Without late settles, the loop allocates nothing per message.
func TestQueueAllAllocatesNothingPerMessage(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(4096))
	ctx := context.Background()
	const n = 4000
	for range n {
		if err := q.Publish(ctx, &Message{ID: "x", Body: benchBody, Time: time.Unix(1, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	i := 0
	for d, err := range q.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		d.Ack()
		if i++; i == n {
			break
		}
	}
	runtime.ReadMemStats(&after)
	// The loop's own state is allocated once.
	if allocs := after.Mallocs - before.Mallocs; allocs > 10 {
		t.Errorf("%d allocations for %d messages, want a few for the loop", allocs, n)
	}
}

// A delivery whose ack timeout passes while the loop body holds it is
// redelivered: the body's late Ack returns ErrSettled, and the end of the
// iteration does not nack it a second time.
func TestQueueAllAckTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithAckTimeout(time.Second))
		publishOrFail(t, q, "slow")
		var attempts []int
		for d, err := range q.All(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			attempts = append(attempts, d.Attempt)
			if d.Attempt == 1 {
				time.Sleep(2 * time.Second) // fake time: the ack timeout passes
				if err := d.Ack(); !errors.Is(err, ErrSettled) {
					t.Errorf("Ack after the ack timeout = %v, want ErrSettled", err)
				}
				continue
			}
			if err := d.Ack(); err != nil {
				t.Errorf("Ack of the redelivery: %v", err)
			}
			break
		}
		if fmt.Sprint(attempts) != "[1 2]" {
			t.Errorf("attempts %v, want [1 2]", attempts)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 2, Acked: 1, Nacked: 1})
	})
}
