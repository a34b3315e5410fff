package heraldnats_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	heraldnats "github.com/heraldmq/herald/nats"
	"github.com/nats-io/nats.go/jetstream"
)

// publishJS publishes n messages to the stream as a plain NATS client
// would: JSON bodies, no herald headers.
func publishJS(t *testing.T, js jetstream.JetStream, subject string, n int) {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	for i := range n {
		data := fmt.Appendf(nil, `{"id":%d,"total":%d.5}`, i, i)
		if _, err := js.Publish(ctx, subject, data, jetstream.WithMsgID(fmt.Sprint("o-", i))); err != nil {
			t.Fatal(err)
		}
	}
}

// Bodies arrive as []byte that Typed[T] decodes; ID, Key and Time come from
// the JetStream message.
func TestImportTyped(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	createStream(t, br.JetStream(), "ORDERS", "orders.>")
	publishJS(t, br.JetStream(), "orders.created", 20)
	q := mustQueue(t, b, "orders")
	ctx := testContext(t, 30*time.Second)
	r, err := br.Import(ctx, "ORDERS", "herald", "orders")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan order, 20)
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		done <- q.Consume(cctx, herald.TypedDelivery(func(_ context.Context, o order, d *herald.Delivery) error {
			if d.ID != fmt.Sprint("o-", o.ID) || d.Key != "orders.created" || d.Time.IsZero() {
				t.Errorf("message %+v: ID %q, Key %q, Time %v", o, d.ID, d.Key, d.Time)
			}
			got <- o
			return nil
		}))
	}()
	for i := range 20 {
		if o := <-got; o.ID != i || o.Total != float64(i)+0.5 {
			t.Fatalf("got %+v, want order %d in order", o, i)
		}
	}
	stop()
	<-done
	waitFor(t, 10*time.Second, "20 acks", func() bool { return r.Stats().Acked == 20 })
	if st := r.Stats(); st.Forwarded != 20 || st.Failed != 0 || st.Lag != 0 {
		t.Errorf("stats %+v", st)
	}
}

// A round trip through two brokers: exported by one, imported by the other
// with DecodeBody, so that a plain type assertion finds the producer's type.
func TestRoundTrip(t *testing.T) {
	s := startServer(t)
	b1, b2 := newBroker(t), newBroker(t)
	br1, br2 := connect(t, b1, s), connect(t, b2, s)
	createStream(t, br1.JetStream(), "ORDERS", "orders.>")
	mustQueue(t, b1, "orders")
	if _, err := br1.Export(heraldnats.FromQueue("orders"), "orders.{key}"); err != nil {
		t.Fatal(err)
	}
	in := mustQueue(t, b2, "orders-in")
	ctx := testContext(t, 30*time.Second)
	if _, err := br2.Import(ctx, "ORDERS", "b2", "orders-in", heraldnats.DecodeBody[order]()); err != nil {
		t.Fatal(err)
	}
	const n = 200
	for i := range n {
		m := &herald.Message{Key: "eu", Body: order{ID: i}, Headers: herald.Headers{"n": fmt.Sprint(i)}, CorrelationID: "c"}
		if err := b1.Publish(ctx, "orders", m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		d, err := in.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		o, ok := d.Body.(order)
		if !ok || o.ID != i || d.Key != "eu" || d.Headers["n"] != fmt.Sprint(i) || d.CorrelationID != "c" {
			t.Fatalf("delivery %d: body %#v, key %q, headers %v", i, d.Body, d.Key, d.Headers)
		}
		d.Ack()
	}
}

// A full herald queue refuses imports: they are nakked, redelivered by
// JetStream after the nak delay, and all arrive once there is room.
func TestImportFullQueue(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	createStream(t, br.JetStream(), "ORDERS", "orders.>")
	const n = 50
	publishJS(t, br.JetStream(), "orders.created", n)
	q := mustQueue(t, b, "orders", herald.WithCapacity(5), herald.WithOverflow(herald.OverflowReject))
	ctx := testContext(t, 60*time.Second)
	r, err := br.Import(ctx, "ORDERS", "herald", "orders", heraldnats.WithNakDelay(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// Nothing consumes yet: the queue fills, the rest is refused.
	waitFor(t, 10*time.Second, "refusals", func() bool { return r.Stats().Failed >= n-5 })
	if q.Len() != 5 {
		t.Fatalf("queue holds %d, want 5", q.Len())
	}
	seen := map[string]int{}
	for len(seen) < n {
		d, err := q.Receive(ctx)
		if err != nil {
			t.Fatalf("after %d of %d: %v", len(seen), n, err)
		}
		seen[d.ID]++
		d.Ack()
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s received %d times", id, k)
		}
	}
	waitFor(t, 10*time.Second, "every ack", func() bool { return r.Stats().Acked == n })
	st := r.Stats()
	if st.Redelivered < n-5 || st.Forwarded != n || st.Acked != n {
		t.Errorf("stats %+v: want %d forwarded and acked, at least %d redelivered", st, n, n-5)
	}
}

// With AckWhenHandled the JetStream message waits for the herald handler:
// a failure hands it back to JetStream, which redelivers it; a permanent
// failure terminates it.
func TestImportAckWhenHandled(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	createStream(t, br.JetStream(), "ORDERS", "orders.>")
	publishJS(t, br.JetStream(), "orders.created", 3) // o-0 ok, o-1 fails once, o-2 is poison
	mustQueue(t, b, "dead")
	q := mustQueue(t, b, "orders", herald.WithDeadLetter("dead"))
	ctx := testContext(t, 30*time.Second)
	r, err := br.Import(ctx, "ORDERS", "herald", "orders", heraldnats.AckWhenHandled(), heraldnats.WithNakDelay(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	handled := make(chan string, 10)
	calls := map[int]int{}
	h := herald.TypedDelivery(func(_ context.Context, o order, d *herald.Delivery) error {
		calls[o.ID]++
		handled <- fmt.Sprint(d.ID, "#", calls[o.ID])
		switch {
		case o.ID == 1 && calls[o.ID] == 1:
			return errors.New("transient")
		case o.ID == 2:
			return herald.Permanent(errors.New("poison"))
		}
		return nil
	})
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- q.Consume(cctx, h, herald.WithMiddleware(br.AckMiddleware())) }()
	want := map[string]bool{"o-0#1": true, "o-1#1": true, "o-1#2": true, "o-2#1": true}
	for len(want) > 0 {
		got := <-handled
		if !want[got] {
			t.Fatalf("unexpected handling %s", got)
		}
		delete(want, got)
	}
	d, err := mustLookup(t, b, "dead").Receive(ctx)
	if err != nil || d.ID != "o-2" {
		t.Fatalf("dead letter %v, %v: want o-2", d, err)
	}
	d.Ack()
	stop()
	<-done
	cons, err := br.JetStream().Consumer(ctx, "ORDERS", "herald")
	if err != nil {
		t.Fatal(err)
	}
	// Acks are sent without waiting for the server: look until it has them.
	waitFor(t, 10*time.Second, "the consumer to have every ack", func() bool {
		info, err := cons.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.NumAckPending == 0 && info.NumPending == 0 && info.NumRedelivered == 0
	})
	waitFor(t, 10*time.Second, "2 acks", func() bool { return r.Stats().Acked == 2 })
	st := r.Stats()
	if st.Forwarded != 4 || st.Acked != 2 || st.Failed != 2 || st.Redelivered != 1 {
		t.Errorf("stats %+v: want 4 forwarded, 2 acked, 2 failed, 1 redelivered", st)
	}
	if n := br.PendingAcks(); n != 0 {
		t.Errorf("%d acks still pending", n)
	}
}

func mustLookup(t *testing.T, b *herald.Broker, name string) *herald.Queue {
	t.Helper()
	q, err := b.LookupQueue(name)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// A body that does not decode into the import's type is terminated, not
// redelivered forever, and counted.
func TestImportDecodeFailure(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	createStream(t, br.JetStream(), "ORDERS", "orders.>")
	ctx := testContext(t, 30*time.Second)
	if _, err := br.JetStream().Publish(ctx, "orders.bad", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	publishJS(t, br.JetStream(), "orders.good", 1)
	q := mustQueue(t, b, "orders")
	r, err := br.Import(ctx, "ORDERS", "herald", "orders", heraldnats.DecodeBody[order]())
	if err != nil {
		t.Fatal(err)
	}
	d, err := q.Receive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := d.Body.(order); !ok || o.ID != 0 {
		t.Fatalf("body %#v", d.Body)
	}
	d.Ack()
	waitFor(t, 10*time.Second, "the good message's ack", func() bool { return r.Stats().Acked == 1 })
	if st := r.Stats(); st.Failed != 1 || st.Forwarded != 1 {
		t.Errorf("stats %+v: want 1 failed, 1 forwarded", st)
	}
}

func TestImportInvalid(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	createStream(t, br.JetStream(), "ORDERS", "orders.>")
	ctx := testContext(t, 10*time.Second)
	for _, tc := range []struct {
		stream, durable, dest string
		opts                  []heraldnats.ImportOption
		want                  error
	}{
		{"", "d", "q", nil, heraldnats.ErrInvalid},
		{"ORDERS", "a.b", "q", nil, heraldnats.ErrInvalid},
		{"ORDERS", "d", "", nil, heraldnats.ErrInvalid},
		{"ORDERS", "d", "q", []heraldnats.ImportOption{heraldnats.WithBatch(0)}, heraldnats.ErrInvalid},
		{"ORDERS", "d", "q", []heraldnats.ImportOption{heraldnats.FilterSubjects("a..b")}, heraldnats.ErrInvalid},
		{"NOPE", "d", "q", nil, jetstream.ErrStreamNotFound},
	} {
		if _, err := br.Import(ctx, tc.stream, tc.durable, tc.dest, tc.opts...); !errors.Is(err, tc.want) {
			t.Errorf("Import(%q, %q, %q): %v, want %v", tc.stream, tc.durable, tc.dest, err, tc.want)
		}
	}
}
