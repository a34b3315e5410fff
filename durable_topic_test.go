package herald

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
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
			// context.Canceled: the publish under way holds the drain
			// up (its group has not got it yet) until ctx, already
			// ended, cuts it short.
			if err := b.Shutdown(ended); err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("Shutdown = %v, want nil or context.Canceled", err)
			}
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			synctest.Test(t, func(t *testing.T) { testCloseDuringTopicPublish(t, dir, stop) })
		})
	}
}

func testCloseDuringTopicPublish(t *testing.T, dir string, stop func(*Broker) error) {
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
	synctest.Wait() // stop has gone as far as it can before the write ends
	q := g.r.(*groupMember).group.q
	q.lock()
	done := q.closed
	q.mu.Unlock()
	if !done {
		close(release) // let the bubble's goroutines end
		t.Fatal("the broker did not close the topic's group while a publish was being written")
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

func mustTopic(t *testing.T, b *Broker, name string, opts ...TopicOption) *Topic {
	t.Helper()
	tp, err := b.Topic(name, opts...)
	if err != nil {
		t.Fatalf("Topic(%q): %v", name, err)
	}
	return tp
}

func publishTopic(t *testing.T, tp *Topic, bodies ...string) {
	t.Helper()
	for _, s := range bodies {
		if err := tp.Publish(context.Background(), NewMessage(s)); err != nil {
			t.Fatalf("Publish %s: %v", s, err)
		}
	}
}

// A group's nacked, acked and unacked messages across a restart: the
// unacked one comes back ready, the nacked one backing off until the same
// due time, as on a durable queue, and the acked one does not come back.
// It runs in a synctest bubble, so the back-off and the short waits for
// nothing are exact.
func TestDurableTopicGroupNacksAfterRestart(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) { testDurableTopicGroupNacksAfterRestart(t, dir) })
}

func testDurableTopicGroupNacksAfterRestart(t *testing.T, dir string) {
	b := openTest(t, dir)
	tp := mustTopic(t, b, "t", Durable())
	long := []SubscribeOption{WithGroup("g"), WithBackoff(time.Hour, time.Hour)}
	short := []SubscribeOption{WithGroup("short"), WithBackoff(100*time.Millisecond, 100*time.Millisecond)}
	g := mustSubscribe(t, tp, long...)
	gs := mustSubscribe(t, tp, short...)
	publishTopic(t, tp, "nacked", "acked", "held")
	subReceive(t, g).Nack()
	subReceive(t, g).Ack()
	subReceive(t, g) // held
	d := subReceive(t, gs)
	d.Nack()
	due := time.Now().Add(100 * time.Millisecond)
	closeTest(t, b)

	b = openTest(t, dir)
	tp = mustTopic(t, b, "t", Durable())
	g = mustSubscribe(t, tp, long...)
	if st := g.Stats(); st.Delayed != 1 || st.Lag != 1 {
		t.Fatalf("group Stats after restart = %+v, want 1 delayed (nacked), 1 ready (held)", st)
	}
	if d := subReceive(t, g); bodyText(d) != "held" || d.Attempt != 2 {
		t.Fatalf("group got %v at attempt %d, want held at 2", d.Body, d.Attempt)
	} else {
		d.Ack()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if d, err := g.Receive(ctx); err == nil {
		t.Fatalf("group got %v too: the nacked message lost its back-off", d.Body)
	}
	gs = mustSubscribe(t, tp, short...)
	for d = subReceive(t, gs); bodyText(d) != "nacked"; d = subReceive(t, gs) {
		d.Ack() // acked and held, which it had not received
	}
	if bodyText(d) != "nacked" || d.Attempt != 2 {
		t.Fatalf("short group got %v at attempt %d, want nacked at 2", d.Body, d.Attempt)
	}
	if now := time.Now(); now.Before(due) {
		t.Fatalf("short group got it %v before its back-off ended", due.Sub(now))
	}
}

// FromSequence past both ends of what a restarted topic retains.
func TestDurableTopicFromSequenceAfterRestart(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	tp := mustTopic(t, b, "t", Durable(), WithCapacity(4))
	for i := 1; i <= 10; i++ {
		publishTopic(t, tp, fmt.Sprint("m", i))
	}
	closeTest(t, b)

	b = openTest(t, dir)
	tp = mustTopic(t, b, "t", Durable(), WithCapacity(4))
	old := mustSubscribe(t, tp, FromSequence(2))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var lag *LagError
	if _, err := old.Receive(ctx); !errors.As(err, &lag) || lag.Missed != 5 {
		t.Fatalf("FromSequence(2) first Receive = %v, want a LagError of 5", err)
	}
	if d := subReceive(t, old); d.Seq != 7 {
		t.Fatalf("FromSequence(2) then got %d, want 7", d.Seq)
	}
	old.Close() // a ring behind: it would hold publishes back
	future := mustSubscribe(t, tp, FromSequence(12))
	publishTopic(t, tp, "m11", "m12")
	if d := subReceive(t, future); d.Seq != 12 || bodyText(d) != "m12" {
		t.Fatalf("FromSequence(12) got %d %v", d.Seq, d.Body)
	}
	future.Close()
}

// Declared with a smaller capacity after a restart, a topic keeps the
// newest messages that fit and lets the others go for good; its sequence
// goes on.
func TestDurableTopicSmallerCapacityAfterRestart(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	tp := mustTopic(t, b, "t", Durable(), WithCapacity(8))
	for i := 1; i <= 8; i++ {
		publishTopic(t, tp, fmt.Sprint("m", i))
	}
	closeTest(t, b)

	b = openTest(t, dir)
	tp = mustTopic(t, b, "t", Durable(), WithCapacity(2))
	s := mustSubscribe(t, tp, FromEarliest())
	for _, want := range []uint64{7, 8} {
		if d := subReceive(t, s); d.Seq != want {
			t.Fatalf("got seq %d, want %d", d.Seq, want)
		}
	}
	publishTopic(t, tp, "m9")
	if d := subReceive(t, s); d.Seq != 9 {
		t.Fatalf("got seq %d, want 9", d.Seq)
	}
	s.Close()
	closeTest(t, b)

	b = openTest(t, dir)
	if st := b.DurableStats(); st.Recovered != 2 {
		t.Fatalf("DurableStats = %+v, want the 2 retained", st)
	}
	tp = mustTopic(t, b, "t", Durable(), WithCapacity(8))
	s = mustSubscribe(t, tp, FromEarliest())
	for _, want := range []uint64{8, 9} {
		if d := receiveWithin(t, s); d.Seq != want {
			t.Fatalf("got seq %d, want %d", d.Seq, want)
		}
	}
	s.Close()
}

// A topic's max age counts the time spent down. It runs in a synctest
// bubble, so the downtime is exact.
func TestDurableTopicMaxAgeAfterRestart(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) { testDurableTopicMaxAgeAfterRestart(t, dir) })
}

func testDurableTopicMaxAgeAfterRestart(t *testing.T, dir string) {
	const age = 30 * time.Millisecond
	b := openTest(t, dir)
	tp := mustTopic(t, b, "t", Durable(), WithMaxAge(age))
	publishTopic(t, tp, "old")
	closeTest(t, b)
	time.Sleep(age + time.Nanosecond) // the broker is down while "old" gets just past the max age

	b = openTest(t, dir)
	tp = mustTopic(t, b, "t", Durable(), WithMaxAge(age))
	s := mustSubscribe(t, tp, FromEarliest())
	publishTopic(t, tp, "new")
	if d := subReceive(t, s); bodyText(d) != "new" {
		t.Fatalf("got %v, want new (old is past the max age)", d.Body)
	}
	s.Close()
}

// receiveWithin is subReceive that fails the test, instead of hanging it,
// when Receive does not return: a subscription spinning on a gap in the
// ring ignores its context.
func receiveWithin(t *testing.T, s *Subscription) *Delivery {
	t.Helper()
	type result struct {
		d   *Delivery
		err error
	}
	ch := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		d, err := s.Receive(ctx)
		ch <- result{d, err}
	}()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Receive: %v", r.err)
		}
		return r.d
	case <-timer.C:
		panic("Receive did not return: it spins on a gap in the ring") // ends the test binary, and the spinning goroutine
	}
}

// A publish that failed leaves its sequence number without a message; a
// reader that reaches it after a restart skips it.
func TestDurableTopicGapAfterRestart(t *testing.T) {
	dir := t.TempDir()
	fs := walfs.NewFaulty(walfs.OS())
	b := openTest(t, dir, withFS(fs))
	tp := mustTopic(t, b, "t", Durable())
	publishTopic(t, tp, "m1")
	boom := errors.New("short")
	fs.Inject(func(c walfs.Call) walfs.Fault {
		if c.Op == walfs.OpWrite {
			return walfs.Fault{Err: boom}
		}
		return walfs.Fault{}
	})
	if err := tp.Publish(context.Background(), NewMessage("m2")); !errors.Is(err, boom) {
		t.Fatalf("Publish = %v, want %v", err, boom)
	}
	fs.Inject(nil)
	publishTopic(t, tp, "m3")
	closeTest(t, b)

	b = openTest(t, dir)
	tp = mustTopic(t, b, "t", Durable())
	s := mustSubscribe(t, tp, FromEarliest())
	for _, want := range []uint64{1, 3} {
		if d := receiveWithin(t, s); d.Seq != want {
			t.Fatalf("got seq %d, want %d", d.Seq, want)
		}
	}
	publishTopic(t, tp, "m4")
	if d := receiveWithin(t, s); d.Seq != 4 {
		t.Fatalf("got seq %d, want 4", d.Seq)
	}
	// The gap is stepped over, not counted as a delivery.
	if st := s.Stats(); st.Delivered != 3 {
		t.Errorf("Delivered = %d, want 3 (the gap at 2 is none)", st.Delivered)
	}
	s.Close()
}

// A durable topic not declared after a restart keeps its retained
// messages, with their sequence numbers, through compaction of the log
// around them.
func TestDurableTopicWaitingThroughCompaction(t *testing.T) {
	dir := t.TempDir()
	opts := []Option{WithSync(SyncNever()), withSegmentSize(4096)}
	b := openTest(t, dir, opts...)
	tp := mustTopic(t, b, "later", Durable())
	publishTopic(t, tp, "m1", "m2")
	closeTest(t, b)

	b = openTest(t, dir, opts...)
	flow := mustQueue(t, b, "flow", Durable())
	body := strings.Repeat("x", 200)
	for range 1000 {
		mustPublish(t, flow, NewMessage(body))
		receive(t, flow).Ack()
	}
	closeTest(t, b)

	b = openTest(t, dir)
	tp = mustTopic(t, b, "later", Durable())
	s := mustSubscribe(t, tp, FromEarliest())
	for _, want := range []uint64{1, 2} {
		if d := receiveWithin(t, s); d.Seq != want || bodyText(d) != fmt.Sprint("m", want) {
			t.Fatalf("got seq %d %v, want %d", d.Seq, d.Body, want)
		}
	}
	s.Close()
}

// The max age and TTL of a recovered topic message count from when it was
// published, not from the Time its publisher may have set.
func TestDurableTopicAgeFromPublish(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	opts := []TopicOption{Durable(), WithMaxAge(time.Hour)}
	tp := mustTopic(t, b, "t", opts...)
	if err := tp.Publish(context.Background(), &Message{Body: "event", Time: time.Now().Add(-24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	closeTest(t, b)

	b = openTest(t, dir)
	tp = mustTopic(t, b, "t", opts...)
	s := mustSubscribe(t, tp, FromEarliest())
	if d := receiveWithin(t, s); bodyText(d) != "event" {
		t.Fatalf("got %v", d.Body)
	}
	s.Close()
}

// A publish that fails on I/O after the ring took it has been seen by
// readers with its sequence number; that number is never handed out
// again, even when the failed publish was the newest when the broker
// closed: a reader that noted it and resumes after it misses nothing.
func TestDurableTopicFailedSeqNotReused(t *testing.T) {
	for _, op := range []walfs.Op{walfs.OpWrite, walfs.OpSync} {
		t.Run(fmt.Sprint(op), func(t *testing.T) {
			dir := t.TempDir()
			fs := walfs.NewFaulty(walfs.OS())
			b := openTest(t, dir, withFS(fs))
			tp := mustTopic(t, b, "t", Durable())
			s := mustSubscribe(t, tp)
			publishTopic(t, tp, "m1")
			boom := errors.New("disk on fire")
			var failed atomic.Bool // one call fails: the log goes on after a write error
			fs.Inject(func(c walfs.Call) walfs.Fault {
				if c.Op == op && !failed.Swap(true) {
					return walfs.Fault{Err: boom}
				}
				return walfs.Fault{}
			})
			if err := tp.Publish(context.Background(), NewMessage("m2")); !errors.Is(err, boom) {
				t.Fatalf("Publish = %v, want %v", err, boom)
			}
			receiveWithin(t, s)
			seen := receiveWithin(t, s).Seq // the failed publish, as a reader saw it
			s.Close()
			fs.Inject(nil)
			b.Close() // after a failed fsync it reports the failure

			b = openTest(t, dir)
			tp = mustTopic(t, b, "t", Durable())
			publishTopic(t, tp, "m3")
			s = mustSubscribe(t, tp, FromEarliest())
			d := receiveWithin(t, s)
			for bodyText(d) != "m3" {
				d = receiveWithin(t, s)
			}
			if d.Seq <= seen {
				t.Fatalf("after the restart m3 got seq %d: seq %d, seen before the restart, was handed out again", d.Seq, seen)
			}
			s.Close()
			// m3 outdated the note of the failed seq: the sequence goes on
			// from m3 after another restart.
			closeTest(t, b)
			b = openTest(t, dir)
			tp = mustTopic(t, b, "t", Durable())
			s = mustSubscribe(t, tp)
			publishTopic(t, tp, "m4")
			if d4 := receiveWithin(t, s); d4.Seq != d.Seq+1 {
				t.Fatalf("m4 got seq %d, want %d", d4.Seq, d.Seq+1)
			}
			s.Close()
		})
	}
}

// Once an fsync has failed, a topic publish fails before the ring takes
// it: no reader sees a message that the log could not keep. It runs in a
// synctest bubble, so "nothing within 20ms" is exact.
func TestDurableTopicRefusedAfterFailedSync(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) { testDurableTopicRefusedAfterFailedSync(t, dir) })
}

func testDurableTopicRefusedAfterFailedSync(t *testing.T, dir string) {
	fs := walfs.NewFaulty(walfs.OS())
	b := openTest(t, dir, withFS(fs))
	tp := mustTopic(t, b, "t", Durable())
	s := mustSubscribe(t, tp)
	boom := errors.New("disk on fire")
	fs.Inject(func(c walfs.Call) walfs.Fault {
		if c.Op == walfs.OpSync {
			return walfs.Fault{Err: boom}
		}
		return walfs.Fault{}
	})
	if err := tp.Publish(context.Background(), NewMessage("failed")); !errors.Is(err, boom) {
		t.Fatalf("Publish = %v, want %v", err, boom)
	}
	fs.Inject(nil)
	if err := tp.Publish(context.Background(), NewMessage("refused")); !errors.Is(err, boom) {
		t.Fatalf("Publish after the failed fsync = %v, want %v", err, boom)
	}
	receiveWithin(t, s) // the failed one, which the ring had taken
	if st := tp.Stats(); st.Published != 1 {
		t.Fatalf("Stats().Published = %d, want 1: the ring took a publish after the log failed", st.Published)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if d, err := s.Receive(ctx); err == nil {
		t.Fatalf("a reader got %v, published after the log failed", d.Body)
	}
	s.Close()
	b.Close()
}

// The note of a failed publish's seq is copied forward by compaction like
// the topic's messages: it does not pin its segment, and it still keeps
// the seq from being handed out again after a restart.
func TestDurableTopicFailedSeqThroughCompaction(t *testing.T) {
	dir := t.TempDir()
	fs := walfs.NewFaulty(walfs.OS())
	opts := []Option{WithSync(SyncNever()), withSegmentSize(4096)}
	b := openTest(t, dir, append(opts, withFS(fs))...)
	tp := mustTopic(t, b, "t", Durable())
	publishTopic(t, tp, "m1")
	var failed atomic.Bool
	fs.Inject(func(c walfs.Call) walfs.Fault {
		if c.Op == walfs.OpWrite && !failed.Swap(true) {
			return walfs.Fault{Err: errors.New("short")}
		}
		return walfs.Fault{}
	})
	if err := tp.Publish(context.Background(), NewMessage("m2")); err == nil {
		t.Fatal("Publish succeeded through a write error")
	}
	flow := mustQueue(t, b, "flow", Durable())
	body := strings.Repeat("x", 200)
	for range 1000 {
		mustPublish(t, flow, NewMessage(body))
		receive(t, flow).Ack()
	}
	if st := b.DurableStats(); st.Bytes > 27_000 {
		t.Errorf("DurableStats = %+v: the log kept segments the note pins", st)
	}
	closeTest(t, b)

	b = openTest(t, dir, opts...)
	tp = mustTopic(t, b, "t", Durable())
	s := mustSubscribe(t, tp)
	publishTopic(t, tp, "m3")
	if d := receiveWithin(t, s); d.Seq != 3 {
		t.Fatalf("m3 got seq %d, want 3: the failed publish's 2 is not handed out again", d.Seq)
	}
	s.Close()
}

// A group's back-off survives compaction copying its message forward: the
// copy carries the nack's due time, not only the attempt.
func TestDurableTopicGroupBackoffThroughCompaction(t *testing.T) {
	dir := t.TempDir()
	opts := []Option{WithSync(SyncNever()), withSegmentSize(4096)}
	b := openTest(t, dir, opts...)
	tp := mustTopic(t, b, "t", Durable(), WithCapacity(1))
	sub := []SubscribeOption{WithGroup("g"), WithBackoff(time.Hour, time.Hour)}
	g := mustSubscribe(t, tp, sub...)
	publishTopic(t, tp, "nacked")
	subReceive(t, g).Nack()
	flow := mustQueue(t, b, "flow", Durable())
	body := strings.Repeat("x", 200)
	for range 1000 {
		mustPublish(t, flow, NewMessage(body))
		receive(t, flow).Ack()
	}
	if st := b.DurableStats(); st.Copied == 0 {
		t.Fatalf("DurableStats = %+v: nothing was copied forward", st)
	}
	closeTest(t, b)

	b = openTest(t, dir, opts...)
	tp = mustTopic(t, b, "t", Durable(), WithCapacity(1))
	g = mustSubscribe(t, tp, sub...)
	if st := g.Stats(); st.Delayed != 1 || st.Lag != 0 {
		t.Fatalf("group Stats after restart = %+v, want the nacked message backing off", st)
	}
}
