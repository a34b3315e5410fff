package heraldtest_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/heraldtest"
)

// flakyFlow is a flow that is flaky by design when tested with sleeps:
// several hops, handlers running concurrently, each failing at random on
// a message's first delivery and retried after a back-off.
//
//	queue "orders" ──handler──▶ topic exchange "events" ──"order.#"──▶ topic "stream"
//	                                                                  ├─▶ group "workers": 3 members
//	                                                                  └─▶ plain subscription "audit"
type flakyFlow struct {
	orders *herald.Queue
	events *heraldtest.Recorder // tap on the exchange

	mu       sync.Mutex
	failures int            // first attempts failed on purpose, all hops
	workers  map[any]int    // body -> successful handlings in the group
	members  map[int]int    // member -> messages it handled
	audit    map[any]int    // body -> successful handlings by "audit"
	attempts map[string]int // hop/body -> attempts
}

func newFlakyFlow(t testing.TB, b *herald.Broker, backoff time.Duration) *flakyFlow {
	t.Helper()
	redeliver := herald.WithBackoff(backoff, 2*backoff)
	f := &flakyFlow{
		orders:   must[*herald.Queue](t)(b.Queue("orders", redeliver)),
		workers:  map[any]int{},
		members:  map[int]int{},
		audit:    map[any]int{},
		attempts: map[string]int{},
	}
	x := must[*herald.Exchange](t)(b.Exchange("events", herald.TopicExchange))
	stream := must[*herald.Topic](t)(b.Topic("stream"))
	mustOK(t, x.Bind("stream", "order.#"))
	f.events = heraldtest.Tap(t, b, "events")

	consume(t, f.orders, f.flaky("orders", func(ctx context.Context, d *herald.Delivery) {
		// Publishing after the failure point, so that each order is
		// published once: an at-least-once hop that fails after publishing
		// would publish again.
		if err := x.Publish(ctx, &herald.Message{Key: "order.placed", Body: d.Body}); err != nil {
			t.Errorf("publish to events: %v", err)
		}
	}), herald.WithConcurrency(2))
	for i := range 3 {
		member := must[*herald.Subscription](t)(stream.Subscribe(herald.WithGroup("workers"), redeliver))
		consume(t, member, f.flaky("workers", func(_ context.Context, d *herald.Delivery) {
			f.workers[d.Body]++
			f.members[i]++
		}))
	}
	audit := must[*herald.Subscription](t)(stream.Subscribe(redeliver))
	consume(t, audit, f.flaky("audit", func(_ context.Context, d *herald.Delivery) {
		f.audit[d.Body]++
	}))
	return f
}

// flaky returns a handler that fails a message's first delivery at random
// and otherwise calls ok, under f.mu.
func (f *flakyFlow) flaky(hop string, ok func(context.Context, *herald.Delivery)) herald.Handler {
	return func(ctx context.Context, d *herald.Delivery) error {
		f.mu.Lock()
		f.attempts[fmt.Sprint(hop, "/", d.Body)]++
		fail := d.Attempt == 1 && rand.IntN(2) == 0
		if fail {
			f.failures++
		}
		f.mu.Unlock()
		if fail {
			return errors.New("transient")
		}
		if hop == "orders" {
			ok(ctx, d) // publishes: not under f.mu, since a handler may block there
			return nil
		}
		f.mu.Lock()
		ok(ctx, d)
		f.mu.Unlock()
		return nil
	}
}

// run publishes n orders, settles the broker and checks the outcome of
// every hop, with no sleep anywhere.
func (f *flakyFlow) run(t testing.TB, b *herald.Broker, n int) {
	t.Helper()
	want := make([]any, n)
	for i := range n {
		want[i] = i
		mustOK(t, f.orders.Publish(context.Background(), herald.NewMessage(i)))
	}

	heraldtest.Settle(t, b)

	heraldtest.AssertBodiesUnordered(t, f.events, want...)
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range n {
		if f.workers[i] != 1 || f.audit[i] != 1 {
			t.Errorf("order %d: handled %d times by the group, %d by audit; want once each", i, f.workers[i], f.audit[i])
		}
	}
	if got := f.members[0] + f.members[1] + f.members[2]; got != n {
		t.Errorf("group members handled %d messages in all (%v), want %d", got, f.members, n)
	}
	s := f.orders.Stats()
	if s.Published != uint64(n) || s.Acked != uint64(n) || s.Ready+s.Unacked+s.Delayed != 0 {
		t.Errorf("orders queue: %+v", s)
	}
	attempts := 0
	for _, a := range f.attempts {
		attempts += a
	}
	if want := 3*n + f.failures; attempts != want {
		t.Errorf("%d attempts in all, want %d: 3 hops × %d messages + %d failures", attempts, want, n, f.failures)
	}
}

// TestFlakyFlowSettles runs the flaky flow 1,000 times, each on a fresh
// broker, with real concurrency and real back-offs: Settle makes it pass
// every time, where a sleep would be too short on a slow machine and
// wasted on a fast one. With -short it runs 100 times; the full 1,000 run
// takes a few seconds, or about twenty under -race:
//
//	go test -run TestFlakyFlowSettles ./heraldtest
func TestFlakyFlowSettles(t *testing.T) {
	iterations := 1000
	if testing.Short() {
		iterations = 100
	}
	for i := range iterations {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			b := heraldtest.NewBroker(t, heraldtest.FailOnUnsettled())
			f := newFlakyFlow(t, b, 100*time.Microsecond)
			f.run(t, b, 10)
		})
		if t.Failed() {
			break
		}
	}
}

// In a synctest bubble, the same flow with back-offs of a whole second
// takes no real time.
func TestFlakyFlowSettlesInSynctest(t *testing.T) {
	for i := range 20 {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			b := heraldtest.NewBroker(t, heraldtest.FailOnUnsettled())
			f := newFlakyFlow(t, b, time.Second)
			f.run(t, b, 10)
			if f.failures > 0 && time.Since(start) < time.Second {
				t.Errorf("iteration %d: settled after %v of fake time, before the back-off of its failures", i, time.Since(start))
			}
		})
	}
}
