package herald

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// topicOrFail declares a topic or fails the test.
func topicOrFail(t testing.TB, b *Broker, name string, opts ...TopicOption) *Topic {
	t.Helper()
	tp, err := b.Topic(name, opts...)
	if err != nil {
		t.Fatalf("Topic(%q): %v", name, err)
	}
	return tp
}

// subscribeOrFail subscribes to tp or fails the test.
func subscribeOrFail(t testing.TB, tp *Topic, opts ...SubscribeOption) *Subscription {
	t.Helper()
	s, err := tp.Subscribe(opts...)
	if err != nil {
		t.Fatalf("Subscribe to %q: %v", tp.Name(), err)
	}
	return s
}

// publishInts publishes one message per int from first to last, each with
// the int as its body.
func publishInts(t testing.TB, tp *Topic, first, last int) {
	t.Helper()
	for i := first; i <= last; i++ {
		if err := tp.Publish(context.Background(), NewMessage(i)); err != nil {
			t.Fatalf("Publish(%d) to %q: %v", i, tp.Name(), err)
		}
	}
}

// receiveSubOrFail receives s's next delivery, failing the test on an error
// or if none comes within eventTimeout.
func receiveSubOrFail(t testing.TB, s *Subscription) *Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	d, err := s.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return d
}

// wantInts receives and acks the messages with sequence numbers first to
// last from s, each published by publishInts with its sequence number as
// its body.
func wantInts(t testing.TB, s *Subscription, first, last uint64) {
	t.Helper()
	for seq := first; seq <= last; seq++ {
		d := receiveSubOrFail(t, s)
		if d.Seq != seq || d.Body != int(seq) || d.Attempt != 1 {
			t.Fatalf("got seq %d body %v attempt %d, want seq %d body %d attempt 1", d.Seq, d.Body, d.Attempt, seq, seq)
		}
		settleOrFail(t, d.Ack)
	}
}

// wantCaughtUp fails the test unless s has nothing left to read: no
// unread message and no pending redelivery.
func wantCaughtUp(t testing.TB, s *Subscription) {
	t.Helper()
	if st := s.Stats(); st.Lag != 0 || st.Delayed != 0 {
		t.Fatalf("subscription has lag %d and %d delayed, want nothing left to read", st.Lag, st.Delayed)
	}
}

// wantLag receives from s and fails unless it gets a *LagError reporting
// missed messages.
func wantLag(t testing.TB, s *Subscription, missed uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	d, err := s.Receive(ctx)
	var lag *LagError
	if !errors.As(err, &lag) || !errors.Is(err, ErrLagged) {
		t.Fatalf("Receive = %v, %v; want a *LagError wrapping ErrLagged", bodyOf(d), err)
	}
	if lag.Missed != missed {
		t.Fatalf("LagError.Missed = %d, want %d", lag.Missed, missed)
	}
}

func TestTopicDeclare(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "events", WithCapacity(16), WithOverflow(OverflowDropOldest), WithMaxAge(time.Minute))
	if tp.Name() != "events" {
		t.Fatalf("Name() = %q", tp.Name())
	}
	again, err := b.Topic("events", WithMaxAge(time.Minute), WithOverflow(OverflowDropOldest), WithCapacity(16))
	if err != nil || again != tp {
		t.Fatalf("redeclare with the same options = %p, %v; want the same topic %p", again, err, tp)
	}
	for _, opts := range [][]TopicOption{
		nil,
		{WithCapacity(32), WithOverflow(OverflowDropOldest), WithMaxAge(time.Minute)},
		{WithCapacity(16), WithOverflow(OverflowBlock), WithMaxAge(time.Minute)},
		{WithCapacity(16), WithOverflow(OverflowDropOldest)},
	} {
		if _, err := b.Topic("events", opts...); !errors.Is(err, ErrExists) {
			t.Errorf("redeclare with other options %v = %v, want ErrExists", opts, err)
		}
	}

	mustQueue(t, b, "jobs")
	if _, err := b.Topic("jobs"); !errors.Is(err, ErrExists) {
		t.Errorf("Topic under a queue's name = %v, want ErrExists", err)
	}
	if _, err := b.Queue("events"); !errors.Is(err, ErrExists) {
		t.Errorf("Queue under a topic's name = %v, want ErrExists", err)
	}
	if _, err := b.Exchange("events", FanoutExchange); !errors.Is(err, ErrExists) {
		t.Errorf("Exchange under a topic's name = %v, want ErrExists", err)
	}
}

func TestTopicOptionValidation(t *testing.T) {
	b := newTestBroker(t)
	for _, tc := range []struct {
		name string
		opts []TopicOption
	}{
		{"capacity 0", []TopicOption{WithCapacity(0)}},
		{"negative capacity", []TopicOption{WithCapacity(-1)}},
		{"capacity above max", []TopicOption{WithCapacity(MaxTopicCapacity + 1)}},
		{"negative max age", []TopicOption{WithMaxAge(-time.Second)}},
		{"unknown overflow", []TopicOption{WithOverflow(Overflow(9))}},
		{"nil option", []TopicOption{nil}},
		{"nil after good option", []TopicOption{WithCapacity(4), nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp, err := b.Topic("t", tc.opts...)
			if !errors.Is(err, ErrInvalid) || tp != nil {
				t.Fatalf("Topic = %v, %v; want nil, ErrInvalid", tp, err)
			}
		})
	}
	for _, name := range []string{"", "a b", "news.*", "news.#", strings.Repeat("x", MaxNameLen+1)} {
		if _, err := b.Topic(name); !errors.Is(err, ErrInvalid) {
			t.Errorf("Topic(%q) = %v, want ErrInvalid", name, err)
		}
	}
	// None of the failed declarations took the name.
	topicOrFail(t, b, "t", WithCapacity(1))
}

func TestTopicCapacityRoundsUpToPowerOfTwo(t *testing.T) {
	for _, tc := range []struct{ capacity, size int }{
		{1, 1}, {2, 2}, {3, 4}, {5, 8}, {8, 8}, {9, 16}, {1000, 1024},
	} {
		t.Run(fmt.Sprint(tc.capacity), func(t *testing.T) {
			b := newTestBroker(t)
			tp := topicOrFail(t, b, "t", WithCapacity(tc.capacity))
			const published = 2000
			publishInts(t, tp, 1, published)
			if got := tp.Stats().Retained; got != tc.size {
				t.Fatalf("capacity %d retains %d, want %d", tc.capacity, got, tc.size)
			}
			s := subscribeOrFail(t, tp, FromEarliest())
			if got := s.Stats().Lag; got != uint64(tc.size) {
				t.Fatalf("FromEarliest lag %d, want %d", got, tc.size)
			}
			wantInts(t, s, published-uint64(tc.size)+1, published)
			wantCaughtUp(t, s)
		})
	}
}

// Each subscription sees every message in one order, the topic's, and
// each publisher's messages in the order it published them.
func TestTopicOrderWithConcurrentPublishers(t *testing.T) {
	const publishers, each, total = 4, 500, 4 * 500
	b := newTestBroker(t)
	// A small ring, so that publishers block on the subscribers and the
	// ring wraps many times.
	tp := topicOrFail(t, b, "orders", WithCapacity(64))
	type body struct{ p, i int }
	subs := make([]*Subscription, 3)
	for i := range subs {
		subs[i] = subscribeOrFail(t, tp)
	}
	got := make([][]*Delivery, len(subs))
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()

	var wg sync.WaitGroup
	// Subscription 0 reads with Receive.
	wg.Go(func() {
		for range total {
			d, err := subs[0].Receive(ctx)
			if err != nil {
				t.Errorf("Receive: %v", err)
				return
			}
			got[0] = append(got[0], d)
			d.Ack()
		}
	})
	// Subscription 1 with Consume: its Delivery is reused, so keep a copy
	// of what is checked.
	all := make(chan struct{})
	cctx, stop := context.WithCancel(ctx)
	consumed := make(chan error, 1)
	go func() {
		consumed <- subs[1].Consume(cctx, func(_ context.Context, d *Delivery) error {
			got[1] = append(got[1], &Delivery{Message: d.Message, Seq: d.Seq, Attempt: d.Attempt})
			if len(got[1]) == total {
				close(all)
			}
			return nil
		})
	}()
	// Subscription 2 with the iterator.
	wg.Go(func() {
		for d := range subs[2].All(ctx) {
			// The loop reuses its deliveries: keep what the checks read.
			got[2] = append(got[2], &Delivery{Message: d.Message, Seq: d.Seq, Attempt: d.Attempt})
			if len(got[2]) == total {
				break
			}
		}
	})
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				if err := tp.Publish(ctx, NewMessage(body{p, i})); err != nil {
					t.Errorf("publisher %d, message %d: %v", p, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-all:
	case <-ctx.Done():
		t.Fatalf("Consume handled %d of %d messages", len(got[1]), total)
	}
	stop()
	if err := waitErr(t, consumed); !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume = %v, want context.Canceled", err)
	}

	for s, ds := range got {
		if len(ds) != total {
			t.Fatalf("subscription %d got %d messages, want %d", s, len(ds), total)
		}
		next := make([]int, publishers)
		for k, d := range ds {
			if d.Seq != uint64(k+1) || d.Attempt != 1 {
				t.Fatalf("subscription %d: delivery %d has seq %d attempt %d, want seq %d attempt 1", s, k, d.Seq, d.Attempt, k+1)
			}
			m := d.Body.(body)
			if m.i != next[m.p] {
				t.Fatalf("subscription %d: publisher %d's message %d came after %d", s, m.p, m.i, next[m.p]-1)
			}
			next[m.p]++
			if s > 0 && d.Message != got[0][k].Message {
				t.Fatalf("subscription %d's message %d is %v, subscription 0's is %v", s, d.Seq, d.Body, got[0][k].Body)
			}
		}
	}
	if st := tp.Stats(); st.Published != total || st.Retained != 64 || st.Subscriptions != 3 {
		t.Fatalf("topic stats %+v", st)
	}
	for i, s := range subs {
		st := s.Stats()
		if st.Delivered != total || st.Acked != total || st.Unacked != 0 || st.Lag != 0 || st.Missed != 0 {
			t.Errorf("subscription %d stats %+v", i, st)
		}
	}
}

func TestTopicPublishWritesOnce(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(4))
	subs := []*Subscription{subscribeOrFail(t, tp), subscribeOrFail(t, tp), subscribeOrFail(t, tp)}
	m := &Message{Body: "shared", Headers: Headers{"k": "v"}}
	if err := tp.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if m.ID == "" || m.Time.IsZero() {
		t.Fatalf("Publish did not stamp the message: ID %q Time %v", m.ID, m.Time)
	}
	for i, s := range subs {
		d := receiveSubOrFail(t, s)
		if d.Message != m || d.Seq != 1 {
			t.Fatalf("subscription %d got message %p seq %d, want the published %p seq 1", i, d.Message, d.Seq, m)
		}
	}
}

func TestTopicReplayWrapAround(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(5)) // a ring of 8
	publishInts(t, tp, 1, 3)
	if st := tp.Stats(); st.Published != 3 || st.Retained != 3 {
		t.Fatalf("before wrapping: %+v, want 3 published and retained", st)
	}
	early := subscribeOrFail(t, tp, FromEarliest())
	wantInts(t, early, 1, 3)
	early.Close()

	publishInts(t, tp, 4, 24) // three rings' worth in all
	if st := tp.Stats(); st.Published != 24 || st.Retained != 8 {
		t.Fatalf("after wrapping: %+v, want 24 published, 8 retained", st)
	}
	s := subscribeOrFail(t, tp, FromEarliest())
	wantInts(t, s, 17, 24)
	wantCaughtUp(t, s)
	publishInts(t, tp, 25, 25)
	wantInts(t, s, 25, 25)
}

func TestTopicSubscribeAtWriteCursor(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(4))
	first := subscribeOrFail(t, tp)
	publishInts(t, tp, 1, 4)
	wantInts(t, first, 1, 4)
	publishInts(t, tp, 5, 6) // wraps the ring of 4
	wantInts(t, first, 5, 6)

	s := subscribeOrFail(t, tp)
	atTail := subscribeOrFail(t, tp, FromSequence(7))
	wantCaughtUp(t, s)
	wantCaughtUp(t, atTail)
	publishInts(t, tp, 7, 8)
	wantInts(t, s, 7, 8)
	wantInts(t, atTail, 7, 8)
	wantInts(t, first, 7, 8)
}

func TestTopicFromEarliestOnEmptyTopic(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	s := subscribeOrFail(t, tp, FromEarliest())
	wantCaughtUp(t, s)
	publishInts(t, tp, 1, 2)
	wantInts(t, s, 1, 2)
}

func TestTopicFromSequence(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(8))
	publishInts(t, tp, 1, 20) // retains 13..20
	for _, tc := range []struct {
		from   uint64
		missed uint64 // the gap reported first
		first  uint64
	}{
		{from: 15, first: 15},
		{from: 20, first: 20},
		{from: 13, first: 13},            // the oldest retained
		{from: 12, missed: 1, first: 13}, // just overwritten
		{from: 1, missed: 12, first: 13}, // the very first
		{from: 5, missed: 8, first: 13},  // in the slot 13 now holds
		{from: 11, missed: 2, first: 13}, // in the slot 19 now holds
		{from: 21, first: 21},            // the next one published
	} {
		t.Run(fmt.Sprint(tc.from), func(t *testing.T) {
			s := subscribeOrFail(t, tp, FromSequence(tc.from))
			defer s.Close()
			if tc.from == 21 {
				wantCaughtUp(t, s)
				return
			}
			if tc.missed > 0 {
				wantLag(t, s, tc.missed)
				if st := s.Stats(); st.Missed != tc.missed {
					t.Fatalf("Stats().Missed = %d, want %d", st.Missed, tc.missed)
				}
			}
			wantInts(t, s, tc.first, 20)
			wantCaughtUp(t, s)
			if st := s.Stats(); st.Missed != tc.missed || st.Delivered != 20-tc.first+1 {
				t.Fatalf("stats %+v, want %d missed, %d delivered", st, tc.missed, 20-tc.first+1)
			}
		})
	}
}

func TestTopicFromSequenceInFutureWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t", WithCapacity(4))
		publishInts(t, tp, 1, 2)
		s := subscribeOrFail(t, tp, FromSequence(9)) // beyond a whole ring ahead
		got := make(chan *Delivery, 1)
		go func() {
			d, err := s.Receive(context.Background())
			if err != nil {
				t.Errorf("Receive: %v", err)
			}
			got <- d
		}()
		publishInts(t, tp, 3, 8)
		synctest.Wait()
		if len(got) != 0 {
			d := <-got
			t.Fatalf("Receive returned seq %d before seq 9 was published", d.Seq)
		}
		publishInts(t, tp, 9, 10)
		if d := <-got; d.Seq != 9 || d.Body != 9 {
			t.Fatalf("got seq %d body %v, want 9", d.Seq, d.Body)
		}
		wantInts(t, s, 10, 10)
		if st := s.Stats(); st.Missed != 0 || st.Delivered != 2 {
			t.Fatalf("stats %+v, want 2 delivered and nothing missed", st)
		}
	})
}

func TestTopicFromTime(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(16))
	base := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= 10; i++ { // seq i published at base + i minutes
		m := &Message{Body: i, Time: base.Add(time.Duration(i) * time.Minute)}
		if err := tp.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		if !m.Time.Equal(base.Add(time.Duration(i) * time.Minute)) {
			t.Fatalf("Publish changed the message's Time to %v", m.Time)
		}
	}
	for _, tc := range []struct {
		name  string
		from  time.Time
		first uint64 // 11: nothing retained qualifies
	}{
		{"exactly a message's time", base.Add(4 * time.Minute), 4},
		{"between two messages", base.Add(4*time.Minute + time.Second), 5},
		{"before every message", base.Add(-time.Hour), 1},
		{"the first message's time", base.Add(time.Minute), 1},
		{"the last message's time", base.Add(10 * time.Minute), 10},
		{"after every message", base.Add(time.Hour), 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := subscribeOrFail(t, tp, FromTime(tc.from))
			defer s.Close()
			if want := 11 - tc.first; s.Stats().Lag != want {
				t.Fatalf("lag %d, want %d", s.Stats().Lag, want)
			}
			wantInts(t, s, tc.first, 10)
			wantCaughtUp(t, s)
		})
	}
}

func TestTopicFromTimeAfterWrap(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(4))
	base := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	for i := 1; i <= 10; i++ {
		if err := tp.Publish(context.Background(), &Message{Body: i, Time: base.Add(time.Duration(i) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	// Messages 1..6 are gone: a time before them starts at the oldest
	// retained, with no gap reported.
	s := subscribeOrFail(t, tp, FromTime(base.Add(2*time.Minute)))
	wantInts(t, s, 7, 10)
	s.Close()
	s = subscribeOrFail(t, tp, FromTime(base.Add(9*time.Minute)))
	wantInts(t, s, 9, 10)
	if st := s.Stats(); st.Missed != 0 {
		t.Fatalf("missed %d, want 0", st.Missed)
	}
}

func TestTopicMaxAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t", WithCapacity(16), WithMaxAge(time.Minute))
		early := subscribeOrFail(t, tp) // reads nothing until the end
		publishInts(t, tp, 1, 3)
		time.Sleep(30 * time.Second)
		publishInts(t, tp, 4, 5)
		time.Sleep(30 * time.Second)

		// 1..3 are exactly a minute old: not older than the max age.
		exact := subscribeOrFail(t, tp, FromEarliest())
		wantInts(t, exact, 1, 5)

		time.Sleep(time.Nanosecond)
		replay := subscribeOrFail(t, tp, FromEarliest())
		if st := replay.Stats(); st.Lag != 2 {
			t.Fatalf("replay lag %d, want 2 (messages 4 and 5)", st.Lag)
		}
		wantInts(t, replay, 4, 5)
		byTime := subscribeOrFail(t, tp, FromTime(time.Time{}))
		wantInts(t, byTime, 4, 5)
		for name, s := range map[string]*Subscription{"replay": replay, "from time": byTime} {
			if st := s.Stats(); st.Expired != 0 || st.Delivered != 2 {
				t.Errorf("%s: stats %+v, want 2 delivered, none expired (a replay starts after them)", name, st)
			}
		}

		// A subscription whose cursor reaches old messages skips them and
		// counts them.
		wantInts(t, early, 4, 5)
		if st := early.Stats(); st.Expired != 3 || st.Delivered != 2 {
			t.Fatalf("stats %+v, want 3 expired, 2 delivered", st)
		}

		time.Sleep(31 * time.Second) // now 4 and 5 are too old as well
		none := subscribeOrFail(t, tp, FromEarliest())
		wantCaughtUp(t, none)
		fromSeq := subscribeOrFail(t, tp, FromSequence(2))
		publishInts(t, tp, 6, 6)
		wantInts(t, fromSeq, 6, 6)
		if st := fromSeq.Stats(); st.Expired != 4 || st.Delivered != 1 {
			t.Fatalf("FromSequence(2): stats %+v, want 4 expired, 1 delivered", st)
		}
		wantInts(t, none, 6, 6)
		if st := none.Stats(); st.Expired != 0 {
			t.Fatalf("FromEarliest: %d expired, want 0", st.Expired)
		}
	})
}

// Under OverflowDropOldest a subscription that keeps up gets everything; one
// that falls a ring behind learns exactly how much it missed.
func TestTopicLagFastAndSlowSubscriptions(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(8), WithOverflow(OverflowDropOldest))
	fast := subscribeOrFail(t, tp)
	slow := subscribeOrFail(t, tp)
	const published = 100
	for i := 1; i <= published; i++ {
		publishInts(t, tp, i, i)
		wantInts(t, fast, uint64(i), uint64(i))
	}
	if st := slow.Stats(); st.Lag != 8 {
		t.Fatalf("slow lag %d, want 8 (what is still retained)", st.Lag)
	}
	wantLag(t, slow, published-8)
	wantInts(t, slow, published-7, published)
	wantCaughtUp(t, slow)

	fs, ss := fast.Stats(), slow.Stats()
	if fs.Missed != 0 || fs.Delivered != published || fs.Acked != published {
		t.Fatalf("fast stats %+v", fs)
	}
	if ss.Missed != published-8 || ss.Delivered != 8 || ss.Missed+ss.Delivered != published {
		t.Fatalf("slow stats %+v, want %d missed + 8 delivered", ss, published-8)
	}
	if st := tp.Stats(); st.Published != published || st.Dropped != 0 || st.Retained != 8 {
		t.Fatalf("topic stats %+v", st)
	}
}

// A subscription that lags several times is told each gap, and resumes at
// the oldest retained message each time.
func TestTopicLagInterleaved(t *testing.T) {
	b := newTestBroker(t)
	const size = 8
	tp := topicOrFail(t, b, "t", WithCapacity(size), WithOverflow(OverflowDropOldest))
	s := subscribeOrFail(t, tp)
	var next, missed, received uint64 = 1, 0, 0
	lags := 0
	// read receives one message, first taking the gap it reports, if any,
	// which must bring the cursor to the oldest retained message.
	read := func(published int) {
		t.Helper()
		d, err := s.Receive(context.Background())
		var lag *LagError
		if errors.As(err, &lag) {
			lags++
			missed += lag.Missed
			next += lag.Missed
			if oldest := uint64(published - size + 1); next != oldest {
				t.Fatalf("after a lag of %d the cursor is at %d, want the oldest retained %d", lag.Missed, next, oldest)
			}
			d, err = s.Receive(context.Background())
		}
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		if d.Seq != next || d.Body != int(next) {
			t.Fatalf("got seq %d body %v, want %d", d.Seq, d.Body, next)
		}
		d.Ack()
		next++
		received++
	}
	for published := 1; published <= 200; published++ {
		publishInts(t, tp, published, published)
		if published%11 == 0 { // far too slow
			read(published)
		}
	}
	for next <= 200 {
		read(200)
	}
	if lags < 2 {
		t.Fatalf("lagged %d times, want several", lags)
	}
	if missed+received != 200 {
		t.Fatalf("missed %d + received %d != 200 published", missed, received)
	}
	if st := s.Stats(); st.Missed != missed || st.Delivered != received {
		t.Fatalf("stats %+v, want %d missed, %d delivered", st, missed, received)
	}
}

// Readers racing a publisher: whatever each misses is reported, exactly.
func TestTopicLagConcurrent(t *testing.T) {
	const published = 5000
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(16), WithOverflow(OverflowDropOldest))
	subs := []*Subscription{subscribeOrFail(t, tp), subscribeOrFail(t, tp), subscribeOrFail(t, tp)}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	missed := make([]uint64, len(subs))
	received := make([]uint64, len(subs))
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() {
			for next := uint64(1); next <= published; {
				d, err := s.Receive(ctx)
				var lag *LagError
				switch {
				case errors.As(err, &lag):
					if lag.Missed == 0 {
						t.Errorf("subscription %d: LagError with nothing missed", i)
					}
					missed[i] += lag.Missed
					next += lag.Missed
					continue
				case err != nil:
					t.Errorf("subscription %d: Receive at %d: %v", i, next, err)
					return
				case d.Seq != next || d.Body != int(next):
					t.Errorf("subscription %d: got seq %d body %v, want %d", i, d.Seq, d.Body, next)
					return
				}
				d.Ack()
				received[i]++
				next++
			}
		})
	}
	for i := 1; i <= published; i++ {
		if err := tp.Publish(ctx, NewMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for i, s := range subs {
		if missed[i]+received[i] != published {
			t.Errorf("subscription %d: missed %d + received %d != %d", i, missed[i], received[i], published)
		}
		if st := s.Stats(); st.Missed != missed[i] || st.Delivered != received[i] || st.Acked != received[i] {
			t.Errorf("subscription %d: stats %+v, want %d missed, %d delivered", i, st, missed[i], received[i])
		}
	}
	t.Logf("missed: %v", missed)
}

func TestTopicLagReportedToConsume(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(4), WithOverflow(OverflowDropOldest))
	s := subscribeOrFail(t, tp)
	type seen struct {
		seq, missed uint64
	}
	var got []seen
	first := make(chan struct{})
	release := make(chan struct{})
	all := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Consume(ctx, func(_ context.Context, d *Delivery) error {
			got = append(got, seen{d.Seq, d.Missed})
			if d.Seq == 1 {
				close(first)
				<-release
			}
			if d.Seq == 20 {
				close(all)
			}
			return nil
		})
	}()
	publishInts(t, tp, 1, 1)
	<-first
	publishInts(t, tp, 2, 20) // the handler holds 1; 2..16 are overwritten
	close(release)
	<-all
	cancel()
	if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume = %v, want context.Canceled", err)
	}
	want := []seen{{1, 0}, {17, 15}, {18, 0}, {19, 0}, {20, 0}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("handled (seq, missed) %v, want %v", got, want)
	}
	if st := s.Stats(); st.Missed != 15 || st.Delivered != 5 || st.Acked != 5 {
		t.Fatalf("stats %+v, want 15 missed, 5 delivered and acked", st)
	}
}

func TestTopicOverflowBlockWaitsForSlowestSubscription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t", WithCapacity(2))
		fast := subscribeOrFail(t, tp)
		slow := subscribeOrFail(t, tp)
		publishInts(t, tp, 1, 2)
		wantInts(t, fast, 1, 2)
		done := make(chan error, 1)
		go func() { done <- tp.Publish(context.Background(), NewMessage(3)) }()
		synctest.Wait()
		if len(done) != 0 {
			t.Fatalf("Publish returned %v while a subscription is a whole ring behind", <-done)
		}
		wantCaughtUp(t, fast)
		if st := tp.Stats(); st.Published != 2 {
			t.Fatalf("published %d while blocked, want 2", st.Published)
		}
		wantInts(t, slow, 1, 1)
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Publish = %v", err)
			}
		default:
			t.Fatal("Publish still blocked after the slow subscription read")
		}
		wantInts(t, fast, 3, 3)
		wantInts(t, slow, 2, 3)
	})
}

// With a larger ring the blocked publisher is let go no later than when the
// slowest subscription has read what it held back.
func TestTopicOverflowBlockLargeRing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t", WithCapacity(16))
		slow := subscribeOrFail(t, tp)
		publishInts(t, tp, 1, 16)
		done := make(chan error, 1)
		go func() {
			for i := 17; i <= 40; i++ {
				if err := tp.Publish(context.Background(), NewMessage(i)); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		synctest.Wait()
		if st := tp.Stats(); st.Published != 16 || len(done) != 0 {
			t.Fatalf("published %d with the slow subscription 16 behind, want 16 and the publisher blocked", st.Published)
		}
		for seq := uint64(1); seq <= 40; seq++ {
			wantInts(t, slow, seq, seq)
			synctest.Wait()
			// The ring never holds a message the subscription has not read
			// over, and the publisher never waits for more than the ring.
			st := tp.Stats()
			if st.Published > seq+16 {
				t.Fatalf("after reading %d, %d published: overwrote unread messages", seq, st.Published)
			}
			if st.Published < 40 && seq == st.Published {
				t.Fatalf("the subscription read all %d published but the publisher is still blocked", seq)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestTopicOverflowBlockHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t", WithCapacity(2))
		s := subscribeOrFail(t, tp)
		publishInts(t, tp, 1, 2)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		m := NewMessage(3)
		if err := tp.Publish(ctx, m); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Publish = %v, want context.DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("Publish returned after %v, want 1s", waited)
		}
		if st := tp.Stats(); st.Published != 2 {
			t.Fatalf("published %d, want 2: the timed-out message must not be written", st.Published)
		}
		wantInts(t, s, 1, 2)
		wantCaughtUp(t, s)
		publishInts(t, tp, 3, 4)
		wantInts(t, s, 3, 4)
	})
}

func TestTopicOverflowBlockClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t", WithCapacity(2))
		subscribeOrFail(t, tp)
		publishInts(t, tp, 1, 2)
		done := make(chan error, 1)
		go func() { done <- tp.Publish(context.Background(), NewMessage(3)) }()
		synctest.Wait()
		if len(done) != 0 {
			t.Fatalf("Publish returned %v, want it blocked", <-done)
		}
		b.Close()
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("Publish = %v, want ErrClosed", err)
		}
		if err := tp.Publish(context.Background(), NewMessage(4)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Publish after Close = %v, want ErrClosed", err)
		}
	})
}

// Shutdown fails a blocked publish and waits for the subscriptions to read
// what was accepted.
func TestTopicOverflowBlockShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t", WithCapacity(2))
		s := subscribeOrFail(t, tp)
		publishInts(t, tp, 1, 2)
		published := make(chan error, 1)
		go func() { published <- tp.Publish(context.Background(), NewMessage(3)) }()
		synctest.Wait()
		shut := make(chan error, 1)
		go func() { shut <- b.Shutdown(context.Background()) }()
		if err := <-published; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked Publish = %v, want ErrClosed", err)
		}
		synctest.Wait()
		if len(shut) != 0 {
			t.Fatalf("Shutdown returned %v with two messages unread", <-shut)
		}
		wantInts(t, s, 1, 2)
		if err := <-shut; err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	})
}

func TestTopicOverflowBlockClosingSlowSubscriptionUnblocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t", WithCapacity(2))
		fast := subscribeOrFail(t, tp)
		slow := subscribeOrFail(t, tp)
		publishInts(t, tp, 1, 2)
		wantInts(t, fast, 1, 2)
		done := make(chan error, 1)
		go func() { done <- tp.Publish(context.Background(), NewMessage(3)) }()
		synctest.Wait()
		if len(done) != 0 {
			t.Fatalf("Publish returned %v, want it blocked", <-done)
		}
		if err := slow.Close(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatal("Publish still blocked after the slow subscription closed")
		}
		wantInts(t, fast, 3, 3)
		// Nothing holds the publisher back any more but fast.
		publishInts(t, tp, 4, 5)
		wantInts(t, fast, 4, 5)
		if st := tp.Stats(); st.Subscriptions != 1 || st.Published != 5 {
			t.Fatalf("topic stats %+v", st)
		}
	})
}

func TestTopicOverflowReject(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(2), WithOverflow(OverflowReject))
	s := subscribeOrFail(t, tp)
	publishInts(t, tp, 1, 2)
	if err := tp.Publish(context.Background(), NewMessage(3)); !errors.Is(err, ErrFull) {
		t.Fatalf("Publish to a full ring = %v, want ErrFull", err)
	}
	if st := tp.Stats(); st.Published != 2 || st.Dropped != 0 {
		t.Fatalf("topic stats %+v, want 2 published, nothing dropped", st)
	}
	wantInts(t, s, 1, 1)
	publishInts(t, tp, 2, 2) // published again: seq 3, body 2
	d := receiveSubOrFail(t, s)
	if d.Seq != 2 || d.Body != 2 {
		t.Fatalf("got seq %d body %v", d.Seq, d.Body)
	}
	d = receiveSubOrFail(t, s)
	if d.Seq != 3 || d.Body != 2 {
		t.Fatalf("got seq %d body %v, want the republished message as seq 3", d.Seq, d.Body)
	}
}

func TestTopicOverflowDropNewest(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(2), WithOverflow(OverflowDropNewest))
	s := subscribeOrFail(t, tp)
	publishInts(t, tp, 1, 5) // 3..5 dropped, each publish returning nil
	if st := tp.Stats(); st.Published != 2 || st.Dropped != 3 || st.Retained != 2 {
		t.Fatalf("topic stats %+v, want 2 published, 3 dropped", st)
	}
	wantInts(t, s, 1, 2)
	wantCaughtUp(t, s)
	if err := tp.Publish(context.Background(), NewMessage(6)); err != nil {
		t.Fatal(err)
	}
	// A dropped publish takes no sequence number.
	if d := receiveSubOrFail(t, s); d.Seq != 3 || d.Body != 6 {
		t.Fatalf("got seq %d body %v, want seq 3 body 6", d.Seq, d.Body)
	}
	if st := s.Stats(); st.Missed != 0 {
		t.Fatalf("subscription missed %d, want 0", st.Missed)
	}
}

// Without subscriptions, or with only closed ones, no policy holds a
// publish back: there is nobody to wait for.
func TestTopicWithoutSubscriptionsNeverBlocks(t *testing.T) {
	for _, p := range []Overflow{OverflowBlock, OverflowReject, OverflowDropNewest, OverflowDropOldest} {
		t.Run(p.String(), func(t *testing.T) {
			b := newTestBroker(t)
			tp := topicOrFail(t, b, "t", WithCapacity(2), WithOverflow(p))
			publishInts(t, tp, 1, 10)
			s := subscribeOrFail(t, tp, FromEarliest())
			s.Close()
			publishInts(t, tp, 11, 20)
			if st := tp.Stats(); st.Published != 20 || st.Dropped != 0 || st.Subscriptions != 0 {
				t.Fatalf("topic stats %+v, want 20 published", st)
			}
		})
	}
}

func TestTopicStats(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(4))
	if st := tp.Stats(); st != (TopicStats{}) {
		t.Fatalf("new topic stats %+v, want zero", st)
	}
	a := subscribeOrFail(t, tp)
	c := subscribeOrFail(t, tp)
	g1 := subscribeOrFail(t, tp, WithGroup("g"))
	subscribeOrFail(t, tp, WithGroup("g"))
	subscribeOrFail(t, tp, WithGroup("h"))
	publishInts(t, tp, 1, 3)
	want := TopicStats{Published: 3, Retained: 3, Subscriptions: 2, Groups: 2, Subscribers: 5}
	if st := tp.Stats(); st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	a.Close()
	a.Close()
	g1.Close()
	want.Subscriptions, want.Subscribers = 1, 3
	if st := tp.Stats(); st != want {
		t.Fatalf("after closing a subscription and a member: %+v, want %+v", st, want)
	}
	wantInts(t, c, 1, 3)
	if st := c.Stats(); st != (SubscriptionStats{Delivered: 3, Acked: 3}) {
		t.Fatalf("subscription stats %+v", st)
	}
}

func TestTopicBrokerPublishByName(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "news")
	s1, s2 := subscribeOrFail(t, tp), subscribeOrFail(t, tp)
	m := &Message{Body: 1, Key: "k"}
	if err := b.Publish(context.Background(), "news", m); err != nil {
		t.Fatal(err)
	}
	if m.ID == "" || m.Time.IsZero() {
		t.Fatalf("Broker.Publish did not stamp the message: %+v", m)
	}
	wantInts(t, s1, 1, 1)
	wantInts(t, s2, 1, 1)
	if err := b.Publish(context.Background(), "nothing", NewMessage(1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Publish to an undeclared name = %v, want ErrNotFound", err)
	}
}

// A queue's dead letters may go to a topic: its subscribers get them.
func TestTopicAsQueueDeadLetter(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "work", WithDeadLetter("dead"), WithMaxDeliveries(2), WithBackoff(0, 0))
	tp := topicOrFail(t, b, "dead")
	audit, alert := subscribeOrFail(t, tp), subscribeOrFail(t, tp)
	group := subscribeOrFail(t, tp, WithGroup("retry"))

	start := time.Now()
	m := publishOrFail(t, q, "a")
	settleOrFail(t, receiveOrFail(t, q).Reject)
	publishOrFail(t, q, "b")
	settleOrFail(t, receiveOrFail(t, q).Nack)
	settleOrFail(t, receiveOrFail(t, q).Nack)
	end := time.Now()

	for _, s := range []*Subscription{audit, alert, group} {
		d := receiveSubOrFail(t, s)
		if d.ID != m.ID || d.Body != "a" {
			t.Fatalf("first dead letter %q %v, want %q a", d.ID, d.Body, m.ID)
		}
		wantDeath(t, d, map[string]string{HeaderDeathQueue: "work", HeaderDeathReason: ReasonRejected, HeaderDeathAttempts: "1"}, start, end)
		d.Ack()
		d = receiveSubOrFail(t, s)
		if d.Body != "b" {
			t.Fatalf("second dead letter %v, want b", d.Body)
		}
		wantDeath(t, d, map[string]string{HeaderDeathQueue: "work", HeaderDeathReason: ReasonDeliveryLimit, HeaderDeathAttempts: "2"}, start, end)
		d.Ack()
	}
	if st := q.Stats(); st.DeadLettered != 2 || st.DeadLetterFailed != 0 || st.Rejected != 2 {
		t.Fatalf("queue stats %+v, want 2 dead-lettered", st)
	}
	if st := tp.Stats(); st.Published != 2 {
		t.Fatalf("topic stats %+v, want 2 published", st)
	}
}

func TestTopicAfterClose(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	s := subscribeOrFail(t, tp)
	b.Close()
	if _, err := b.Topic("t"); !errors.Is(err, ErrClosed) {
		t.Errorf("Topic after Close = %v, want ErrClosed", err)
	}
	if _, err := b.Topic("u"); !errors.Is(err, ErrClosed) {
		t.Errorf("Topic after Close = %v, want ErrClosed", err)
	}
	if err := tp.Publish(context.Background(), NewMessage(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if err := b.Publish(context.Background(), "t", NewMessage(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Broker.Publish after Close = %v, want ErrClosed", err)
	}
	for _, opts := range [][]SubscribeOption{nil, {FromEarliest()}, {WithGroup("g")}} {
		if _, err := tp.Subscribe(opts...); !errors.Is(err, ErrClosed) {
			t.Errorf("Subscribe(%v) after Close = %v, want ErrClosed", opts, err)
		}
	}
	if _, err := s.Receive(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Receive after Close = %v, want ErrClosed", err)
	}
}

// A dead letter is never waited for: when the topic it goes to is full
// under OverflowBlock, it is lost and counted, not blocked on.
func TestTopicAsQueueDeadLetterToFullTopic(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "work", WithDeadLetter("dead"))
	tp := topicOrFail(t, b, "dead", WithCapacity(1))
	s := subscribeOrFail(t, tp) // reads nothing until the end
	publishOrFail(t, q, 1)
	publishOrFail(t, q, 2)
	settleOrFail(t, receiveOrFail(t, q).Reject)
	settleOrFail(t, receiveOrFail(t, q).Reject)
	if st := q.Stats(); st.Rejected != 2 || st.DeadLettered != 1 || st.DeadLetterFailed != 1 {
		t.Fatalf("queue stats %+v, want 2 rejected: 1 dead-lettered, 1 failed", st)
	}
	d := receiveSubOrFail(t, s)
	if d.Body != 1 || d.Seq != 1 {
		t.Fatalf("got seq %d body %v, want the first dead letter", d.Seq, d.Body)
	}
	wantCaughtUp(t, s)
}
