package heraldtest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/heraldtest"
)

func TestTapTopicRecordsWithoutStealing(t *testing.T) {
	b := heraldtest.NewBroker(t, heraldtest.FailOnUnsettled())
	ctx := timeout(t)
	topic := must[*herald.Topic](t)(b.Topic("events"))
	member := must[*herald.Subscription](t)(topic.Subscribe(herald.WithGroup("workers")))
	var handled atomic.Int64
	consume(t, member, func(context.Context, *herald.Delivery) error { handled.Add(1); return nil })

	rec := heraldtest.Tap(t, b, "events")
	for i := range 5 {
		mustOK(t, b.Publish(ctx, "events", &herald.Message{Key: "k", Body: i}))
	}
	heraldtest.Settle(t, b)
	heraldtest.AssertBodies(t, rec, 0, 1, 2, 3, 4)
	if got := handled.Load(); got != 5 {
		t.Errorf("the group handled %d messages, want all 5", got)
	}
	if got := rec.String(); got != `topic "events"` {
		t.Errorf("String() = %q", got)
	}
}

func TestTapExchange(t *testing.T) {
	msgs := []*herald.Message{
		{Key: "order.placed", Headers: herald.Headers{"kind": "order"}, Body: 1},
		{Key: "order.item.added", Headers: herald.Headers{"kind": "order"}, Body: 2},
		{Key: "payment.captured", Headers: herald.Headers{"kind": "payment"}, Body: 3},
	}
	for _, tc := range []struct {
		name string
		kind herald.ExchangeKind
		bind string // the real binding: "orders" gets what it matches
		opts []heraldtest.TapOption
		want []string // keys the tap records: those the real binding routed
	}{
		{"fanout", herald.FanoutExchange, "", nil, []string{"order.placed", "order.item.added", "payment.captured"}},
		{"topic", herald.TopicExchange, "order.#", nil, []string{"order.placed", "order.item.added"}},
		{"topic with keys", herald.TopicExchange, "order.#", []heraldtest.TapOption{heraldtest.Keys("*.placed", "payment.*")}, []string{"order.placed"}},
		{"direct", herald.DirectExchange, "order.placed", []heraldtest.TapOption{heraldtest.Keys("order.placed", "payment.captured")}, []string{"order.placed"}},
		{"headers", herald.HeadersExchange, "", nil, []string{"order.placed", "order.item.added"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := heraldtest.NewBroker(t, heraldtest.FailOnUnsettled())
			ctx := timeout(t)
			x := must[*herald.Exchange](t)(b.Exchange("events", tc.kind))
			orders := must[*herald.Queue](t)(b.Queue("orders"))
			var bindOpts []herald.BindOption
			if tc.kind == herald.HeadersExchange {
				bindOpts = append(bindOpts, herald.MatchAll(herald.Headers{"kind": "order"}))
			}
			mustOK(t, x.Bind("orders", tc.bind, bindOpts...))
			handled := heraldtest.NewRecorder("orders")
			consume(t, orders, handled.Handler(func(context.Context, *herald.Delivery) error { return nil }))

			rec := heraldtest.Tap(t, b, "events", tc.opts...)
			// The real binding gets what it matches, tap or no tap; what it
			// does not match stays unroutable.
			var wantOrders []string
			for _, m := range msgs {
				switch {
				case tc.kind == herald.DirectExchange && m.Key != tc.bind:
				case tc.kind == herald.TopicExchange && !strings.HasPrefix(m.Key, "order."):
				case tc.kind == herald.HeadersExchange && m.Headers["kind"] != "order":
				default:
					wantOrders = append(wantOrders, m.Key)
				}
			}
			for _, m := range msgs {
				m := *m
				err := b.Publish(ctx, "events", &m)
				if !slices.Contains(wantOrders, m.Key) {
					if !errors.Is(err, herald.ErrUnroutable) {
						t.Errorf("publish of %s, which only the tap matches: %v, want ErrUnroutable", m.Key, err)
					}
					continue
				}
				mustOK(t, err)
			}
			heraldtest.Settle(t, b)
			heraldtest.AssertKeys(t, rec, tc.want...)
			heraldtest.AssertKeys(t, handled, wantOrders...)
		})
	}
}

func TestTapRefusals(t *testing.T) {
	for _, tc := range []struct {
		name    string
		declare func(b *herald.Broker) error
		tap     string
		opts    []heraldtest.TapOption
		want    string
	}{
		{"queue", func(b *herald.Broker) error { _, err := b.Queue("orders", herald.WithCapacity(8)); return err }, "orders", nil,
			`"orders" is a queue, which hands each message to one consumer only`},
		{"undeclared", func(*herald.Broker) error { return nil }, "orders", nil,
			`"orders" is not declared`},
		{"direct without keys", func(b *herald.Broker) error { _, err := b.Exchange("x", herald.DirectExchange); return err }, "x", nil,
			`"x" is a direct exchange, which has no wildcard: pass the keys to record with heraldtest.Keys`},
		{"keys on a topic", func(b *herald.Broker) error { _, err := b.Topic("t"); return err }, "t", []heraldtest.TapOption{heraldtest.Keys("a")},
			`Keys applies to direct and topic exchanges; "t" is a topic`},
		{"keys on fanout", func(b *herald.Broker) error { _, err := b.Exchange("x", herald.FanoutExchange); return err }, "x", []heraldtest.TapOption{heraldtest.Keys("a")},
			`Keys applies to direct and topic exchanges; "x" is a fanout exchange`},
		{"bad pattern", func(b *herald.Broker) error { _, err := b.Exchange("x", herald.TopicExchange); return err }, "x", []heraldtest.TapOption{heraldtest.Keys("a..b")},
			`invalid argument`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := heraldtest.NewBroker(t)
			mustOK(t, tc.declare(b))
			f := runFake(t, func(ft testing.TB) {
				heraldtest.Tap(ft, b, tc.tap, tc.opts...)
				t.Error("Tap returned")
			})
			if got := f.output(); !strings.Contains(got, tc.want) {
				t.Errorf("Tap reported:\n%s\nwant it to say: %s", got, tc.want)
			}
		})
	}
}

// Tap must not declare what it looks up, nor anything else when it fails.
func TestTapDeclaresNothing(t *testing.T) {
	b := heraldtest.NewBroker(t)
	runFake(t, func(ft testing.TB) { heraldtest.Tap(ft, b, "later") })
	if names := b.Names(); len(names) != 0 {
		t.Errorf("after a failed Tap, Names() = %q, want none", names)
	}
	if _, err := b.Queue("later", herald.WithCapacity(3)); err != nil {
		t.Fatalf("declaring the name Tap looked for: %v", err)
	}
}

// Tap finds a topic or an exchange whatever options it was declared with.
func TestTapDeclaredWithOptions(t *testing.T) {
	b := heraldtest.NewBroker(t, heraldtest.FailOnUnsettled())
	ctx := timeout(t)
	prices := must[*herald.Topic](t)(b.Topic("prices", herald.WithCapacity(4), herald.WithOverflow(herald.OverflowDropOldest)))
	unrouted := must[*herald.Exchange](t)(b.Exchange("unrouted", herald.FanoutExchange))
	tasks := must[*herald.Exchange](t)(b.Exchange("tasks", herald.TopicExchange, herald.WithAlternate("unrouted")))
	for _, q := range []string{"work", "dead"} {
		consume(t, must[*herald.Queue](t)(b.Queue(q)), func(context.Context, *herald.Delivery) error { return nil })
	}
	mustOK(t, tasks.Bind("work", "#"))
	mustOK(t, unrouted.Bind("dead", ""))

	pricesRec := heraldtest.Tap(t, b, "prices")
	tasksRec := heraldtest.Tap(t, b, "tasks", heraldtest.Keys("email.*"))
	unroutedRec := heraldtest.Tap(t, b, "unrouted")
	for _, p := range []float64{9.5, 9.75} {
		mustOK(t, prices.Publish(ctx, herald.NewMessage(p)))
	}
	for _, k := range []string{"email.send", "fax.send"} {
		mustOK(t, tasks.Publish(ctx, &herald.Message{Key: k}))
	}
	heraldtest.Settle(t, b)
	heraldtest.AssertBodies(t, pricesRec, 9.5, 9.75)
	heraldtest.AssertKeys(t, tasksRec, "email.send")
	heraldtest.AssertKeys(t, unroutedRec) // "work" takes every task
	if got, want := tasksRec.String(), `topic exchange "tasks"`; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// A tap on a broker heraldtest did not make stops at the end of the test
// and takes its binding away.
func TestTapOnPlainBroker(t *testing.T) {
	b := herald.New()
	defer b.Close()
	ctx := timeout(t)
	x := must[*herald.Exchange](t)(b.Exchange("events", herald.TopicExchange))
	q := must[*herald.Queue](t)(b.Queue("q"))
	mustOK(t, x.Bind("q", "#"))
	before := b.Names()
	f := runFake(t, func(ft testing.TB) {
		rec := heraldtest.Tap(ft, b, "events")
		mustOK(t, x.Publish(ctx, &herald.Message{Key: "a.b"}))
		if err := rec.WaitFor(ctx, 1); err != nil {
			t.Error(err)
		}
	})
	if f.Failed() {
		t.Fatal(f.output())
	}
	mustOK(t, x.Publish(ctx, &herald.Message{Key: "a.b"}))
	for _, name := range b.Names() {
		if slices.Contains(before, name) {
			continue
		}
		if tq, err := b.LookupQueue(name); err == nil && tq.Stats().Published != 1 {
			t.Errorf("after the test, the tap's queue %q got %d messages, want 1: its binding is still there", name, tq.Stats().Published)
		}
	}
	if got := q.Len(); got != 2 {
		t.Errorf("queue q holds %d, want 2", got)
	}
}

func TestRecorderHandlerRecordsOncePerMessage(t *testing.T) {
	b := heraldtest.NewBroker(t, heraldtest.FailOnUnsettled())
	ctx := timeout(t)
	q := must[*herald.Queue](t)(b.Queue("jobs", herald.WithBackoff(0, 0)))
	rec := heraldtest.NewRecorder("jobs handler")
	var calls atomic.Int64
	consume(t, q, rec.Handler(func(_ context.Context, d *herald.Delivery) error {
		calls.Add(1)
		if d.Attempt < 3 {
			return errors.New("flaky")
		}
		return nil
	}))
	for i := range 3 {
		mustOK(t, q.Publish(ctx, herald.NewMessage(i)))
	}
	heraldtest.Settle(t, b)
	heraldtest.AssertBodiesUnordered(t, rec, 0, 1, 2)
	if got := calls.Load(); got != 9 {
		t.Errorf("handler called %d times, want 9", got)
	}
}

// Recorder.Handler is a herald.Middleware.
func TestRecorderHandlerAsMiddleware(t *testing.T) {
	rec := heraldtest.NewRecorder("broker")
	b := heraldtest.NewBroker(t, heraldtest.WithBrokerOptions(herald.WithMiddleware(rec.Handler)))
	ctx := timeout(t)
	q := must[*herald.Queue](t)(b.Queue("jobs"))
	consume(t, q, func(_ context.Context, d *herald.Delivery) error {
		if d.Body == "boom" {
			panic("boom")
		}
		return nil
	})
	mustOK(t, q.Publish(ctx, herald.NewMessage("ok")))
	mustOK(t, q.Publish(ctx, herald.NewMessage("boom")))
	if err := rec.WaitFor(ctx, 2); err != nil {
		t.Fatal(err)
	}
	heraldtest.AssertBodies(t, rec, "ok", "boom")
}

func TestWaitForAndWaitUntil(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := heraldtest.NewBroker(t)
		must[*herald.Topic](t)(b.Topic("events"))
		rec := heraldtest.Tap(t, b, "events")

		go func() {
			for i := range 3 {
				time.Sleep(time.Second) // fake time: the publisher's pace
				b.Publish(context.Background(), "events", herald.NewMessage(i))
			}
		}()
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rec.WaitUntil(ctx, func(ms []*herald.Message) bool {
			return len(ms) > 0 && ms[len(ms)-1].Body == 1
		}); err != nil {
			t.Fatal(err)
		}
		if got := time.Since(start); got != 2*time.Second {
			t.Errorf("WaitUntil returned after %v, want 2s", got)
		}
		if err := rec.WaitFor(ctx, 3); err != nil {
			t.Fatal(err)
		}
		if got := rec.Len(); got != 3 {
			t.Errorf("Len() = %d, want 3", got)
		}

		short, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := rec.WaitFor(short, 4)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitFor(4) = %v, want a deadline error", err)
		}
		const want = `heraldtest: topic "events": waited for 4 messages, recorded 3: context deadline exceeded`
		if err.Error() != want {
			t.Errorf("WaitFor error:\n got %s\nwant %s", err, want)
		}
	})
}

func TestMessagesIsASnapshot(t *testing.T) {
	b := heraldtest.NewBroker(t)
	ctx := timeout(t)
	must[*herald.Topic](t)(b.Topic("events"))
	rec := heraldtest.Tap(t, b, "events")
	m := &herald.Message{Key: "a", Body: "x"}
	mustOK(t, b.Publish(ctx, "events", m))
	heraldtest.Settle(t, b)
	got := rec.Messages()
	if len(got) != 1 || got[0] != m {
		t.Fatalf("Messages() = %v, want the published message itself", got)
	}
	got[0] = nil
	if rec.Messages()[0] != m {
		t.Error("changing what Messages returned changed the recorder")
	}
	if keys := rec.Keys(); len(keys) != 1 || keys[0] != "a" {
		t.Errorf("Keys() = %q", keys)
	}
}

// A broker-wide recorder records a message once for each queue it reaches,
// dead-letter queue included, and not again when it is redelivered.
func TestRecorderHandlerOncePerQueue(t *testing.T) {
	rec := heraldtest.NewRecorder("broker")
	b := heraldtest.NewBroker(t, heraldtest.FailOnUnsettled(), heraldtest.WithBrokerOptions(herald.WithMiddleware(rec.Handler)))
	ctx := timeout(t)
	x := must[*herald.Exchange](t)(b.Exchange("fan", herald.FanoutExchange))
	a := must[*herald.Queue](t)(b.Queue("a", herald.WithBackoff(0, 0), herald.WithMaxDeliveries(2), herald.WithDeadLetter("a.dead")))
	must[*herald.Queue](t)(b.Queue("b"))
	dead := must[*herald.Queue](t)(b.Queue("a.dead"))
	mustOK(t, x.Bind("a", ""))
	mustOK(t, x.Bind("b", ""))
	consume(t, a, func(context.Context, *herald.Delivery) error { return errors.New("always") })
	consume(t, must[*herald.Queue](t)(b.Queue("b")), func(context.Context, *herald.Delivery) error { return nil })
	consume(t, dead, func(context.Context, *herald.Delivery) error { return nil })

	mustOK(t, x.Publish(ctx, herald.NewMessage("m")))
	heraldtest.Settle(t, b)
	heraldtest.AssertBodies(t, rec, "m", "m", "m") // by a, b and a.dead, in any order
	if s := a.Stats(); s.Delivered != 2 || s.DeadLettered != 1 {
		t.Errorf("a: %+v", s)
	}
}

// A tap on an exchange is an observer binding: it records what the real
// bindings route and leaves the rest unroutable, for the alternate
// exchange or for the publisher to see.
func TestTapAndAlternateExchange(t *testing.T) {
	b := heraldtest.NewBroker(t)
	ctx := timeout(t)
	x := must[*herald.Exchange](t)(b.Exchange("tasks", herald.DirectExchange, herald.WithAlternate("unrouted")))
	alt := must[*herald.Exchange](t)(b.Exchange("unrouted", herald.FanoutExchange))
	must[*herald.Queue](t)(b.Queue("email"))
	must[*herald.Queue](t)(b.Queue("lost"))
	mustOK(t, x.Bind("email", "email"))
	mustOK(t, alt.Bind("lost", ""))

	tasks := heraldtest.Tap(t, b, "tasks", heraldtest.Keys("email", "fax"))
	unrouted := heraldtest.Tap(t, b, "unrouted")
	mustOK(t, x.Publish(ctx, &herald.Message{Key: "email"}))
	mustOK(t, x.Publish(ctx, &herald.Message{Key: "fax"}))
	if err := unrouted.WaitFor(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := tasks.WaitFor(ctx, 2); err != nil {
		t.Fatal(err)
	}
	// "fax" was routed through the alternate exchange: both taps saw it.
	heraldtest.AssertKeys(t, tasks, "email", "fax")
	heraldtest.AssertKeys(t, unrouted, "fax")
	if lost := must[*herald.Queue](t)(b.LookupQueue("lost")); lost.Len() != 1 {
		t.Errorf("the alternate's queue holds %d, want 1", lost.Len())
	}

	must[*herald.Exchange](t)(b.Exchange("plain", herald.DirectExchange))
	heraldtest.Tap(t, b, "plain", heraldtest.Keys("fax"))
	if err := b.Publish(ctx, "plain", &herald.Message{Key: "fax"}); !errors.Is(err, herald.ErrUnroutable) {
		t.Errorf("with only a tap on key fax, publish = %v, want ErrUnroutable", err)
	}
}
