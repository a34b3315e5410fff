package herald

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald/internal/leak"
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

// stallPublish does the first half of a publish of body through q's
// intake: it takes a place and claims a slot, as a producer does before
// the scheduler preempts it. It returns the second half, which fills the
// slot.
func stallPublish(t *testing.T, q *Queue, body any) (finish func()) {
	t.Helper()
	m := NewMessage(body)
	m.stamp(q.b.wall)
	if !q.reserve() {
		t.Fatal("no place to stall a publish in")
	}
	in := q.intakeRing()
	pos, ok := in.Claim()
	if !ok {
		t.Fatal("no intake slot to stall a publish in")
	}
	return func() {
		in.Fill(pos, entry{m: m})
		q.filled()
	}
}

// A producer preempted between claiming its intake slot and filling it
// stops the drain at that slot. Another producer's messages behind it
// must not be overtaken by that producer's later publishes that take the
// lock: a message with a TTL, or any once the intake is full.
func TestIntakeKeepsEachProducersOrderPastAStalledPublish(t *testing.T) {
	for _, tc := range []struct {
		name  string
		later func(i int) *Message // producer a's publishes after a0
		n     int
	}{
		{"a TTL takes the lock", func(i int) *Message {
			m := NewMessage(fmt.Sprint("a", i))
			if i%2 == 1 {
				m.TTL = time.Hour
			}
			return m
		}, 5},
		{"the intake fills up", func(i int) *Message { return NewMessage(fmt.Sprint("a", i)) }, 2 * intakeSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBroker(t)
			q := mustQueue(t, b, "q", WithCapacity(1000))
			finish := stallPublish(t, q, "stalled")
			var want []any
			for i := range tc.n {
				if err := q.Publish(context.Background(), tc.later(i)); err != nil {
					t.Fatal(err)
				}
				want = append(want, fmt.Sprint("a", i))
			}
			finish()
			wantBodies(t, receiveBodies(t, q, tc.n+1), append([]any{"stalled"}, want...)...)
			wantStats(t, q, QueueStats{Published: uint64(tc.n) + 1, Delivered: uint64(tc.n) + 1, Acked: uint64(tc.n) + 1})
		})
	}
}

// While a publish is stalled in the intake, what waits behind it is ready
// for Stats and Len, and a consumer parked meanwhile gets everything once
// the publish completes.
func TestIntakeStalledPublishWakesParkedConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		finish := stallPublish(t, q, "stalled")
		if err := q.Publish(context.Background(), &Message{Body: "after", TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if s := q.Stats(); s.Ready != 1 || q.Len() != 1 {
			t.Fatalf("Len %d, %+v with one message held behind a stalled publish, want 1 ready", q.Len(), s)
		}
		got := make(chan []any, 1)
		go func() { got <- receiveBodies(t, q, 2) }()
		synctest.Wait() // the consumer parked: it cannot take "after" yet
		if len(got) != 0 {
			t.Fatal("a consumer took a message past a stalled publish")
		}
		finish()
		wantBodies(t, <-got, "stalled", "after")
	})
}

// Each producer's messages come out in the order it published them, with
// several producers and one consumer; 20 rounds of 4 producers x 25,000
// messages (fewer under the race detector, whose goroutine switches make
// them slow), one in five with a TTL in odd rounds, so that the locked
// path and a full intake meet producers preempted inside the intake.
func TestQueuePerProducerFIFO(t *testing.T) {
	const producers = 4
	rounds, each := 20, 25000
	if raceEnabled {
		rounds, each = 4, 10000
	}
	for round := range rounds {
		b := New()
		q, err := b.Queue("q")
		if err != nil {
			t.Fatal(err)
		}
		withTTL := round%2 == 1
		var wg sync.WaitGroup
		for p := range producers {
			wg.Go(func() {
				for i := range each {
					m := &Message{Body: [2]int{p, i}}
					if withTTL && i%5 == 0 {
						m.TTL = time.Hour
					}
					if err := q.Publish(context.Background(), m); err != nil {
						t.Errorf("Publish: %v", err)
						return
					}
				}
			})
		}
		next := make([]int, producers)
		bad := 0
		for range producers * each {
			d, err := q.Receive(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			v := d.Body.([2]int)
			if v[1] != next[v[0]] && bad < 5 {
				bad++
				t.Errorf("round %d (TTLs %v): producer %d's message %d came when %d was due", round, withTTL, v[0], v[1], next[v[0]])
			}
			next[v[0]] = v[1] + 1
			d.Ack()
		}
		wg.Wait()
		b.Close()
		if bad > 0 {
			t.FailNow()
		}
	}
	if leaked := leak.Find(2 * time.Second); len(leaked) > 0 {
		t.Error(leak.Report(leaked))
	}
}

// Messages held behind a stalled publish may end there (here they expire
// or are dropped); the publishes after them still take the intake once
// the stalled one completes.
func TestIntakeHeldMessagesEndingThereReleaseTheIntake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithCapacity(2), WithOverflow(OverflowDropOldest))
		finish := stallPublish(t, q, "stalled")
		if err := q.Publish(context.Background(), &Message{Body: "short-lived", TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait() // the expiry sweep, due now too, has run
		wantStats(t, q, QueueStats{Published: 1, Expired: 1})
		finish()
		publishOrFail(t, q, "after")
		if q.held.Load() || q.behind.Len() != 0 {
			t.Fatal("publishes still held back after the stalled one completed")
		}
		wantBodies(t, receiveBodies(t, q, 2), "stalled", "after")
	})
}
