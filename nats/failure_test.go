package heraldnats_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	heraldnats "github.com/heraldmq/herald/nats"
)

// collect consumes the queue, sending each message's ID to the returned
// channel, until the test ends.
func collect(t *testing.T, q *herald.Queue) <-chan string {
	t.Helper()
	ids := make(chan string, 1024)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Consume(ctx, func(_ context.Context, d *herald.Delivery) error {
			ids <- d.ID
			return nil
		})
	}()
	t.Cleanup(func() { stop(); <-done })
	return ids
}

// receiveAll reads IDs until every one of want has come, failing on an ID
// it did not expect or after timeout. It returns how many came twice.
func receiveAll(t *testing.T, ids <-chan string, want map[string]bool, timeout time.Duration) (dups int) {
	t.Helper()
	seen := map[string]bool{}
	deadline := time.After(timeout)
	for len(seen) < len(want) {
		select {
		case id := <-ids:
			if !want[id] {
				t.Fatalf("unexpected message %q", id)
			}
			if seen[id] {
				dups++
			}
			seen[id] = true
		case <-deadline:
			t.Fatalf("timed out with %d of %d messages", len(seen), len(want))
		}
	}
	return dups
}

// The server stops in the middle of a stream and comes back: a producer
// keeps publishing throughout, messages published meanwhile wait in herald,
// those in flight are sent again, and every message arrives on the far side
// once (the destination's WithDedup drops what JetStream redelivers after a
// lost ack).
func TestServerRestart(t *testing.T) {
	s := startServer(t)
	b1, b2 := newBroker(t), newBroker(t)
	br1, br2 := connect(t, b1, s), connect(t, b2, s)
	createStream(t, br1.JetStream(), "ORDERS", "orders.>")
	out := mustQueue(t, b1, "orders")
	exp, err := br1.Export(heraldnats.FromQueue("orders"), "orders.{key}", heraldnats.WithPublishTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	in := mustQueue(t, b2, "orders-in", herald.WithDedup(time.Minute))
	ctx := testContext(t, 90*time.Second)
	imp, err := br2.Import(ctx, "ORDERS", "b2", "orders-in", heraldnats.WithAckWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ids := collect(t, in)
	const n = 3000
	want := map[string]bool{}
	for i := range n {
		want[fmt.Sprint("m-", i)] = true
	}
	produced := make(chan error, 1)
	go func() {
		for i := range n {
			if err := b1.Publish(ctx, "orders", &herald.Message{ID: fmt.Sprint("m-", i), Key: "k", Body: i}); err != nil {
				produced <- err
				return
			}
		}
		produced <- nil
	}()
	seen := map[string]bool{}
	for len(seen) < n/4 {
		seen[<-ids] = true
	}
	s.stop()
	waitFor(t, 10*time.Second, "messages waiting in herald", func() bool { return out.Len() > 0 })
	s.start()
	dups := 0
	for id := range seen {
		delete(want, id)
	}
	dups += receiveAll(t, ids, want, 60*time.Second)
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	if dups != 0 {
		t.Errorf("%d duplicates reached the handler", dups)
	}
	if err := b1.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	// The route counts an ack just after herald took it.
	waitFor(t, 10*time.Second, "the export's acks", func() bool { return exp.Stats().Acked == n })
	if st := exp.Stats(); st.Forwarded < n {
		t.Errorf("export stats %+v: want %d forwarded", st, n)
	}
	if st := in.Stats(); st.Published != n {
		t.Errorf("destination took %d messages, want %d", st.Published, n)
	}
	t.Logf("export %+v; import %+v", exp.Stats(), imp.Stats())
}

// A bridge that dies between the PubAck and the herald ack leaves its
// messages unacked in herald; the ack timeout hands them to the next
// bridge, which sends them again with the same Nats-Msg-Id, and the stream
// stores each once.
func TestDedupAfterCrash(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	const n, crashAt = 40, 10
	var (
		mu      sync.Mutex
		acked   int
		crashed = make(chan struct{})
		lost    atomic.Int64 // PubAcked, never acked in herald
	)
	hook := heraldnats.WithAfterPubAck(func(*herald.Delivery) bool {
		mu.Lock()
		defer mu.Unlock()
		if acked < crashAt {
			acked++
			if acked == crashAt {
				close(crashed)
			}
			return true
		}
		lost.Add(1)
		return false
	})
	br1, err := heraldnats.Connect(b, s.url(), hook)
	if err != nil {
		t.Fatal(err)
	}
	createStream(t, br1.JetStream(), "ORDERS", "orders.>")
	q := mustQueue(t, b, "orders", herald.WithAckTimeout(300*time.Millisecond))
	if _, err := br1.Export(heraldnats.FromQueue("orders"), "orders.x"); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 60*time.Second)
	for i := range n {
		if err := b.Publish(ctx, "orders", herald.NewMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	<-crashed
	br1.Close()
	if lost.Load() == 0 {
		t.Fatal("the crash lost no ack")
	}
	br2 := connect(t, b, s)
	r2, err := br2.Export(heraldnats.FromQueue("orders"), "orders.x")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := br2.JetStream().Stream(ctx, "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	if got := streamMsgs(t, st); got != n {
		t.Errorf("stream has %d messages, want %d", got, n)
	}
	if qs := q.Stats(); qs.Acked != n {
		t.Errorf("queue stats %+v, want %d acked", qs, n)
	}
	if d := r2.Stats().Duplicates; d < uint64(lost.Load()) {
		t.Errorf("second bridge saw %d duplicates, want at least the %d lost acks", d, lost.Load())
	}
	t.Logf("%d acks lost in the crash, %d duplicates dropped by the stream", lost.Load(), r2.Stats().Duplicates)
}
