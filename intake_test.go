package herald

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Publishers racing for the last places of a queue get exactly its
// capacity between them, although they reserve without its lock.
func TestIntakeCapacityExactUnderConcurrentPublishers(t *testing.T) {
	const capacity, publishers, each = 100, 8, 50
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(capacity), WithOverflow(OverflowReject))
	var accepted, full atomic.Int64
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for range each {
				switch err := q.Publish(context.Background(), NewMessage(1)); {
				case err == nil:
					accepted.Add(1)
				case errors.Is(err, ErrFull):
					full.Add(1)
				default:
					t.Errorf("Publish: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if accepted.Load() != capacity || full.Load() != publishers*each-capacity {
		t.Fatalf("accepted %d, refused %d; want %d and %d", accepted.Load(), full.Load(), capacity, publishers*each-capacity)
	}
	wantStats(t, q, QueueStats{Published: capacity, Ready: capacity})
}

// A consumer frees places in batches; a publish that finds the queue full
// by the unbatched count still gets every place really free.
func TestIntakeFreedPlacesAreFoundBeforeBatchIsFull(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(10), WithOverflow(OverflowReject))
	for i := range 10 {
		publishOrFail(t, q, i)
	}
	wantBodies(t, receiveBodies(t, q, 3), 0, 1, 2) // fewer than freeBatch
	for i := range 3 {
		publishOrFail(t, q, 10+i)
	}
	if err := q.Publish(context.Background(), NewMessage(99)); !errors.Is(err, ErrFull) {
		t.Fatalf("Publish past capacity = %v, want ErrFull", err)
	}
	wantStats(t, q, QueueStats{Published: 13, Acked: 3, Delivered: 3, Ready: 10})
	wantBodies(t, receiveBodies(t, q, 10), 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
}

// Messages that take the intake and messages that take the lock (here,
// those with a TTL) keep one publish order.
func TestIntakeAndLockedPublishesKeepOrder(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(1000))
	var want []any
	for i := range 300 {
		m := NewMessage(i)
		if i%7 == 0 {
			m.TTL = time.Hour
		}
		if err := q.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		want = append(want, i)
	}
	wantBodies(t, receiveBodies(t, q, len(want)), want...)
}

// Publishers racing Shutdown on the lock-free path: every publish that
// returned nil is handled before Shutdown returns, and every other one
// returned ErrClosed.
func TestIntakePublishesRacingShutdownAreAllHandled(t *testing.T) {
	for round := range 20 {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithCapacity(64))
		var handled sync.Map
		var count atomic.Int64
		flowing := make(chan struct{})
		consumed := make(chan error, 1)
		go func() {
			consumed <- q.Consume(context.Background(), func(_ context.Context, d *Delivery) error {
				if _, dup := handled.LoadOrStore(d.ID, true); dup {
					t.Errorf("round %d: %s handled twice", round, d.ID)
				}
				if count.Add(1) == 200 {
					close(flowing)
				}
				return nil
			}, WithConcurrency(2))
		}()
		var accepted sync.Map
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					m := NewMessage(nil)
					switch err := q.Publish(context.Background(), m); {
					case err == nil:
						accepted.Store(m.ID, true)
					case errors.Is(err, ErrClosed):
						return
					default:
						t.Errorf("Publish: %v", err)
						return
					}
				}
			})
		}
		<-flowing // shut down with publishes in full flow
		if err := b.Shutdown(context.Background()); err != nil {
			t.Fatalf("round %d: Shutdown: %v", round, err)
		}
		wg.Wait()
		if err := <-consumed; err != nil {
			t.Fatalf("round %d: Consume returned %v after Shutdown", round, err)
		}
		accepted.Range(func(id, _ any) bool {
			if _, ok := handled.Load(id); !ok {
				t.Errorf("round %d: %s was accepted and never handled", round, id)
			}
			return true
		})
		if s := q.Stats(); s.Published != s.Acked || s.Ready != 0 {
			t.Fatalf("round %d: after Shutdown %+v", round, s)
		}
	}
}
