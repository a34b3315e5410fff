package herald

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald/internal/glabel"
	"github.com/heraldmq/herald/internal/leak"
)

func TestQueueDeclareSameOptionsReturnsSameQueue(t *testing.T) {
	b := newTestBroker(t)
	for _, tc := range []struct {
		name        string
		first, then []QueueOption
	}{
		{"no options", nil, nil},
		{"defaults spelled out", nil, []QueueOption{
			WithCapacity(DefaultCapacity), WithOverflow(OverflowBlock),
			WithBackoff(DefaultBackoffMin, DefaultBackoffMax), WithMaxDeliveries(0),
		}},
		{"same options in another order",
			[]QueueOption{WithCapacity(5), WithTTL(time.Second), WithDeadLetter("dlq")},
			[]QueueOption{WithDeadLetter("dlq"), WithTTL(time.Second), WithCapacity(5)}},
		{"last option wins", []QueueOption{WithCapacity(7)}, []QueueOption{WithCapacity(3), WithCapacity(7)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(tc.name, " ", "-")
			q1 := mustQueue(t, b, name, tc.first...)
			q2 := mustQueue(t, b, name, tc.then...)
			if q1 != q2 {
				t.Fatalf("second declaration returned %p, want the first queue %p", q2, q1)
			}
			if q1.Name() != name {
				t.Fatalf("Name() = %q, want %q", q1.Name(), name)
			}
		})
	}
}

func TestQueueDeclareOtherOptionsReturnsErrExists(t *testing.T) {
	b := newTestBroker(t)
	orig := mustQueue(t, b, "q", WithCapacity(10))
	for _, tc := range []struct {
		name string
		opts []QueueOption
	}{
		{"no options", nil},
		{"capacity", []QueueOption{WithCapacity(11)}},
		{"overflow", []QueueOption{WithCapacity(10), WithOverflow(OverflowReject)}},
		{"max deliveries", []QueueOption{WithCapacity(10), WithMaxDeliveries(3)}},
		{"dead letter", []QueueOption{WithCapacity(10), WithDeadLetter("dlq")}},
		{"ack timeout", []QueueOption{WithCapacity(10), WithAckTimeout(time.Second)}},
		{"ttl", []QueueOption{WithCapacity(10), WithTTL(time.Second)}},
		{"backoff", []QueueOption{WithCapacity(10), WithBackoff(0, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := b.Queue("q", tc.opts...)
			if !errors.Is(err, ErrExists) {
				t.Fatalf("redeclare with other %s = %v, %v; want ErrExists", tc.name, q, err)
			}
			if q != nil {
				t.Fatalf("redeclare failed but returned queue %p", q)
			}
		})
	}
	// The original declaration still stands.
	if q := mustQueue(t, b, "q", WithCapacity(10)); q != orig {
		t.Fatal("the original queue was replaced")
	}
}

func TestQueueOptionValidation(t *testing.T) {
	b := newTestBroker(t)
	for _, tc := range []struct {
		name string
		opts []QueueOption
	}{
		{"zero capacity", []QueueOption{WithCapacity(0)}},
		{"negative capacity", []QueueOption{WithCapacity(-1)}},
		{"negative max deliveries", []QueueOption{WithMaxDeliveries(-1)}},
		{"negative ack timeout", []QueueOption{WithAckTimeout(-time.Second)}},
		{"negative ttl", []QueueOption{WithTTL(-time.Nanosecond)}},
		{"backoff min above max", []QueueOption{WithBackoff(2*time.Second, time.Second)}},
		{"negative backoff", []QueueOption{WithBackoff(-time.Second, time.Second)}},
		{"dead letter to itself", []QueueOption{WithDeadLetter("opt")}},
		{"dead letter bad name", []QueueOption{WithDeadLetter("dead letters")}},
		{"unknown overflow", []QueueOption{WithOverflow(Overflow(99))}},
		{"nil option", []QueueOption{WithCapacity(1), nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := b.Queue("opt", tc.opts...)
			if !errors.Is(err, ErrInvalid) || q != nil {
				t.Fatalf("Queue with %s = %v, %v; want nil, ErrInvalid", tc.name, q, err)
			}
			// A failed declaration declares nothing.
			if err := b.Publish(context.Background(), "opt", NewMessage(1)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Publish after a failed declaration = %v, want ErrNotFound", err)
			}
		})
	}
	// The edges of the valid ranges are accepted.
	for i, opts := range [][]QueueOption{
		{WithCapacity(1)},
		{WithMaxDeliveries(0), WithAckTimeout(0), WithTTL(0), WithBackoff(0, 0)},
		{WithBackoff(time.Second, time.Second)},
		{WithOverflow(OverflowDropNewest), WithMaxDeliveries(1), WithDeadLetter("elsewhere")},
	} {
		name := "edge" + string(rune('a'+i))
		if _, err := b.Queue(name, opts...); err != nil {
			t.Errorf("Queue(%q) with valid edge options: %v", name, err)
		}
	}
}

func TestBrokerPublish(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "orders")
	m := NewMessage("x")
	if err := b.Publish(context.Background(), "orders", m); err != nil {
		t.Fatal(err)
	}
	d := receiveOrFail(t, q)
	if d.Message != m {
		t.Fatalf("received %p, want the published message %p", d.Message, m)
	}
	settleOrFail(t, d.Ack)

	m2 := NewMessage("y")
	if err := b.Publish(context.Background(), "nowhere", m2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Publish to an undeclared name = %v, want ErrNotFound", err)
	}
	wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Acked: 1})
}

func TestNilArgumentsAreInvalid(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	var nilCtx context.Context // a variable, so that vet does not object
	ctx := context.Background()
	h := func(context.Context, *Delivery) error { return nil }
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Broker.Publish nil message", func() error { return b.Publish(ctx, "q", nil) }},
		{"Broker.Publish nil context", func() error { return b.Publish(nilCtx, "q", NewMessage(1)) }},
		{"Queue.Publish nil message", func() error { return q.Publish(ctx, nil) }},
		{"Queue.Publish nil context", func() error { return q.Publish(nilCtx, NewMessage(1)) }},
		{"Receive nil context", func() error { _, err := q.Receive(nilCtx); return err }},
		{"Consume nil context", func() error { return q.Consume(nilCtx, h) }},
		{"Consume nil handler", func() error { return q.Consume(ctx, nil) }},
		{"Consume nil option", func() error { return q.Consume(ctx, h, nil) }},
		{"Consume zero concurrency", func() error { return q.Consume(ctx, h, WithConcurrency(0)) }},
		{"Consume negative concurrency", func() error { return q.Consume(ctx, h, WithConcurrency(-2)) }},
		{"Shutdown nil context", func() error { return b.Shutdown(nilCtx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	wantStats(t, q, QueueStats{})
	// The broker still works: nothing above closed or broke it.
	publishOrFail(t, q, 1)
	settleOrFail(t, receiveOrFail(t, q).Ack)
}

func TestCallsAfterCloseReturnErrClosed(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	ctx := context.Background()
	if err := b.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Broker.Publish", func() error { return b.Publish(ctx, "q", NewMessage(1)) }},
		{"Broker.Publish undeclared", func() error { return b.Publish(ctx, "nowhere", NewMessage(1)) }},
		{"Queue.Publish", func() error { return q.Publish(ctx, NewMessage(1)) }},
		{"Broker.Queue existing", func() error { _, err := b.Queue("q"); return err }},
		{"Broker.Queue new", func() error { _, err := b.Queue("new"); return err }},
		{"Receive", func() error { _, err := q.Receive(ctx); return err }},
		{"Consume", func() error {
			return q.Consume(ctx, func(context.Context, *Delivery) error {
				t.Error("handler called after Close")
				return nil
			})
		}},
		{"Close again", func() error {
			if err := b.Close(); err != nil {
				return err
			}
			return ErrClosed
		}},
		{"Shutdown after Close", func() error {
			if err := b.Shutdown(ctx); err != nil {
				return err
			}
			return ErrClosed
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrClosed) {
				t.Fatalf("got %v, want ErrClosed", err)
			}
		})
	}
	wantStats(t, q, QueueStats{})
}

// Close documents that messages still in queues "are not delivered"; Receive
// must say ErrClosed rather than hand out what is left.
func TestReceiveAfterCloseWithReadyMessageReturnsErrClosed(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	publishOrFail(t, q, "left")
	b.Close()
	d, err := q.Receive(context.Background())
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("Receive after Close with a ready message = %v (body %v), want ErrClosed", err, bodyOf(d))
	}
	wantStats(t, q, QueueStats{Published: 1, Ready: 1})
}

func bodyOf(d *Delivery) any {
	if d == nil || d.Message == nil {
		return nil
	}
	return d.Body
}

func TestCloseWakesBlockedCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		empty := mustQueue(t, b, "empty")
		full := mustQueue(t, b, "full", WithCapacity(1))
		publishOrFail(t, full, 0)
		errs := make(chan error, 3)
		go func() { _, err := empty.Receive(context.Background()); errs <- err }()
		go func() { errs <- full.Publish(context.Background(), NewMessage(1)) }()
		go func() {
			errs <- empty.Consume(context.Background(), func(context.Context, *Delivery) error { return nil })
		}()
		synctest.Wait()
		if len(errs) != 0 {
			t.Fatalf("a call returned before Close: %v", <-errs)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := <-errs; !errors.Is(err, ErrClosed) {
				t.Fatalf("blocked call woken by Close returned %v, want ErrClosed", err)
			}
		}
		wantStats(t, full, QueueStats{Published: 1, Ready: 1})
	})
}

func TestPublishStampsIDAndTime(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	before := time.Now()
	m := publishOrFail(t, q, 1)
	after := time.Now()
	if m.ID == "" {
		t.Fatal("Publish left ID empty")
	}
	if m.Time.Before(before) || m.Time.After(after) {
		t.Fatalf("Time = %v, want between %v and %v", m.Time, before, after)
	}
	m2 := publishOrFail(t, q, 2)
	if m2.ID == m.ID {
		t.Fatalf("two messages got ID %q", m.ID)
	}

	// A broker publish stamps too.
	m3 := NewMessage(3)
	if err := b.Publish(context.Background(), "q", m3); err != nil {
		t.Fatal(err)
	}
	if m3.ID == "" || m3.Time.IsZero() || m3.ID <= m2.ID {
		t.Fatalf("Broker.Publish stamped ID %q Time %v (previous ID %q)", m3.ID, m3.Time, m2.ID)
	}
	for _, want := range []*Message{m, m2, m3} {
		d := receiveOrFail(t, q)
		if d.ID != want.ID || !d.Time.Equal(want.Time) {
			t.Fatalf("delivery ID %q Time %v, want %q %v", d.ID, d.Time, want.ID, want.Time)
		}
	}
}

func TestPublishKeepsCallerIDAndTime(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	at := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	m := &Message{ID: "my-id", Time: at, Body: 1}
	if err := q.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if m.ID != "my-id" || !m.Time.Equal(at) {
		t.Fatalf("Publish changed ID to %q and Time to %v", m.ID, m.Time)
	}
	// Each field is filled in on its own.
	onlyID := &Message{ID: "only-id"}
	onlyTime := &Message{Time: at}
	for _, m := range []*Message{onlyID, onlyTime} {
		if err := q.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if onlyID.ID != "only-id" || onlyID.Time.IsZero() {
		t.Fatalf("caller ID only: got ID %q Time %v", onlyID.ID, onlyID.Time)
	}
	if onlyTime.ID == "" || !onlyTime.Time.Equal(at) {
		t.Fatalf("caller Time only: got ID %q Time %v", onlyTime.ID, onlyTime.Time)
	}
	d := receiveOrFail(t, q)
	if d.ID != "my-id" || !d.Time.Equal(at) {
		t.Fatalf("delivery ID %q Time %v", d.ID, d.Time)
	}
}

func TestPublishIDsIncreaseAcrossBlocks(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(10_000))
	// IDs come in blocks of 64: several hundred cross several boundaries.
	const n = 64*5 + 17
	seen := make(map[string]bool, n)
	prev := ""
	for i := range n {
		m := publishOrFail(t, q, i)
		if seen[m.ID] {
			t.Fatalf("ID %q assigned twice", m.ID)
		}
		seen[m.ID] = true
		if m.ID <= prev {
			t.Fatalf("message %d got ID %q, not above the previous %q", i, m.ID, prev)
		}
		if len(m.ID) != len(prev) && prev != "" {
			t.Fatalf("ID %q and %q differ in length: byte order would not follow publish order", m.ID, prev)
		}
		prev = m.ID
	}
}

func TestPublishIDsUniqueUnderConcurrency(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(10_000))
	const producers, each = 8, 300
	ids := make(chan string, producers*each)
	done := make(chan struct{})
	for range producers {
		go func() {
			defer func() { done <- struct{}{} }()
			prev := ""
			for range each {
				m := NewMessage(nil)
				if err := q.Publish(context.Background(), m); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				if m.ID <= prev {
					t.Errorf("one producer's IDs went from %q to %q", prev, m.ID)
				}
				prev = m.ID
				ids <- m.ID
			}
		}()
	}
	for range producers {
		<-done
	}
	close(ids)
	seen := make(map[string]bool, producers*each)
	for id := range ids {
		if seen[id] {
			t.Fatalf("ID %q assigned twice", id)
		}
		seen[id] = true
	}
	if len(seen) != producers*each {
		t.Fatalf("%d distinct IDs, want %d", len(seen), producers*each)
	}
}

func TestShutdownDrainsConsumer(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	const n = 200
	var handled atomic.Int64
	consumed := make(chan error, 1)
	go func() {
		consumed <- q.Consume(context.Background(), func(context.Context, *Delivery) error {
			handled.Add(1)
			return nil
		}, WithConcurrency(3))
	}()
	for i := range n {
		publishOrFail(t, q, i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	if err := waitErr(t, consumed); err != nil {
		t.Fatalf("Consume after a drain = %v, want nil", err)
	}
	if handled.Load() != n {
		t.Fatalf("handled %d messages, want %d", handled.Load(), n)
	}
	wantStats(t, q, QueueStats{Published: n, Delivered: n, Acked: n})
	if _, err := q.Receive(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Receive after Shutdown = %v, want ErrClosed", err)
	}
}

func TestShutdownWaitsForRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(time.Second, time.Second))
		consumed := make(chan error, 1)
		go func() {
			consumed <- q.Consume(context.Background(), func(_ context.Context, d *Delivery) error {
				if d.Attempt < 3 {
					return errors.New("not yet")
				}
				return nil
			})
		}()
		publishOrFail(t, q, "x")
		start := time.Now()
		if err := b.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		if got := time.Since(start); got != 2*time.Second {
			t.Fatalf("Shutdown took %v, want the two back-offs of 1s", got)
		}
		if err := <-consumed; err != nil {
			t.Fatalf("Consume = %v, want nil", err)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 3, Nacked: 2, Acked: 1})
	})
}

// A handler publishing with its own context during Shutdown must be
// accepted, so that a flow of several hops drains to its end.
func TestShutdownDrainsTwoHopFlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		qa := mustQueue(t, b, "a")
		qb := mustQueue(t, b, "b")
		release := make(chan struct{})
		hopErrs := make(chan error, 100)
		var bAcked atomic.Int64
		consumedA, consumedB := make(chan error, 1), make(chan error, 1)
		go func() {
			consumedA <- qa.Consume(context.Background(), func(ctx context.Context, d *Delivery) error {
				<-release
				err := b.Publish(ctx, "b", NewMessage(d.Body))
				if err != nil {
					hopErrs <- err
				}
				return err
			})
		}()
		go func() {
			consumedB <- qb.Consume(context.Background(), func(context.Context, *Delivery) error {
				bAcked.Add(1)
				return nil
			})
		}()
		const n = 3
		for i := range n {
			publishOrFail(t, qa, i)
		}
		synctest.Wait() // a's handler holds the first message

		shutdown := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			shutdown <- b.Shutdown(ctx)
		}()
		synctest.Wait() // Shutdown has begun and waits for the queues
		if err := b.Publish(context.Background(), "a", NewMessage("late")); !errors.Is(err, ErrClosed) {
			t.Errorf("Publish from outside a handler during Shutdown = %v, want ErrClosed", err)
		}
		close(release)

		if err := <-shutdown; err != nil {
			t.Errorf("Shutdown = %v, want nil", err)
		}
		if len(hopErrs) > 0 {
			t.Errorf("handler's publish to the next hop during Shutdown failed: %v", <-hopErrs)
		}
		if err := <-consumedA; err != nil {
			t.Errorf("Consume a = %v, want nil", err)
		}
		if err := <-consumedB; err != nil {
			t.Errorf("Consume b = %v, want nil", err)
		}
		if bAcked.Load() != n {
			t.Errorf("second hop handled %d messages, want %d", bAcked.Load(), n)
		}
		wantStats(t, qa, QueueStats{Published: n, Delivered: n, Acked: n})
		wantStats(t, qb, QueueStats{Published: n, Delivered: n, Acked: n})
	})
}

func TestShutdownRejectsOutsidePublishes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		publishOrFail(t, q, "x")
		shutdown := make(chan error, 1)
		go func() { shutdown <- b.Shutdown(context.Background()) }()
		synctest.Wait()
		if len(shutdown) != 0 {
			t.Fatal("Shutdown returned with a message still ready")
		}
		if err := q.Publish(context.Background(), NewMessage("late")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Queue.Publish during Shutdown = %v, want ErrClosed", err)
		}
		if err := b.Publish(context.Background(), "q", NewMessage("late")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Broker.Publish during Shutdown = %v, want ErrClosed", err)
		}
		if _, err := b.Queue("new"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Queue during Shutdown = %v, want ErrClosed", err)
		}
		// Receiving still works while draining; settling the last message
		// ends the drain.
		d := receiveOrFail(t, q)
		wantBody(t, d, "x", 1)
		settleOrFail(t, d.Ack)
		if err := <-shutdown; err != nil {
			t.Fatalf("Shutdown = %v, want nil", err)
		}
		if _, err := q.Receive(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Receive after drain = %v, want ErrClosed", err)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Acked: 1})
	})
}

func TestShutdownWakesParkedReceive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		received := make(chan error, 1)
		go func() {
			for {
				d, err := q.Receive(context.Background())
				if err != nil {
					received <- err
					return
				}
				if err := d.Ack(); err != nil {
					t.Errorf("Ack: %v", err)
				}
			}
		}()
		publishOrFail(t, q, 1)
		publishOrFail(t, q, 2)
		synctest.Wait()
		if err := b.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		if err := <-received; !errors.Is(err, ErrClosed) {
			t.Fatalf("Receive after the drain = %v, want ErrClosed", err)
		}
		wantStats(t, q, QueueStats{Published: 2, Delivered: 2, Acked: 2})
	})
}

func TestShutdownWithoutConsumerReturnsCtxErr(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		publishOrFail(t, q, "stuck")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		if err := b.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
		}
		if got := time.Since(start); got != 5*time.Second {
			t.Fatalf("Shutdown returned after %v, want 5s", got)
		}
		// The broker is closed afterwards; the message stays, counted.
		if err := q.Publish(context.Background(), NewMessage(1)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Publish after a timed-out Shutdown = %v, want ErrClosed", err)
		}
		if _, err := b.Queue("other"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Queue after a timed-out Shutdown = %v, want ErrClosed", err)
		}
		wantStats(t, q, QueueStats{Published: 1, Ready: 1})
	})
}

func TestShutdownIdleBrokerReturnsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		mustQueue(t, b, "q")
		start := time.Now()
		if err := b.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		if time.Since(start) != 0 {
			t.Fatalf("Shutdown of an idle broker took %v", time.Since(start))
		}
		if err := b.Shutdown(context.Background()); err != nil {
			t.Fatalf("second Shutdown = %v, want nil", err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("Close after Shutdown = %v, want nil", err)
		}
	})
}

// The goroutines that run for a broker carry its pprof label: a Consume
// call's own, its handler goroutines and the scheduler. Another broker's
// check does not see them.
func TestBrokerGoroutinesAreLabeled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		other := newTestBroker(t) // cleaned up after b: its check sees every broker's goroutines
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		ctx, cancel := context.WithCancel(context.Background())
		release := make(chan struct{})
		done := consumeAsync(ctx, q, func(context.Context, *Delivery) error {
			<-release
			return nil
		}, WithConcurrency(2))
		publishOrFail(t, q, 1)
		publishOrFail(t, q, 2)
		// A delayed message starts the scheduler from this, unlabeled,
		// goroutine; a back-off keeps it busy.
		q.Publish(context.Background(), &Message{Delay: time.Hour})
		synctest.Wait()

		mine := strings.Join(leak.FindIn(leak.Scope{Broker: glabel.Of(b)}, 0), "\n\n")
		for _, fn := range []string{"herald.work", "herald.(*Broker).runConsumer", "sched.(*Scheduler[...]).run"} {
			if !strings.Contains(mine, fn) {
				t.Errorf("no goroutine labeled as the broker's runs %s; labeled:\n%s", fn, mine)
			}
		}
		if theirs := leak.FindIn(leak.Scope{Broker: glabel.Of(other)}, 0); len(theirs) > 0 {
			t.Errorf("another broker's check sees:\n%s", strings.Join(theirs, "\n\n"))
		}
		close(release)
		cancel()
		<-done
	})
}
