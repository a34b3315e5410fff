package heraldtest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/heraldtest"
)

// runTest runs fn as the body of a test function, with a testing.TB that
// prints what failed, so that the examples can run and show their output.
// In your own tests, write the body of fn in a func TestX(t *testing.T).
func runTest(fn func(t testing.TB)) {
	f := &fakeT{}
	f.run(fn)
	if f.Failed() {
		fmt.Printf("--- FAIL\n%s\n", f.output())
	}
}

type orderPlaced struct{ ID int }

// wireBilling is the code under test: billing consumes the orders queue
// and announces each captured payment on the "events" exchange, where a
// mailer listens.
func wireBilling(b *herald.Broker) error {
	events, err := b.Exchange("events", herald.TopicExchange)
	if err != nil {
		return err
	}
	orders, err := b.Queue("orders")
	if err != nil {
		return err
	}
	mailer, err := b.Queue("mailer")
	if err != nil {
		return err
	}
	if err := events.Bind("mailer", "payment.*"); err != nil {
		return err
	}
	go mailer.Consume(context.Background(), func(context.Context, *herald.Delivery) error { return nil })
	go orders.Consume(context.Background(), herald.Typed(func(ctx context.Context, o orderPlaced) error {
		return events.Publish(ctx, &herald.Message{Key: "payment.captured", Body: o.ID})
	}))
	return nil
}

// A test of an event flow: start the code under test on a broker that is
// checked at cleanup, tap the exchange it publishes to, drive it, wait for
// the whole broker to settle, and assert on what the tap recorded.
func Example() {
	runTest(func(t testing.TB) {
		b := heraldtest.NewBroker(t, heraldtest.FailOnUnsettled())
		if err := wireBilling(b); err != nil {
			t.Fatal(err)
		}
		events := heraldtest.Tap(t, b, "events")

		for id := 1; id <= 3; id++ {
			if err := b.Publish(context.Background(), "orders", herald.NewMessage(orderPlaced{id})); err != nil {
				t.Fatal(err)
			}
		}

		heraldtest.Settle(t, b) // billing has handled every order, and its events are recorded
		heraldtest.AssertKeys(t, events, "payment.captured", "payment.captured", "payment.captured")
		heraldtest.AssertBodies(t, events, 1, 2, 3)
		fmt.Println(events.Keys())
	})
	// Output:
	// [payment.captured payment.captured payment.captured]
}

// A tap reads a topic with a subscription of its own, so the group that
// shares the topic's stream still gets every message.
func ExampleTap() {
	runTest(func(t testing.TB) {
		b := heraldtest.NewBroker(t)
		topic, err := b.Topic("prices")
		if err != nil {
			t.Fatal(err)
		}
		worker, err := topic.Subscribe(herald.WithGroup("workers"))
		if err != nil {
			t.Fatal(err)
		}
		handled := heraldtest.NewRecorder("workers")
		go worker.Consume(context.Background(), handled.Handler(func(context.Context, *herald.Delivery) error {
			return nil
		}))

		prices := heraldtest.Tap(t, b, "prices")
		for _, p := range []float64{9.5, 9.75, 9.25} {
			if err := topic.Publish(context.Background(), herald.NewMessage(p)); err != nil {
				t.Fatal(err)
			}
		}

		heraldtest.Settle(t, b)
		fmt.Println("tap:", prices.Bodies())
		fmt.Println("workers:", handled.Bodies())
	})
	// Output:
	// tap: [9.5 9.75 9.25]
	// workers: [9.5 9.75 9.25]
}

// A queue cannot be tapped, since a tap would take messages from its
// consumers: record the consumer's handler instead. The recorder records a
// message once, however many times it is redelivered.
func ExampleRecorder_Handler() {
	runTest(func(t testing.TB) {
		b := heraldtest.NewBroker(t)
		jobs, err := b.Queue("jobs", herald.WithBackoff(time.Millisecond, time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		rec := heraldtest.NewRecorder("jobs")
		go jobs.Consume(context.Background(), rec.Handler(func(_ context.Context, d *herald.Delivery) error {
			if d.Attempt == 1 {
				return errors.New("flaky") // retried after the back-off
			}
			return nil
		}))

		if err := jobs.Publish(context.Background(), herald.NewMessage("resize image 7")); err != nil {
			t.Fatal(err)
		}

		heraldtest.Settle(t, b)
		fmt.Println(rec.Bodies(), jobs.Stats().Delivered, "deliveries")
	})
	// Output:
	// [resize image 7] 2 deliveries
}

// WaitFor waits for what a recorder has recorded, with no sleep and no
// polling, as long as its context allows.
func ExampleRecorder_WaitFor() {
	runTest(func(t testing.TB) {
		b := heraldtest.NewBroker(t)
		x, err := b.Exchange("logs", herald.FanoutExchange)
		if err != nil {
			t.Fatal(err)
		}
		b.Queue("logfile") // a tap records what the exchange routes
		x.Bind("logfile", "")
		logs := heraldtest.Tap(t, b, "logs")

		go func() {
			for _, line := range []string{"started", "listening"} {
				b.Publish(context.Background(), "logs", herald.NewMessage(line))
			}
		}()

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := logs.WaitFor(ctx, 2); err != nil {
			t.Fatal(err)
		}
		fmt.Println(logs.Bodies())
	})
	// Output:
	// [started listening]
}

// A failed assertion prints what was recorded and what was wanted, line by
// line, the differing lines marked with "!".
func ExampleAssertKeys() {
	runTest(func(t testing.TB) {
		b := heraldtest.NewBroker(t)
		if _, err := b.Topic("events"); err != nil {
			t.Fatal(err)
		}
		events := heraldtest.Tap(t, b, "events")
		for _, key := range []string{"order.placed", "order.cancelled"} {
			if err := b.Publish(context.Background(), "events", &herald.Message{Key: key}); err != nil {
				t.Fatal(err)
			}
		}

		heraldtest.Settle(t, b)
		heraldtest.AssertKeys(t, events, "order.placed", "payment.captured", "order.shipped")
	})
	// Output:
	// --- FAIL
	// heraldtest: keys recorded from topic "events" differ (got 2, want 3):
	//	   #  got                want
	//	   0  "order.placed"     "order.placed"
	//	!  1  "order.cancelled"  "payment.captured"
	//	!  2  (none)             "order.shipped"
}

// With FailOnUnsettled, a test fails if it leaves a message that nothing
// handled, such as a dead letter that nobody looked at.
func ExampleFailOnUnsettled() {
	runTest(func(t testing.TB) {
		b := heraldtest.NewBroker(t, heraldtest.FailOnUnsettled(), heraldtest.WithSettleTimeout(50*time.Millisecond))
		jobs, err := b.Queue("jobs", herald.WithDeadLetter("jobs.dead"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Queue("jobs.dead"); err != nil {
			t.Fatal(err)
		}
		if err := jobs.Publish(context.Background(), herald.NewMessage("{")); err != nil {
			t.Fatal(err)
		}
		d, err := jobs.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Reject(); err != nil { // malformed: into "jobs.dead"
			t.Fatal(err)
		}
		// The test ends without reading "jobs.dead".
	})
	// Output:
	// --- FAIL
	// heraldtest: messages left unsettled at the end of the test (context deadline exceeded); what holds it up:
	//	queue "jobs.dead": 1 ready, 0 unacked, 0 delayed, 0 scheduled; no consumer
}
