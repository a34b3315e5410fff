package herald

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// A three-hop flow (queue -> exchange -> topic group and queue) with
// handlers that fail once: WaitIdle returns only when every hop has
// settled everything, with no sleep anywhere.
func TestWaitIdleWaitsForMultiHopFlow(t *testing.T) {
	b := newTestBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	in := mustQueue(t, b, "in", WithBackoff(0, time.Millisecond))
	x, err := b.Exchange("route", FanoutExchange)
	if err != nil {
		t.Fatal(err)
	}
	audit := mustQueue(t, b, "audit", WithBackoff(0, time.Millisecond))
	events, err := b.Topic("events")
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Bind("audit", ""); err != nil {
		t.Fatal(err)
	}
	if err := x.Bind("events", ""); err != nil {
		t.Fatal(err)
	}
	member, err := events.Subscribe(WithGroup("workers"), WithBackoff(0, time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}

	var handled atomic.Int64
	failOnce := func(next func(ctx context.Context, d *Delivery) error) Handler {
		return func(ctx context.Context, d *Delivery) error {
			if d.Attempt == 1 {
				return errors.New("transient")
			}
			return next(ctx, d)
		}
	}
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{}, 3)
	run := func(c interface {
		Consume(context.Context, Handler, ...ConsumeOption) error
	}, h Handler) {
		go func() { c.Consume(cctx, h, WithConcurrency(2)); done <- struct{}{} }()
	}
	run(in, failOnce(func(ctx context.Context, d *Delivery) error {
		return x.Publish(ctx, &Message{Body: d.Body})
	}))
	run(audit, failOnce(func(context.Context, *Delivery) error { handled.Add(1); return nil }))
	run(member, failOnce(func(context.Context, *Delivery) error { handled.Add(1); return nil }))

	const n = 200
	for i := range n {
		if err := in.Publish(ctx, NewMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatalf("WaitIdle: %v", err)
	}
	if got := handled.Load(); got != 2*n {
		t.Fatalf("after WaitIdle, %d messages handled at the last hop, want %d", got, 2*n)
	}
	for _, q := range []*Queue{in, audit} {
		if s := q.Stats(); s.Acked != n || s.Ready+s.Unacked+s.Delayed != 0 {
			t.Fatalf("%s: %+v", q.Name(), s)
		}
	}
	stop()
	for range 3 {
		<-done
	}
}

func TestWaitIdleHonoursContextAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		if err := b.WaitIdle(context.Background()); err != nil {
			t.Fatalf("WaitIdle on an empty broker: %v", err)
		}
		if err := q.Publish(context.Background(), NewMessage(1)); err != nil {
			t.Fatal(err)
		}
		// Nobody consumes: WaitIdle waits until its context ends.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := b.WaitIdle(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitIdle = %v, want DeadlineExceeded", err)
		}
		errc := make(chan error, 1)
		go func() { errc <- b.WaitIdle(context.Background()) }()
		synctest.Wait()
		b.Close()
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("WaitIdle after Close = %v, want ErrClosed", err)
		}
		var noCtx context.Context // nil on purpose: bad input must not panic
		if err := b.WaitIdle(noCtx); !errors.Is(err, ErrInvalid) {
			t.Fatalf("WaitIdle(nil) = %v, want ErrInvalid", err)
		}
	})
}
