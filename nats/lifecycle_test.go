package heraldnats_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	heraldnats "github.com/heraldmq/herald/nats"
)

// Close stops every kind of route and leaves no goroutine of the bridge or
// of the NATS client, while the broker it served keeps running.
func TestCloseLeavesNothing(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	createStream(t, br.JetStream(), "ORDERS", "orders.>")
	mustQueue(t, b, "out")
	mustQueue(t, b, "in")
	mustQueue(t, b, "rpc")
	if _, err := b.Topic("events"); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 30*time.Second)
	routes := []func() (*heraldnats.Route, error){
		func() (*heraldnats.Route, error) { return br.Export(heraldnats.FromQueue("out"), "orders.{key}") },
		func() (*heraldnats.Route, error) { return br.Export(heraldnats.FromTopic("events"), "orders.events") },
		func() (*heraldnats.Route, error) { return br.Import(ctx, "ORDERS", "in", "in") },
		func() (*heraldnats.Route, error) { return br.ExportRequests(heraldnats.FromQueue("rpc"), "svc.rpc") },
		func() (*heraldnats.Route, error) { return br.ImportRequests("svc.other", "rpc") },
	}
	for _, mk := range routes {
		if _, err := mk(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		if err := b.Publish(ctx, "out", &herald.Message{Key: "k", Body: i}); err != nil {
			t.Fatal(err)
		}
	}
	in, _ := b.LookupQueue("in")
	for range 10 {
		d, err := in.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d.Ack()
	}
	if n := len(br.Routes()); n != len(routes) {
		t.Errorf("%d routes running, want %d", n, len(routes))
	}
	first := br.Routes()[0]
	if err := first.Close(); err != nil || len(br.Routes()) != len(routes)-1 {
		t.Errorf("Route.Close: %v; %d routes left", err, len(br.Routes()))
	}
	if !strings.HasPrefix(first.Name(), "export queue out") {
		t.Errorf("route name %q", first.Name())
	}
	// 10 exported, 10 imported (counted just after herald took them).
	waitFor(t, 10*time.Second, "20 forwarded", func() bool { return br.Stats().Forwarded == 20 })
	if err := br.Close(); err != nil {
		t.Fatal(err)
	}
	if leaked := findLeaks(3 * time.Second); len(leaked) > 0 {
		t.Fatalf("%d goroutine(s) left after Close:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
	if err := br.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := br.ImportRequests("x", "rpc"); !errors.Is(err, heraldnats.ErrClosed) {
		t.Errorf("ImportRequests after Close: %v", err)
	}
	if _, err := br.Import(ctx, "ORDERS", "d", "in"); !errors.Is(err, heraldnats.ErrClosed) {
		t.Errorf("Import after Close: %v", err)
	}
	if err := b.Publish(ctx, "out", herald.NewMessage(1)); err != nil {
		t.Errorf("the broker stopped with the bridge: %v", err)
	}
}

// While the server is down an export takes nothing more from herald: messages
// wait there, none is sent into a void or nacked, and they all go once the
// server is back.
func TestExportWaitsWhileDisconnected(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	createStream(t, br.JetStream(), "ORDERS", "orders.>")
	q := mustQueue(t, b, "out", herald.WithMaxDeliveries(1)) // a nack would drop the message
	r, err := br.Export(heraldnats.FromQueue("out"), "orders.x")
	if err != nil {
		t.Fatal(err)
	}
	s.stop()
	waitFor(t, 10*time.Second, "the disconnection", func() bool { return !br.Conn().IsConnected() })
	ctx := testContext(t, 30*time.Second)
	for i := range 20 {
		if err := b.Publish(ctx, "out", herald.NewMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The export may hold the one message it was waiting for when the
	// connection dropped; it sends it once connected.
	if st := q.Stats(); st.Ready+st.Unacked != 20 || st.Unacked > 1 {
		t.Errorf("while disconnected: %d ready, %d unacked: want all 20 waiting in herald", st.Ready, st.Unacked)
	}
	s.start()
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	if st := q.Stats(); st.Acked != 20 || st.Rejected != 0 {
		t.Errorf("queue stats %+v: want 20 acked, none dropped", st)
	}
	if st := r.Stats(); st.Forwarded != 20 || st.Failed != 0 {
		t.Errorf("route stats %+v", st)
	}
}

// Close while the server is down does not wait for PubAcks that cannot
// come beyond the drain timeout: what was in flight is nacked back to
// herald, where it waits, and nothing is left unacked.
func TestCloseWhileDisconnected(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s, heraldnats.WithDrainTimeout(100*time.Millisecond))
	createStream(t, br.JetStream(), "ORDERS", "orders.>")
	q := mustQueue(t, b, "out", herald.WithCapacity(10000))
	if _, err := br.Export(heraldnats.FromQueue("out"), "orders.x", heraldnats.WithPublishTimeout(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 30*time.Second)
	for i := range 5000 {
		if err := b.Publish(ctx, "out", herald.NewMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.stop() // in the middle of the export
	start := time.Now()
	br.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v", d)
	}
	st := q.Stats()
	if st.Unacked != 0 || st.Acked+uint64(st.Ready+st.Delayed) != 5000 {
		t.Errorf("after Close: %+v: want every message acked or back in the queue", st)
	}
	t.Logf("after Close: %d acked, %d ready, %d delayed", st.Acked, st.Ready, st.Delayed)
}
