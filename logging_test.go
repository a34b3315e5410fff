package herald

import (
	"context"
	"github.com/heraldmq/herald/internal/testlog"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
)

// A handler's panic is logged with where the message came from, its key,
// and the stack of the panic.
func TestPanicLogNamesSourceKeyAndStack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf testlog.Buffer
		b := newTestBroker(t, WithLogger(testlog.New(&buf, slog.LevelWarn)))
		q := mustQueue(t, b, "orders", WithMaxDeliveries(1))
		startConsumer(t, q, func(context.Context, *Delivery) error { panic("kaboom") })
		publishMsg(t, q, &Message{ID: "m1", Key: "order.placed", Body: 1})
		waitIdle(t, b)
		got := buf.String()
		for _, want := range []string{`msg="handler panicked"`, "source=orders", "id=m1", "key=order.placed", "panic=kaboom",
			"stack=", "TestPanicLogNamesSourceKeyAndStack"} {
			if !strings.Contains(got, want) {
				t.Errorf("panic log lacks %s:\n%s", want, got)
			}
		}
	})
}

// With no logger given, herald logs through slog.Default(), so that a
// panic or a lost dead letter is never silent.
func TestDefaultLoggerIsSlogDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf testlog.Buffer
		defer slog.SetDefault(slog.Default())
		slog.SetDefault(testlog.New(&buf, slog.LevelWarn))
		b := newTestBroker(t)
		q := mustQueue(t, b, "orders", WithMaxDeliveries(1))
		startConsumer(t, q, func(context.Context, *Delivery) error { panic("kaboom") })
		publishMsg(t, q, &Message{ID: "m1", Body: 1})
		waitIdle(t, b)
		if got := buf.String(); !strings.Contains(got, `msg="handler panicked" source=orders`) {
			t.Errorf("slog.Default() got:\n%s\nwant the panic logged", got)
		}
	})
}

// A Delivery says where it came from.
func TestDeliverySource(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "orders")
	tp, _ := b.Topic("events")
	plain, _ := tp.Subscribe()
	member, _ := tp.Subscribe(WithGroup("billing"))
	publishOrFail(t, q, 1)
	tp.Publish(context.Background(), NewMessage(2))
	for _, c := range []struct {
		receive func(context.Context) (*Delivery, error)
		want    string
	}{{q.Receive, "orders"}, {plain.Receive, "events"}, {member.Receive, "events/billing"}} {
		d, err := c.receive(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Source(); got != c.want {
			t.Errorf("Source() = %q, want %q", got, c.want)
		}
		d.Ack()
	}
	if got := (&Delivery{Message: NewMessage(1)}).Source(); got != "" {
		t.Errorf("Source() of a Delivery herald did not make = %q, want empty", got)
	}
}

// The first settle through a delivery whose handler has returned is
// logged, once, naming the queue.
func TestLateSettleIsLoggedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf testlog.Buffer
		b := newTestBroker(t, WithLogger(testlog.New(&buf, slog.LevelWarn)))
		q := mustQueue(t, b, "orders")
		var kept []*Delivery
		startConsumer(t, q, func(_ context.Context, d *Delivery) error {
			kept = append(kept, d)
			return nil
		})
		publishOrFail(t, q, 1)
		publishOrFail(t, q, 2)
		waitIdle(t, b)
		for _, d := range kept {
			if err := d.Ack(); err != ErrSettled {
				t.Errorf("late Ack = %v, want ErrSettled", err)
			}
		}
		got := buf.String()
		if n := strings.Count(got, "delivery settled after its handler returned"); n != 1 || !strings.Contains(got, "source=orders") {
			t.Errorf("logged:\n%s\nwant one warning naming the queue", got)
		}
	})
}

// A dead-letter destination that is not declared when a consumer starts
// is most likely a typo: herald warns once, rather than only when a
// message dies and its dead letter is lost.
func TestUndeclaredDeadLetterWarnsAtConsume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf testlog.Buffer
		b := newTestBroker(t, WithLogger(testlog.New(&buf, slog.LevelWarn)))
		typo := mustQueue(t, b, "orders", WithDeadLetter("ordrs.dead"))
		fine := mustQueue(t, b, "payments", WithDeadLetter("payments.dead"))
		mustQueue(t, b, "payments.dead") // declared after its queue: fine
		h := func(context.Context, *Delivery) error { return nil }
		startConsumer(t, typo, h)
		startConsumer(t, typo, h)
		startConsumer(t, fine, h)
		synctest.Wait()
		got := buf.String()
		want := `level=WARN msg="dead-letter destination not declared: dead letters will be lost" source=orders destination=ordrs.dead` + "\n"
		if got != want {
			t.Errorf("logged:\n%s\nwant once:\n%s", got, want)
		}
	})
}
