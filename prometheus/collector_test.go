package heraldprom_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/internal/leak"
	heraldprom "github.com/heraldmq/herald/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// newBroker returns a broker reporting to c (if not nil), closed when the
// test ends, after which the test fails if a goroutine of herald is left
// running.
func newBroker(t *testing.T, c *heraldprom.Collector) *herald.Broker {
	t.Helper()
	var opts []herald.Option
	if c != nil {
		opts = append(opts, herald.WithObserver(c.Observer()))
	}
	b := herald.New(opts...)
	t.Cleanup(func() {
		b.Close()
		if leaked := leak.Find(2 * time.Second); len(leaked) > 0 {
			t.Error(leak.Report(leaked))
		}
	})
	return b
}

func receive(t *testing.T, r interface {
	Receive(context.Context) (*herald.Delivery, error)
}) *herald.Delivery {
	t.Helper()
	d, err := r.Receive(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func publish(t *testing.T, b *herald.Broker, name string, m *herald.Message) {
	t.Helper()
	if err := b.Publish(context.Background(), name, m); err != nil {
		t.Fatalf("Publish to %q: %v", name, err)
	}
}

// compare checks the collector's exposition of the named metrics.
func compare(t *testing.T, c prometheus.Collector, want string, names ...string) {
	t.Helper()
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

// TestCollectorExposition drives a broker through acks, rejects, dead
// letters, an expiry and an unroutable publish, and checks the whole
// exposition text.
func TestCollectorExposition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := heraldprom.New()
		b := newBroker(t, c)
		c.Watch(b)
		b.Queue("dead")
		orders, _ := b.Queue("orders", herald.WithDeadLetter("dead"))
		b.Queue("stale", herald.WithTTL(time.Second), herald.WithDeadLetter("dead"))
		prices, _ := b.Topic("prices")
		reader, _ := prices.Subscribe()
		audit, _ := prices.Subscribe(herald.WithGroup("audit"))
		b.Exchange("nowhere", herald.FanoutExchange)

		publish(t, b, "orders", herald.NewMessage(1))
		publish(t, b, "orders", herald.NewMessage(2))
		receive(t, orders).Ack()
		receive(t, orders).Reject() // dead-lettered
		publish(t, b, "stale", herald.NewMessage(1))
		time.Sleep(2 * time.Second) // expired, dead-lettered
		if err := b.Publish(context.Background(), "nowhere", herald.NewMessage(1)); err == nil {
			t.Fatal("a publish to an exchange without bindings succeeded")
		}
		for i := range 3 {
			publish(t, b, "prices", herald.NewMessage(i))
		}
		receive(t, reader).Ack()
		d := receive(t, audit) // unacked
		defer d.Ack()

		compare(t, c, `
# HELP herald_queue_messages_ready Messages ready to be delivered to consumers.
# TYPE herald_queue_messages_ready gauge
herald_queue_messages_ready{queue="dead"} 2
herald_queue_messages_ready{queue="orders"} 0
herald_queue_messages_ready{queue="stale"} 0
# HELP herald_queue_messages Messages in the queue: ready, unacked, delayed and scheduled.
# TYPE herald_queue_messages gauge
herald_queue_messages{queue="dead"} 2
herald_queue_messages{queue="orders"} 0
herald_queue_messages{queue="stale"} 0
# HELP herald_queue_messages_published_total Messages published to the queue.
# TYPE herald_queue_messages_published_total counter
herald_queue_messages_published_total{queue="dead"} 2
herald_queue_messages_published_total{queue="orders"} 2
herald_queue_messages_published_total{queue="stale"} 1
# HELP herald_queue_messages_dead_lettered_total Messages published to the queue's dead-letter destination.
# TYPE herald_queue_messages_dead_lettered_total counter
herald_queue_messages_dead_lettered_total{queue="dead"} 0
herald_queue_messages_dead_lettered_total{queue="orders"} 1
herald_queue_messages_dead_lettered_total{queue="stale"} 1
# HELP herald_queue_messages_expired_total Messages that expired before delivery.
# TYPE herald_queue_messages_expired_total counter
herald_queue_messages_expired_total{queue="dead"} 0
herald_queue_messages_expired_total{queue="orders"} 0
herald_queue_messages_expired_total{queue="stale"} 1
# HELP herald_topic_messages_retained Messages in the topic's ring, readable by a new subscription.
# TYPE herald_topic_messages_retained gauge
herald_topic_messages_retained{topic="prices"} 3
# HELP herald_topic_messages_published_total Messages written to the topic.
# TYPE herald_topic_messages_published_total counter
herald_topic_messages_published_total{topic="prices"} 3
# HELP herald_subscription_lag Messages published to the topic and not yet read: a group's, or the largest among plain subscriptions (group "").
# TYPE herald_subscription_lag gauge
herald_subscription_lag{group="",topic="prices"} 2
herald_subscription_lag{group="audit",topic="prices"} 2
# HELP herald_subscription_messages_unacked Messages delivered and not yet settled: a group's, or the sum over plain subscriptions (group "").
# TYPE herald_subscription_messages_unacked gauge
herald_subscription_messages_unacked{group="",topic="prices"} 0
herald_subscription_messages_unacked{group="audit",topic="prices"} 1
# HELP herald_messages_published_total Messages published by producers (one per publish, however many destinations an exchange routes it to).
# TYPE herald_messages_published_total counter
herald_messages_published_total 6
# HELP herald_messages_unroutable_total Publishes that an exchange routed nowhere (ErrUnroutable).
# TYPE herald_messages_unroutable_total counter
herald_messages_unroutable_total 1
# HELP herald_messages_delivered_total Deliveries handed to consumers, redeliveries included.
# TYPE herald_messages_delivered_total counter
herald_messages_delivered_total 4
# HELP herald_messages_acked_total Deliveries acknowledged.
# TYPE herald_messages_acked_total counter
herald_messages_acked_total 2
# HELP herald_messages_rejected_total Messages rejected, or failed at the max deliveries.
# TYPE herald_messages_rejected_total counter
herald_messages_rejected_total 1
# HELP herald_messages_expired_total Messages that expired (TTL, or a topic's max age) before delivery.
# TYPE herald_messages_expired_total counter
herald_messages_expired_total 1
# HELP herald_messages_dead_lettered_total Messages published to a dead-letter destination, by why they died.
# TYPE herald_messages_dead_lettered_total counter
herald_messages_dead_lettered_total{reason="delivery-limit"} 0
herald_messages_dead_lettered_total{reason="expired"} 1
herald_messages_dead_lettered_total{reason="maxlen"} 0
herald_messages_dead_lettered_total{reason="rejected"} 1
`, "herald_queue_messages_ready", "herald_queue_messages", "herald_queue_messages_published_total",
			"herald_queue_messages_dead_lettered_total", "herald_queue_messages_expired_total",
			"herald_topic_messages_retained", "herald_topic_messages_published_total",
			"herald_subscription_lag", "herald_subscription_messages_unacked",
			"herald_messages_published_total", "herald_messages_unroutable_total", "herald_messages_delivered_total",
			"herald_messages_acked_total", "herald_messages_rejected_total", "herald_messages_expired_total",
			"herald_messages_dead_lettered_total")

		if err := testutil.CollectAndCompare(c, strings.NewReader("")); err == nil {
			t.Error("CollectAndCompare found no metric at all")
		}
		// Every metric the collector reports is well formed and described.
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c)
		if _, err := reg.Gather(); err != nil {
			t.Error(err)
		}
	})
}

// TestCollectorCountersMonotonic checks that a destination's counters
// never go down: not when its broker is replaced by one where the name
// starts from zero, nor while the name is gone.
func TestCollectorCountersMonotonic(t *testing.T) {
	c := heraldprom.New()
	b1 := newBroker(t, c)
	c.Watch(b1)
	q1, _ := b1.Queue("orders")
	b1.Queue("gone")
	publish(t, b1, "orders", herald.NewMessage(1))
	publish(t, b1, "orders", herald.NewMessage(2))
	publish(t, b1, "gone", herald.NewMessage(1))
	receive(t, q1).Ack()
	want := func(orders, gone, acked int) string {
		return strings.NewReplacer("ORDERS", strconv.Itoa(orders), "GONE", strconv.Itoa(gone), "ACKED", strconv.Itoa(acked)).Replace(`
# HELP herald_queue_messages_published_total Messages published to the queue.
# TYPE herald_queue_messages_published_total counter
herald_queue_messages_published_total{queue="gone"} GONE
herald_queue_messages_published_total{queue="orders"} ORDERS
# HELP herald_queue_messages_acked_total Messages acknowledged by consumers.
# TYPE herald_queue_messages_acked_total counter
herald_queue_messages_acked_total{queue="gone"} 0
herald_queue_messages_acked_total{queue="orders"} ACKED
`)
	}
	compare(t, c, want(2, 1, 1), "herald_queue_messages_published_total", "herald_queue_messages_acked_total")

	// The same names on a new broker start from zero; the counters do not.
	b2 := newBroker(t, c)
	c.Watch(b2)
	q2, _ := b2.Queue("orders")
	compare(t, c, want(2, 1, 1), "herald_queue_messages_published_total", "herald_queue_messages_acked_total")
	publish(t, b2, "orders", herald.NewMessage(3))
	receive(t, q2).Ack()
	compare(t, c, want(3, 1, 2), "herald_queue_messages_published_total", "herald_queue_messages_acked_total")
	// "gone" comes back, and goes on from 1.
	b2.Queue("gone")
	publish(t, b2, "gone", herald.NewMessage(1))
	compare(t, c, want(3, 2, 2), "herald_queue_messages_published_total", "herald_queue_messages_acked_total")
}

// TestCollectorLint checks every metric's name, type and help against
// Prometheus's own linter.
func TestCollectorLint(t *testing.T) {
	c := heraldprom.New()
	b := newBroker(t, c)
	c.Watch(b)
	b.Queue("q")
	tp, _ := b.Topic("t")
	tp.Subscribe()
	tp.Subscribe(herald.WithGroup("g"))
	publish(t, b, "q", herald.NewMessage(1))
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n := testutil.CollectAndCount(c); n < 30 {
		t.Errorf("%d metrics collected, want every one of them", n)
	}
}

// TestCollectorWithoutObserver checks that a collector whose Observer was
// never installed reports no broker-wide counters, rather than zeros that
// would look like an idle broker.
func TestCollectorWithoutObserver(t *testing.T) {
	c := heraldprom.New()
	b := newBroker(t, nil)
	c.Watch(b)
	b.Queue("q")
	if n := testutil.CollectAndCount(c, "herald_messages_published_total"); n != 0 {
		t.Errorf("herald_messages_published_total reported %d times without an observer", n)
	}
	if n := testutil.CollectAndCount(c, "herald_queue_messages_ready"); n != 1 {
		t.Errorf("herald_queue_messages_ready reported %d times, want 1", n)
	}
}

// TestObserverAllocatesNothing checks the collector's claim that its hooks
// cost a message no allocation.
func TestObserverAllocatesNothing(t *testing.T) {
	o := heraldprom.New().Observer()
	ctx := context.Background()
	m := herald.NewMessage(1)
	p := herald.PublishInfo{Place: herald.Place{Name: "q", Kind: "queue"}, Message: m}
	d := herald.DeliverInfo{Place: p.Place, Delivery: &herald.Delivery{Message: m}}
	e := herald.EndInfo{Place: p.Place, Message: m, Outcome: herald.OutcomeRejected, Reason: herald.ReasonRejected, DeadLetter: "dlq"}
	if n := testing.AllocsPerRun(100, func() {
		_, done := o.Publish(ctx, p)
		done(nil)
		o.Deliver(ctx, d)
		o.End(e)
	}); n != 0 {
		t.Errorf("%v allocations per message", n)
	}
}
