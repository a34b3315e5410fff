package herald

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/internal/wal/walfs"
)

func subReceive(t *testing.T, s *Subscription) *Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := s.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return d
}

func mustSubscribe(t *testing.T, tp *Topic, opts ...SubscribeOption) *Subscription {
	t.Helper()
	s, err := tp.Subscribe(opts...)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	return s
}

// A durable topic keeps what its ring retains, with the sequence numbers:
// FromEarliest and FromSequence work after a restart, and new publishes
// continue the sequence.
func TestDurableTopicRetained(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	tp, err := b.Topic("t", Durable(), WithCapacity(4))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 6; i++ {
		if err := tp.Publish(context.Background(), NewMessage(fmt.Sprint("m", i))); err != nil {
			t.Fatal(err)
		}
	}
	closeTest(t, b)

	b = openTest(t, dir)
	if st := b.DurableStats(); st.Live != 4 {
		t.Fatalf("DurableStats = %+v, want the 4 retained live", st)
	}
	tp, err = b.Topic("t", Durable(), WithCapacity(4))
	if err != nil {
		t.Fatal(err)
	}
	s := mustSubscribe(t, tp, FromEarliest())
	for seq := uint64(3); seq <= 6; seq++ {
		if d := subReceive(t, s); d.Seq != seq || d.Body != fmt.Sprint("m", seq) {
			t.Fatalf("got seq %d %v, want %d", d.Seq, d.Body, seq)
		}
	}
	from5 := mustSubscribe(t, tp, FromSequence(5))
	if d := subReceive(t, from5); d.Seq != 5 {
		t.Fatalf("FromSequence(5) got %d", d.Seq)
	}
	if err := tp.Publish(context.Background(), NewMessage("m7")); err != nil {
		t.Fatal(err)
	}
	if d := subReceive(t, s); d.Seq != 7 || d.Body != "m7" {
		t.Fatalf("got seq %d %v, want 7 m7", d.Seq, d.Body)
	}
	s.Close()
	from5.Close()
	closeTest(t, b)

	// What the ring overwrote is released: only the 4 newest stay.
	b = openTest(t, dir)
	if st := b.DurableStats(); st.Live != 4 || st.Recovered != 4 {
		t.Fatalf("DurableStats = %+v, want 4 live", st)
	}
}

// A group's position and unacked messages survive: a member that joins
// after the restart gets what the group had not acked, a delivered one as
// a redelivery, and nothing it acked.
func TestDurableTopicGroup(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	tp, err := b.Topic("t", Durable(), WithCapacity(4))
	if err != nil {
		t.Fatal(err)
	}
	g := mustSubscribe(t, tp, WithGroup("g"))
	for i := 1; i <= 5; i++ {
		if err := tp.Publish(context.Background(), NewMessage(fmt.Sprint("m", i))); err != nil {
			t.Fatal(err)
		}
		if i == 2 { // the group keeps up for a while
			subReceive(t, g).Ack()
			subReceive(t, g).Ack()
		}
	}
	if d := subReceive(t, g); d.Seq != 3 {
		t.Fatalf("got seq %d, want 3", d.Seq)
	} // delivered, not acked
	closeTest(t, b)

	b = openTest(t, dir)
	tp, err = b.Topic("t", Durable(), WithCapacity(4))
	if err != nil {
		t.Fatal(err)
	}
	g = mustSubscribe(t, tp, WithGroup("g"))
	for seq := uint64(3); seq <= 5; seq++ {
		d := subReceive(t, g)
		want := 1
		if seq == 3 {
			want = 2
		}
		if d.Seq != seq || d.Body != fmt.Sprint("m", seq) || d.Attempt != want {
			t.Fatalf("got seq %d %v attempt %d, want %d attempt %d", d.Seq, d.Body, d.Attempt, seq, want)
		}
		d.Ack()
	}
	if err := tp.Publish(context.Background(), NewMessage("m6")); err != nil {
		t.Fatal(err)
	}
	if d := subReceive(t, g); d.Seq != 6 {
		t.Fatalf("got seq %d, want 6", d.Seq)
	}
	g.Close()
	closeTest(t, b)

	// Everything the group acked and the ring overwrote is gone.
	b = openTest(t, dir)
	if st := b.DurableStats(); st.Recovered != 4 {
		t.Fatalf("DurableStats = %+v, want the 4 retained", st)
	}
}

// A typed group member gets the same T after a restart.
func TestDurableTopicTyped(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	tp, _ := b.Topic("t", Durable())
	mustSubscribe(t, tp, WithGroup("g"))
	tp.Publish(context.Background(), NewMessage(order{9, []string{"z"}}))
	closeTest(t, b)
	b = openTest(t, dir)
	tp, _ = b.Topic("t", Durable())
	d := subReceive(t, mustSubscribe(t, tp, WithGroup("g")))
	if v, err := BodyAs[order](d.Message); err != nil || v.ID != 9 {
		t.Fatalf("BodyAs = %+v, %v", v, err)
	}
}

// An fsync error fails a topic publish, and the groups do not get it.
func TestDurableTopicSyncError(t *testing.T) {
	fs := walfs.NewFaulty(walfs.OS())
	b := openTest(t, t.TempDir(), withFS(fs))
	tp, err := b.Topic("t", Durable())
	if err != nil {
		t.Fatal(err)
	}
	g := mustSubscribe(t, tp, WithGroup("g"))
	boom := errors.New("disk on fire")
	fs.Inject(func(c walfs.Call) walfs.Fault {
		if c.Op == walfs.OpSync {
			return walfs.Fault{Err: boom}
		}
		return walfs.Fault{}
	})
	if err := tp.Publish(context.Background(), NewMessage("lost")); !errors.Is(err, boom) {
		t.Fatalf("Publish = %v, want %v", err, boom)
	}
	if st := g.Stats(); st.Lag != 0 {
		t.Fatalf("group Stats = %+v, want nothing", st)
	}
}

// subTexts returns the bodies s has ready now, acking each: it stops at
// the first Receive that finds nothing within a short wait.
func subTexts(t *testing.T, s *Subscription) []string {
	t.Helper()
	var got []string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		d, err := s.Receive(ctx)
		cancel()
		if err != nil {
			return got
		}
		got = append(got, bodyText(d))
		d.Ack()
	}
}

// A topic publish that Close (or a Shutdown whose ctx has ended)
// overtakes while its record is being written either succeeds, and then
// the message is there after a restart, in the ring and in the group, or
// fails and is not. Close waits for it as it does for a durable queue's
// publishes.
func TestDurableTopicCloseDuringPublish(t *testing.T) {
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	for name, stop := range map[string]func(*Broker) error{
		"Close": (*Broker).Close,
		"Shutdown": func(b *Broker) error {
			// nil too: Shutdown does not count a publish that began
			// before it, and may find nothing to drain.
			if err := b.Shutdown(ended); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("Shutdown = %v, want nil or context.Canceled", err)
			}
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) { testCloseDuringTopicPublish(t, stop) })
	}
}

func testCloseDuringTopicPublish(t *testing.T, stop func(*Broker) error) {
	dir := t.TempDir()
	fs := walfs.NewFaulty(walfs.OS())
	b := openTest(t, dir, withFS(fs))
	tp := mustTopic(t, b, "t", Durable())
	g := mustSubscribe(t, tp, WithGroup("g"))
	writing, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fs.Inject(func(c walfs.Call) walfs.Fault {
		if c.Op == walfs.OpWrite {
			once.Do(func() { close(writing); <-release })
		}
		return walfs.Fault{}
	})
	published := make(chan error, 1)
	go func() { published <- tp.Publish(context.Background(), NewMessage("x")) }()
	<-writing // the ring has it; its record is being written
	closed := make(chan error, 1)
	go func() { closed <- stop(b) }()
	for { // the broker has closed the topic and its group
		q := g.r.(*groupMember).group.q
		q.lock()
		done := q.closed
		q.mu.Unlock()
		if done {
			break
		}
		waitABit()
	}
	close(release)
	err := <-published
	if cerr := <-closed; cerr != nil {
		t.Fatalf("closing: %v", cerr)
	}

	b = openTest(t, dir)
	tp = mustTopic(t, b, "t", Durable())
	want := []string{"x"}
	if err != nil {
		want = nil
	}
	if got := subTexts(t, mustSubscribe(t, tp, FromEarliest())); !sameStrings(got, want) {
		t.Errorf("Publish = %v; after restart the topic has %v, want %v", err, got, want)
	}
	if got := subTexts(t, mustSubscribe(t, tp, WithGroup("g"))); !sameStrings(got, want) {
		t.Errorf("Publish = %v; after restart the group has %v, want %v", err, got, want)
	}
}
