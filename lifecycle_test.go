//go:build unix

// The build constraint is for syscall.Getrusage, which the idle-CPU test
// measures with.

package herald

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald/internal/leak"
)

// Lifecycle: Close wakes everything, Shutdown drains, nothing of herald's
// outlives either, and a broker at rest costs no CPU.

// TestLifecycleCloseWakesEveryBlockedCall blocks one call of each kind,
// makes sure with synctest.Wait that each is durably blocked, and closes.
func TestLifecycleCloseWakesEveryBlockedCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		empty := mustQueue(t, b, "orders.empty")
		full := mustQueue(t, b, "orders.full", WithCapacity(1))
		idle := mustQueue(t, b, "orders.idle")
		busy := mustQueue(t, b, "orders.busy")
		// A cancellable context has a Done channel of the bubble's, so a
		// call parked on it is durably blocked.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		if err := full.Publish(ctx, NewMessage("filler")); err != nil {
			t.Fatal(err)
		}
		if err := busy.Publish(ctx, NewMessage("order-1")); err != nil {
			t.Fatal(err)
		}

		receiveErr := make(chan error, 1)
		go func() {
			d, err := empty.Receive(ctx)
			if d != nil {
				t.Errorf("Receive on an empty queue returned %v", d.Body)
			}
			receiveErr <- err
		}()
		publishErr := make(chan error, 1)
		go func() { publishErr <- full.Publish(ctx, NewMessage("overflow")) }()
		idleErr := make(chan error, 1)
		go func() {
			idleErr <- idle.Consume(ctx, func(context.Context, *Delivery) error {
				t.Error("handler of an empty queue called")
				return nil
			}, WithConcurrency(2))
		}()
		var handlerDone atomic.Bool
		handlerIn := make(chan struct{})
		busyErr := make(chan error, 1)
		go func() {
			busyErr <- busy.Consume(ctx, func(hctx context.Context, d *Delivery) error {
				close(handlerIn)
				<-hctx.Done()
				handlerDone.Store(true)
				return nil // acked: this test is about waking, not redelivery
			})
		}()
		<-handlerIn
		synctest.Wait() // every call above is now durably blocked in herald

		for name, ch := range map[string]chan error{
			"Receive": receiveErr, "Publish": publishErr, "idle Consume": idleErr, "busy Consume": busyErr,
		} {
			select {
			case err := <-ch:
				t.Fatalf("%s returned %v before Close", name, err)
			default:
			}
		}

		if err := b.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
		for _, c := range []struct {
			name string
			ch   chan error
		}{{"blocked Receive", receiveErr}, {"blocked Publish", publishErr}, {"waiting Consume", idleErr}, {"Consume with a handler running", busyErr}} {
			if err := <-c.ch; !errors.Is(err, ErrClosed) {
				t.Errorf("%s returned %v after Close, want ErrClosed", c.name, err)
			}
		}
		if !handlerDone.Load() {
			t.Error("Consume returned before its handler did")
		}
		if err := b.Close(); err != nil {
			t.Errorf("second Close = %v, want nil", err)
		}
	})
}

// lifecycleBusyQueue sets up a queue in the state a broker is usually
// stopped in: two messages waiting out a back-off in the scheduler, and a
// Consume with four handlers each holding a delivery whose ack timeout is
// armed. It returns the queue and Consume's result.
func lifecycleBusyQueue(t *testing.T, b *Broker) (*Queue, <-chan error) {
	t.Helper()
	q := mustQueue(t, b, "orders", WithAckTimeout(time.Hour), WithBackoff(time.Hour, time.Hour),
		WithMaxDeliveries(3))
	ctx := context.Background()
	for i := range 8 {
		if err := q.Publish(ctx, &Message{ID: fmt.Sprint("order-", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		d, err := q.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Nack(); err != nil {
			t.Fatal(err)
		}
	}
	started := make(chan struct{})
	consumed := make(chan error, 1)
	go func() {
		consumed <- q.Consume(ctx, func(ctx context.Context, d *Delivery) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			started <- struct{}{}
			<-ctx.Done()
			return ctx.Err()
		}, WithConcurrency(4))
	}()
	for range 4 {
		<-started
	}
	if s := q.Stats(); s.Delayed != 2 || s.Unacked != 4 || s.Ready != 2 {
		t.Fatalf("before stopping: %+v, want Delayed 2, Unacked 4, Ready 2", s)
	}
	return q, consumed
}

func lifecycleNoLeak(t *testing.T, when string) {
	t.Helper()
	if leaked := leak.Find(2 * time.Second); len(leaked) > 0 {
		t.Fatalf("%s: %s", when, leak.Report(leaked))
	}
}

// TestLifecycleCloseLeavesNoGoroutine: Close with back-offs pending, ack
// timeouts armed and handlers running.
func TestLifecycleCloseLeavesNoGoroutine(t *testing.T) {
	b := newTestBroker(t)
	_, consumed := lifecycleBusyQueue(t, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-consumed; !errors.Is(err, ErrClosed) {
		t.Errorf("Consume = %v, want ErrClosed", err)
	}
	lifecycleNoLeak(t, "after Close and Consume returned")
}

// TestLifecycleShutdownTimeoutLeavesNoGoroutine: a Shutdown that cannot
// drain (back-offs of an hour, handlers that never return by themselves)
// gives up when its context ends, closes, and leaves nothing behind. It
// runs in a synctest bubble, so Shutdown must give up exactly at its
// deadline.
func TestLifecycleShutdownTimeoutLeavesNoGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		_, consumed := lifecycleBusyQueue(t, b)
		// The deadline is what is under test here, not a wait for an event.
		const limit = 50 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		defer cancel()
		start := time.Now()
		if err := b.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != limit {
			t.Errorf("Shutdown gave up after %v, want %v", waited, limit)
		}
		if err := <-consumed; !errors.Is(err, ErrClosed) {
			t.Errorf("Consume = %v, want ErrClosed", err)
		}
		lifecycleNoLeak(t, "after Shutdown gave up and Consume returned")
		if err := b.Publish(context.Background(), "orders", NewMessage(1)); !errors.Is(err, ErrClosed) {
			t.Errorf("Publish after Shutdown = %v, want ErrClosed", err)
		}
	})
}

// TestLifecycleShutdownDrains: everything published before Shutdown is
// handled, including messages waiting out a back-off and messages a
// handler publishes to the next hop while draining; then Consume returns
// nil, Shutdown returns nil, and no goroutine of herald is left.
func TestLifecycleShutdownDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 10
		const backoff = time.Second
		b := newTestBroker(t)
		orders := mustQueue(t, b, "orders", WithBackoff(backoff, backoff), WithAckTimeout(time.Minute))
		invoices := mustQueue(t, b, "invoices")
		ctx := context.Background()
		for i := range n {
			if err := b.Publish(ctx, "orders", &Message{ID: fmt.Sprint("order-", i), Body: i}); err != nil {
				t.Fatal(err)
			}
		}

		var mu sync.Mutex
		attempts := map[string]int{} // order ID -> attempt that succeeded
		invoiced := map[string]bool{}
		ordersDone := make(chan error, 1)
		go func() {
			ordersDone <- orders.Consume(ctx, func(ctx context.Context, d *Delivery) error {
				if d.Attempt == 1 && d.Body.(int)%2 == 1 {
					return errors.New("payment service unavailable")
				}
				// The handler's context may publish while the broker drains.
				if err := b.Publish(ctx, "invoices", &Message{ID: "invoice-for-" + d.ID}); err != nil {
					return err
				}
				mu.Lock()
				attempts[d.ID] = d.Attempt
				mu.Unlock()
				return nil
			}, WithConcurrency(4))
		}()
		invoicesDone := make(chan error, 1)
		go func() {
			invoicesDone <- invoices.Consume(ctx, func(ctx context.Context, d *Delivery) error {
				mu.Lock()
				invoiced[d.ID] = true
				mu.Unlock()
				return nil
			})
		}()
		synctest.Wait()
		if s := orders.Stats(); s.Delayed != n/2 || s.Acked != n/2 {
			t.Fatalf("before Shutdown: %+v, want %d delayed and %d acked", s, n/2, n/2)
		}

		start := time.Now()
		shutdown := make(chan error, 1)
		go func() { shutdown <- b.Shutdown(ctx) }()
		synctest.Wait() // Shutdown has begun and waits for the back-offs
		select {
		case err := <-shutdown:
			t.Fatalf("Shutdown returned %v with %d messages waiting out a back-off", err, n/2)
		default:
		}
		if err := b.Publish(ctx, "orders", NewMessage(-1)); !errors.Is(err, ErrClosed) {
			t.Errorf("Publish while draining = %v, want ErrClosed", err)
		}
		if err := <-shutdown; err != nil {
			t.Fatalf("Shutdown = %v, want nil", err)
		}
		if d := time.Since(start); d < backoff {
			t.Errorf("Shutdown returned after %v, before the %v back-off passed", d, backoff)
		}
		if err := <-ordersDone; err != nil {
			t.Errorf("orders Consume = %v, want nil", err)
		}
		if err := <-invoicesDone; err != nil {
			t.Errorf("invoices Consume = %v, want nil", err)
		}
		lifecycleNoLeak(t, "after Shutdown drained and Consume returned")

		mu.Lock()
		defer mu.Unlock()
		for i := range n {
			id := fmt.Sprint("order-", i)
			want := 1 + i%2
			if attempts[id] != want {
				t.Errorf("%s handled at attempt %d, want %d", id, attempts[id], want)
			}
			if !invoiced["invoice-for-"+id] {
				t.Errorf("invoice for %s not handled", id)
			}
		}
		wantStats := QueueStats{Published: n, Delivered: n + n/2, Acked: n, Nacked: n / 2}
		if s := orders.Stats(); s != wantStats {
			t.Errorf("orders stats\n got %+v\nwant %+v", s, wantStats)
		}
		if _, err := orders.Receive(ctx); !errors.Is(err, ErrClosed) {
			t.Errorf("Receive after Shutdown = %v, want ErrClosed", err)
		}
	})
}

// TestLifecycleShutdownDrainsExpiredMessage: a message that expires in the
// queue while the broker drains ends there (counted as expired), and that
// end must let Shutdown finish like any other.
func TestLifecycleShutdownDrainsExpiredMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "orders")
		ctx := context.Background()
		if err := q.Publish(ctx, &Message{ID: "slow"}); err != nil {
			t.Fatal(err)
		}
		if err := q.Publish(ctx, &Message{ID: "short-lived", TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		consumed := make(chan error, 1)
		go func() {
			consumed <- q.Consume(ctx, func(ctx context.Context, d *Delivery) error {
				if d.ID == "slow" {
					time.Sleep(2 * time.Second) // slow work, on the bubble's clock
				}
				return nil
			})
		}()
		synctest.Wait() // the handler is busy with "slow"

		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := b.Shutdown(sctx); err != nil {
			t.Errorf("Shutdown = %v, want nil: the expired message was the last one and nothing woke Shutdown", err)
		}
		if err := <-consumed; err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Consume = %v", err)
		}
		want := QueueStats{Published: 2, Delivered: 1, Acked: 1, Expired: 1}
		if s := q.Stats(); s != want {
			t.Errorf("stats\n got %+v\nwant %+v", s, want)
		}
	})
}

// cpuTime is the CPU time, user and system, the process has used so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestLifecycleIdleBrokerUsesNoCPU: four queues, each with a Consume of
// four handlers parked on it, a back-off and an ack timeout pending an hour
// away: over a second of real time the process must use almost no CPU.
func TestLifecycleIdleBrokerUsesNoCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("measures a second of real time")
	}
	const budget = 50 * time.Millisecond
	b := newTestBroker(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var consumers sync.WaitGroup
	for i := range 4 {
		q := mustQueue(t, b, fmt.Sprint("idle-", i), WithAckTimeout(time.Hour), WithBackoff(time.Hour, time.Hour))
		for j := range 2 {
			if err := q.Publish(ctx, NewMessage(j)); err != nil {
				t.Fatal(err)
			}
		}
		nacked, err := q.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := nacked.Nack(); err != nil { // its back-off is pending in the scheduler
			t.Fatal(err)
		}
		if _, err := q.Receive(ctx); err != nil { // held unsettled: its ack timeout is armed
			t.Fatal(err)
		}
		if s := q.Stats(); s.Ready != 0 || s.Delayed != 1 || s.Unacked != 1 {
			t.Fatalf("%s: %+v, want Ready 0, Delayed 1, Unacked 1", q.Name(), s)
		}
		consumers.Go(func() {
			err := q.Consume(ctx, func(context.Context, *Delivery) error {
				t.Errorf("%s: handler called on an idle queue", q.Name())
				return nil
			}, WithConcurrency(4))
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: Consume = %v, want context.Canceled", q.Name(), err)
			}
		})
	}

	before := cpuTime(t)
	// This sleep is the measurement window, not a wait for anything: the
	// broker must stay parked through it.
	time.Sleep(time.Second)
	used := cpuTime(t) - before
	t.Logf("idle broker used %v of CPU in 1s", used)
	if used > budget {
		t.Errorf("idle broker used %v of CPU in 1s, want under %v", used, budget)
	}
	cancel()
	consumers.Wait()
}
