package herald

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// browsedBodies returns the bodies of ms, in order.
func browsedBodies(ms []BrowsedMessage) []any {
	var out []any
	for _, m := range ms {
		out = append(out, m.Body)
	}
	return out
}

func TestQueueBrowseConsumesNothing(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	for i := range 5 {
		publishOrFail(t, q, i)
	}
	before := q.Stats()
	if got := browsedBodies(q.Browse(3)); !slices.Equal(got, []any{0, 1, 2}) {
		t.Fatalf("Browse(3) = %v, want [0 1 2]", got)
	}
	if got := browsedBodies(q.Browse(100)); !slices.Equal(got, []any{0, 1, 2, 3, 4}) {
		t.Fatalf("Browse(100) = %v, want all five", got)
	}
	if got := q.Stats(); got != before {
		t.Fatalf("Browse changed stats:\n got %+v\nwant %+v", got, before)
	}
	// The browsed messages are still handed out, in order.
	for i := range 5 {
		d := receiveOrFail(t, q)
		wantBody(t, d, i, 1)
		settleOrFail(t, d.Ack)
	}
}

func TestQueueBrowseNothing(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	if got := q.Browse(10); got != nil {
		t.Fatalf("Browse of an empty queue = %v, want nil", got)
	}
	publishOrFail(t, q, "x")
	for _, n := range []int{0, -1} {
		if got := q.Browse(n); got != nil {
			t.Fatalf("Browse(%d) = %v, want nil", n, got)
		}
	}
}

func TestQueueBrowseSkipsUnacked(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithBackoff(0, 0))
	publishOrFail(t, q, "a")
	publishOrFail(t, q, "b")
	d := receiveOrFail(t, q)
	if got := browsedBodies(q.Browse(10)); !slices.Equal(got, []any{"b"}) {
		t.Fatalf("Browse with a unacked = %v, want [b]", got)
	}
	settleOrFail(t, d.Nack) // a is ready again, behind b, delivered once
	got := q.Browse(10)
	if !slices.Equal(browsedBodies(got), []any{"b", "a"}) || got[0].Deliveries != 0 || got[1].Deliveries != 1 {
		t.Fatalf("Browse after a nack = %+v, want b (0 deliveries) then a (1)", got)
	}
}

func TestQueueBrowsePriorityOrder(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithPriorities(3))
	for i, p := range []uint8{0, 2, 1, 2} {
		if err := q.Publish(context.Background(), &Message{Body: i, Priority: p}); err != nil {
			t.Fatal(err)
		}
	}
	want := []any{1, 3, 2, 0}
	if got := browsedBodies(q.Browse(10)); !slices.Equal(got, want) {
		t.Fatalf("Browse = %v, want %v (highest priority first, FIFO within)", got, want)
	}
	for _, w := range want {
		d := receiveOrFail(t, q)
		wantBody(t, d, w, 1)
		settleOrFail(t, d.Ack)
	}
}

func TestQueueBrowseSkipsExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		ctx := context.Background()
		if err := q.Publish(ctx, &Message{Body: "short", TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		publishOrFail(t, q, "long")
		if got := browsedBodies(q.Browse(10)); !slices.Equal(got, []any{"short", "long"}) {
			t.Fatalf("Browse = %v", got)
		}
		time.Sleep(time.Second)
		if got := browsedBodies(q.Browse(10)); !slices.Equal(got, []any{"long"}) {
			t.Fatalf("Browse after the TTL = %v, want [long]", got)
		}
	})
}

// topicWindow returns the (seq, body) pairs of ms.
func topicWindow(ms []BrowsedMessage) [][2]any {
	var out [][2]any
	for _, m := range ms {
		out = append(out, [2]any{m.Seq, m.Body})
	}
	return out
}

func TestTopicBrowseWindow(t *testing.T) {
	b := newTestBroker(t)
	tp, err := b.Topic("t", WithCapacity(4))
	if err != nil {
		t.Fatal(err)
	}
	if got := tp.Browse(0, 10); got != nil {
		t.Fatalf("Browse of an empty topic = %v", got)
	}
	for i := 1; i <= 6; i++ { // no subscription holds the ring back
		if err := tp.Publish(context.Background(), NewMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		from uint64
		n    int
		want [][2]any
	}{
		{0, 10, [][2]any{{uint64(3), 3}, {uint64(4), 4}, {uint64(5), 5}, {uint64(6), 6}}},
		{1, 2, [][2]any{{uint64(3), 3}, {uint64(4), 4}}}, // 1 and 2 are overwritten
		{5, 10, [][2]any{{uint64(5), 5}, {uint64(6), 6}}},
		{6, 1, [][2]any{{uint64(6), 6}}},
		{7, 10, nil},
		{3, 0, nil},
		{3, -1, nil},
	} {
		if got := topicWindow(tp.Browse(c.from, c.n)); !slices.Equal(got, c.want) {
			t.Errorf("Browse(%d, %d) = %v, want %v", c.from, c.n, got, c.want)
		}
	}
	// The last n, as the doc says.
	n := 2
	if got := topicWindow(tp.Browse(tp.Stats().Published-uint64(n)+1, n)); !slices.Equal(got, [][2]any{{uint64(5), 5}, {uint64(6), 6}}) {
		t.Errorf("the last two = %v", got)
	}
}

func TestTopicBrowseMovesNoCursor(t *testing.T) {
	b := newTestBroker(t)
	tp, _ := b.Topic("t")
	s, err := tp.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 3 {
		if err := tp.Publish(context.Background(), NewMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	tp.Browse(0, 10)
	if lag := s.Stats().Lag; lag != 3 {
		t.Fatalf("lag after Browse = %d, want 3", lag)
	}
}

func TestTopicBrowseSkipsAged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp, _ := b.Topic("t", WithMaxAge(time.Minute))
		ctx := context.Background()
		if err := tp.Publish(ctx, NewMessage("old")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(40 * time.Second)
		if err := tp.Publish(ctx, NewMessage("new")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		if got := topicWindow(tp.Browse(0, 10)); !slices.Equal(got, [][2]any{{uint64(2), "new"}}) {
			t.Fatalf("Browse = %v, want only the message younger than the max age", got)
		}
	})
}

// Messages held behind a publish stalled in the intake (see intake.go) are
// ready, as Len says: Browse shows them, after those consumers get first.
func TestQueueBrowseShowsMessagesHeldBehindAStalledPublish(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	publishOrFail(t, q, "first")
	finish := stallPublish(t, q, "stalled")
	if err := q.Publish(context.Background(), &Message{Body: "held", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := browsedBodies(q.Browse(10)); !slices.Equal(got, []any{"first", "held"}) || q.Len() != 2 {
		t.Fatalf("Browse = %v with Len %d, want [first held]", got, q.Len())
	}
	if got := browsedBodies(q.Browse(1)); !slices.Equal(got, []any{"first"}) {
		t.Fatalf("Browse(1) = %v, want [first]", got)
	}
	finish()
	wantBodies(t, receiveBodies(t, q, 3), "first", "stalled", "held")
}
