package herald

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestGroupMembersShareStream(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	m1 := subscribeOrFail(t, tp, WithGroup("g"))
	m2 := subscribeOrFail(t, tp, WithGroup("g"))
	publishInts(t, tp, 1, 10)
	var got []any
	for i := range 10 {
		m := m1
		if i%2 == 1 {
			m = m2
		}
		d := receiveSubOrFail(t, m)
		if d.Attempt != 1 {
			t.Fatalf("attempt %d, want 1", d.Attempt)
		}
		got = append(got, d.Body)
		settleOrFail(t, d.Ack)
	}
	// One stream, handed out in publish order whichever member asks.
	if fmt.Sprint(got) != "[1 2 3 4 5 6 7 8 9 10]" {
		t.Fatalf("members got %v, want each message once, in order", got)
	}
	want := SubscriptionStats{Delivered: 10, Acked: 10}
	wantSubStats(t, m1, want)
	wantSubStats(t, m2, want) // a member's stats are the group's
	if st := tp.Stats(); st.Groups != 1 || st.Subscriptions != 0 {
		t.Fatalf("topic stats %+v, want one group and no plain subscription", st)
	}
}

// Group deliveries are topic deliveries: they carry the topic's sequence
// number, as Delivery.Seq documents.
func TestGroupDeliveryCarriesTopicSeq(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	publishInts(t, tp, 1, 2)
	backfilled := subscribeOrFail(t, tp, WithGroup("early"), FromEarliest())
	live := subscribeOrFail(t, tp, WithGroup("live"))
	publishInts(t, tp, 3, 3)
	wantInts(t, backfilled, 1, 3)
	wantInts(t, live, 3, 3)
}

// Every message ends exactly once, acked or dead-lettered, and each of its
// attempts is handled by exactly one member, whatever the handlers answer.
func TestGroupExactlyOncePerAttempt(t *testing.T) {
	const n, members, maxDeliveries = 600, 3, 3
	b := newTestBroker(t)
	dlq := mustQueue(t, b, "dead", WithCapacity(n))
	tp := topicOrFail(t, b, "jobs")
	opts := []SubscribeOption{WithGroup("workers"), WithMaxDeliveries(maxDeliveries), WithDeadLetter("dead"),
		WithBackoff(time.Millisecond, 4*time.Millisecond)}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	const (
		ack = iota
		nack
		reject
	)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 0))
	history := map[string][]int{} // outcomes of each message's attempts, in order
	ended := 0
	allEnded := make(chan struct{})
	handler := func(_ context.Context, d *Delivery) error {
		mu.Lock()
		h := history[d.ID]
		if d.Attempt != len(h)+1 {
			t.Errorf("message %v: attempt %d after %d attempts", d.Body, d.Attempt, len(h))
		}
		var o int
		switch r := rng.IntN(100); {
		case r < 50:
			o = ack
		case r < 85:
			o = nack
		default:
			o = reject
		}
		history[d.ID] = append(h, o)
		if o != nack || d.Attempt == maxDeliveries {
			if ended++; ended == n {
				close(allEnded)
			}
		}
		mu.Unlock()
		switch o {
		case nack:
			return fmt.Errorf("attempt %d failed", d.Attempt)
		case reject:
			return Permanent(errors.New("bad message"))
		}
		return nil
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	subs := make([]*Subscription, members)
	dones := make([]<-chan error, members)
	for i := range subs {
		subs[i] = subscribeOrFail(t, tp, opts...)
		dones[i] = consumeSubAsync(ctx, subs[i], handler, WithConcurrency(2))
	}
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for p := range 2 {
		wg.Go(func() {
			for i := p; i < n; i += 2 {
				m := NewMessage(i)
				if err := tp.Publish(ctx, m); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
				ids <- m.ID
			}
		})
	}
	wg.Wait()
	close(ids)
	select {
	case <-allEnded:
	case <-time.After(eventTimeout):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("%d of %d messages ended", ended, n)
	}
	cancel()
	for i, done := range dones {
		if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
			t.Errorf("member %d: Consume = %v, want context.Canceled", i, err)
		}
	}

	// Every settlement is done: the dead letters are all in the queue.
	dead := map[string]*Delivery{}
	for dlq.Len() > 0 {
		d := receiveOrFail(t, dlq)
		if dead[d.ID] != nil {
			t.Fatalf("message %v dead-lettered twice", d.Body)
		}
		dead[d.ID] = d
	}
	var delivered, acked, nacked, rejected uint64
	for id := range ids {
		h := history[id]
		delivered += uint64(len(h))
		last := h[len(h)-1]
		for _, o := range h[:len(h)-1] {
			if o != nack {
				t.Fatalf("message %s: attempts %v go on after it ended", id, h)
			}
			nacked++
		}
		d := dead[id]
		delete(dead, id)
		switch {
		case last == ack:
			acked++
			if d != nil {
				t.Fatalf("message %s acked and dead-lettered", id)
			}
			continue
		case last == nack && len(h) < maxDeliveries:
			t.Fatalf("message %s: attempts %v, then nothing", id, h)
		case d == nil:
			t.Fatalf("message %s: attempts %v, not dead-lettered", id, h)
		}
		rejected++
		reason, err := ReasonRejected, "permanent: bad message"
		if last == nack {
			nacked++
			reason, err = ReasonDeliveryLimit, fmt.Sprintf("attempt %d failed", maxDeliveries)
		}
		want := Headers{HeaderDeathQueue: "jobs/workers", HeaderDeathReason: reason,
			HeaderDeathAttempts: strconv.Itoa(len(h)), HeaderDeathError: err}
		for k, v := range want {
			if d.Headers[k] != v {
				t.Fatalf("message %s (attempts %v): dead letter %s = %q, want %q", id, h, k, d.Headers[k], v)
			}
		}
	}
	if len(history) != n || len(dead) != 0 {
		t.Fatalf("%d messages handled, %d unknown dead letters; want %d and 0", len(history), len(dead), n)
	}
	want := SubscriptionStats{Delivered: delivered, Acked: acked, Nacked: nacked, Rejected: rejected, DeadLettered: rejected}
	for _, s := range subs {
		wantSubStats(t, s, want)
	}
	t.Logf("%d acked, %d dead-lettered, %d deliveries", acked, rejected, delivered)
}

// Plain subscriptions each get every message; a group's members split them.
func TestGroupAndPlainSubscriptions(t *testing.T) {
	const n = 200
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(256))
	plain := []*Subscription{subscribeOrFail(t, tp), subscribeOrFail(t, tp)}
	members := []*Subscription{subscribeOrFail(t, tp, WithGroup("g")), subscribeOrFail(t, tp, WithGroup("g"))}

	var mu sync.Mutex
	handled := map[any]int{}
	perMember := make([]int, len(members))
	// Each member's first handler call waits for the other's: so both
	// members take part, whoever is quicker.
	started := []chan struct{}{make(chan struct{}), make(chan struct{})}
	all := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	var dones []<-chan error
	for i, m := range members {
		dones = append(dones, consumeSubAsync(ctx, m, func(ctx context.Context, d *Delivery) error {
			mu.Lock()
			first := perMember[i] == 0
			perMember[i]++
			handled[d.Body]++
			if len(handled) == n {
				close(all)
			}
			mu.Unlock()
			if first {
				close(started[i])
				select {
				case <-started[1-i]:
				case <-ctx.Done():
				}
			}
			return nil
		}))
	}
	publishInts(t, tp, 1, n)
	for _, s := range plain {
		wantInts(t, s, 1, n)
		wantCaughtUp(t, s)
	}
	select {
	case <-all:
	case <-ctx.Done():
		t.Fatalf("the group handled %d of %d", len(handled), n)
	}
	cancel()
	for _, done := range dones {
		if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v", err)
		}
	}
	for i := 1; i <= n; i++ {
		if handled[i] != 1 {
			t.Fatalf("the group handled %d %d times, want once", i, handled[i])
		}
	}
	if perMember[0] == 0 || perMember[1] == 0 || perMember[0]+perMember[1] != n {
		t.Fatalf("members handled %v, want both some, %d in all", perMember, n)
	}
	wantSubStats(t, members[0], SubscriptionStats{Delivered: n, Acked: n})
	if st := tp.Stats(); st.Published != n || st.Subscriptions != 2 || st.Groups != 1 {
		t.Fatalf("topic stats %+v", st)
	}
}

func TestGroupMemberCloseLeavesGroup(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	a := subscribeOrFail(t, tp, WithGroup("g"))
	c := subscribeOrFail(t, tp, WithGroup("g"))
	publishInts(t, tp, 1, 1)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	publishInts(t, tp, 2, 3)
	for i := 1; i <= 3; i++ {
		d := receiveSubOrFail(t, c)
		if d.Body != i {
			t.Fatalf("got %v, want %d", d.Body, i)
		}
		d.Ack()
	}
	// With no member at all the group keeps its messages for the next.
	c.Close()
	publishInts(t, tp, 4, 5)
	next := subscribeOrFail(t, tp, WithGroup("g"))
	for i := 4; i <= 5; i++ {
		if d := receiveSubOrFail(t, next); d.Body != i {
			t.Fatalf("got %v, want %d", d.Body, i)
		}
	}
	if st := tp.Stats(); st.Groups != 1 {
		t.Fatalf("%d groups, want 1", st.Groups)
	}
}

func TestGroupCloseWakesBlockedReceive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		a := subscribeOrFail(t, tp, WithGroup("g"))
		c := subscribeOrFail(t, tp, WithGroup("g"))
		errs := make(chan error, 2)
		go func() {
			_, err := a.Receive(context.Background())
			errs <- err
		}()
		consumed := consumeSubAsync(context.Background(), a, func(context.Context, *Delivery) error {
			t.Error("a closed member handled a message")
			return nil
		})
		synctest.Wait()
		if len(errs) != 0 || len(consumed) != 0 {
			t.Fatal("a call returned before Close")
		}
		a.Close()
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked Receive = %v, want an error wrapping ErrClosed", err)
		}
		if err := <-consumed; !errors.Is(err, ErrClosed) {
			t.Fatalf("Consume = %v, want an error wrapping ErrClosed", err)
		}
		publishInts(t, tp, 1, 1)
		if d := receiveSubOrFail(t, c); d.Body != 1 {
			t.Fatalf("remaining member got %v, want 1", d.Body)
		}
	})
}

func TestGroupBrokerCloseWakesBlockedMember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		a := subscribeOrFail(t, tp, WithGroup("g"))
		errs := make(chan error, 1)
		go func() {
			_, err := a.Receive(context.Background())
			errs <- err
		}()
		consumed := consumeSubAsync(context.Background(), a, func(context.Context, *Delivery) error { return nil })
		synctest.Wait()
		b.Close()
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked Receive = %v, want ErrClosed", err)
		}
		if err := <-consumed; err != ErrClosed {
			t.Fatalf("Consume = %v, want ErrClosed", err)
		}
	})
}

// After Close a member takes nothing more: its Receive and Consume fail
// even when the group has messages ready, which stay for the others.
func TestGroupMemberReceiveAfterCloseFails(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	a := subscribeOrFail(t, tp, WithGroup("g"))
	c := subscribeOrFail(t, tp, WithGroup("g"))
	a.Close()
	publishInts(t, tp, 1, 2)
	if d, err := a.Receive(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Receive after Close = %v, %v; want an error wrapping ErrClosed", bodyOf(d), err)
		if d != nil {
			d.Nack() // hand it back
		}
	}
	err := a.Consume(context.Background(), func(_ context.Context, d *Delivery) error {
		t.Errorf("a closed member's handler got %v", d.Body)
		return errors.New("hand it back")
	})
	if !errors.Is(err, ErrClosed) {
		t.Errorf("Consume after Close = %v, want an error wrapping ErrClosed", err)
	}
	if st := c.Stats(); st.Lag != 2 || st.Delivered != 0 {
		t.Errorf("group stats %+v, want both messages ready and none delivered", st)
	}
}

func TestGroupRedeliveryOptionsMustMatch(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	opts := []SubscribeOption{WithGroup("g"), WithMaxDeliveries(3), WithDeadLetter("dlq"), WithBackoff(time.Second, time.Minute), WithAckTimeout(time.Minute)}
	subscribeOrFail(t, tp, opts...)
	// Same redelivery options, in another order, with a start position
	// (which only matters when the group is created): the same group.
	subscribeOrFail(t, tp, WithAckTimeout(time.Minute), WithBackoff(time.Second, time.Minute), WithDeadLetter("dlq"),
		WithMaxDeliveries(3), WithGroup("g"), FromEarliest())
	for _, other := range []SubscribeOption{
		WithMaxDeliveries(4), WithDeadLetter("other"), WithBackoff(0, 0), WithAckTimeout(time.Second),
	} {
		s, err := tp.Subscribe(append(append([]SubscribeOption(nil), opts...), other)...)
		if !errors.Is(err, ErrExists) || s != nil {
			t.Errorf("joining with %T = %v, %v; want ErrExists", other, s, err)
		}
	}
	if _, err := tp.Subscribe(WithGroup("g")); !errors.Is(err, ErrExists) {
		t.Errorf("joining with default options = %v, want ErrExists", err)
	}
	// Another group name is another group.
	subscribeOrFail(t, tp, WithGroup("h"))
	if st := tp.Stats(); st.Groups != 2 {
		t.Fatalf("%d groups, want 2", st.Groups)
	}
}

// WithGroup("") is bad input, like any empty name: it must not quietly
// make a plain subscription, which would get every message instead of a
// share.
func TestGroupEmptyNameIsInvalid(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	s, err := tp.Subscribe(WithGroup(""))
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("Subscribe(WithGroup(\"\")) = %v, want ErrInvalid", err)
	}
	if s != nil {
		s.Close()
	}
}

func TestGroupStartPositions(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(8))
	publishInts(t, tp, 1, 5)
	bodies := func(s *Subscription) []any {
		t.Helper()
		var got []any
		for s.Stats().Lag > 0 {
			d := receiveSubOrFail(t, s)
			got = append(got, d.Body)
			d.Ack()
		}
		return got
	}
	early := subscribeOrFail(t, tp, WithGroup("early"), FromEarliest())
	if got := bodies(early); fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Fatalf("group created FromEarliest got %v, want [1 2 3 4 5]", got)
	}
	// A later member does not backfill the group again.
	late := subscribeOrFail(t, tp, WithGroup("early"), FromEarliest())
	if got := bodies(late); len(got) != 0 {
		t.Fatalf("second member FromEarliest got %v, want nothing", got)
	}
	fromSeq := subscribeOrFail(t, tp, WithGroup("seq"), FromSequence(4))
	if got := bodies(fromSeq); fmt.Sprint(got) != "[4 5]" {
		t.Fatalf("group created FromSequence(4) got %v, want [4 5]", got)
	}
	fresh := subscribeOrFail(t, tp, WithGroup("fresh"))
	if got := bodies(fresh); len(got) != 0 {
		t.Fatalf("group created without a start got %v, want nothing", got)
	}

	// A group's backlog holds as much as the ring: publish in two rounds.
	publishInts(t, tp, 6, 13)
	for _, s := range []*Subscription{early, fromSeq, fresh} {
		if got := bodies(s); fmt.Sprint(got) != "[6 7 8 9 10 11 12 13]" {
			t.Fatalf("got %v, want 6..13", got)
		}
	}
	publishInts(t, tp, 14, 20) // the ring now retains 13..20
	for _, s := range []*Subscription{early, fromSeq, fresh} {
		if got := bodies(s); fmt.Sprint(got) != "[14 15 16 17 18 19 20]" {
			t.Fatalf("got %v, want 14..20", got)
		}
	}
	wrapped := subscribeOrFail(t, tp, WithGroup("wrapped"), FromEarliest())
	if got := bodies(wrapped); fmt.Sprint(got) != "[13 14 15 16 17 18 19 20]" {
		t.Fatalf("group created FromEarliest after a wrap got %v, want 13..20", got)
	}
	below := subscribeOrFail(t, tp, WithGroup("below"), FromSequence(2))
	if got := bodies(below); fmt.Sprint(got) != "[13 14 15 16 17 18 19 20]" {
		t.Fatalf("group created FromSequence(2) after a wrap got %v, want 13..20", got)
	}
}

func TestGroupNackAndDeadLetter(t *testing.T) {
	b := newTestBroker(t)
	dlq := mustQueue(t, b, "dlq")
	tp := topicOrFail(t, b, "t")
	opts := []SubscribeOption{WithGroup("g"), WithMaxDeliveries(2), WithDeadLetter("dlq"), WithBackoff(0, 0)}
	a, c := subscribeOrFail(t, tp, opts...), subscribeOrFail(t, tp, opts...)
	start := time.Now()
	publishInts(t, tp, 1, 2)
	d := receiveSubOrFail(t, a)
	wantBody(t, d, 1, 1)
	settleOrFail(t, d.Nack)
	d = receiveSubOrFail(t, c) // 2, then the redelivered 1 behind it
	wantBody(t, d, 2, 1)
	settleOrFail(t, d.Reject)
	d = receiveSubOrFail(t, c)
	wantBody(t, d, 1, 2)
	settleOrFail(t, d.Nack)
	end := time.Now()
	dead := receiveOrFail(t, dlq)
	wantDeath(t, dead, map[string]string{HeaderDeathQueue: "t/g", HeaderDeathReason: ReasonRejected, HeaderDeathAttempts: "1"}, start, end)
	if dead.Body != 2 {
		t.Fatalf("first dead letter %v, want 2", dead.Body)
	}
	dead = receiveOrFail(t, dlq)
	wantDeath(t, dead, map[string]string{HeaderDeathQueue: "t/g", HeaderDeathReason: ReasonDeliveryLimit, HeaderDeathAttempts: "2"}, start, end)
	if dead.Body != 1 {
		t.Fatalf("second dead letter %v, want 1", dead.Body)
	}
	wantSubStats(t, a, SubscriptionStats{Delivered: 3, Nacked: 2, Rejected: 2, DeadLettered: 2})
}

func TestGroupAckTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		opts := []SubscribeOption{WithGroup("g"), WithAckTimeout(time.Second)}
		stuck, other := subscribeOrFail(t, tp, opts...), subscribeOrFail(t, tp, opts...)
		publishInts(t, tp, 1, 1)
		start := time.Now()
		d := receiveSubOrFail(t, stuck)
		got := make(chan *Delivery, 1)
		go func() {
			d, err := other.Receive(context.Background())
			if err != nil {
				t.Errorf("Receive: %v", err)
			}
			got <- d
		}()
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("redelivered before the ack timeout")
		}
		wantSubStats(t, other, SubscriptionStats{Delivered: 1, Unacked: 1})
		again := <-got
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("redelivered after %v, want 1s", waited)
		}
		if again.ID != d.ID || again.Attempt != 2 {
			t.Fatalf("redelivery %q attempt %d, want %q attempt 2", again.ID, again.Attempt, d.ID)
		}
		if err := d.Ack(); !errors.Is(err, ErrSettled) {
			t.Fatalf("late Ack = %v, want ErrSettled", err)
		}
		settleOrFail(t, again.Ack)
		wantSubStats(t, stuck, SubscriptionStats{Delivered: 2, Acked: 1, Nacked: 1})
	})
}

// A group's backlog is bounded like the ring, under the topic's policy.
func TestGroupBacklogOverflow(t *testing.T) {
	t.Run("block", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newTestBroker(t)
			tp := topicOrFail(t, b, "t", WithCapacity(2))
			m := subscribeOrFail(t, tp, WithGroup("g"))
			publishInts(t, tp, 1, 2)
			done := make(chan error, 1)
			go func() { done <- tp.Publish(context.Background(), NewMessage(3)) }()
			synctest.Wait()
			if len(done) != 0 {
				t.Fatalf("Publish returned %v with the group's backlog full", <-done)
			}
			d := receiveSubOrFail(t, m)
			wantBody(t, d, 1, 1)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			for i := 2; i <= 3; i++ {
				wantBody(t, receiveSubOrFail(t, m), i, 1)
			}
		})
	})
	t.Run("drop-oldest", func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t", WithCapacity(2), WithOverflow(OverflowDropOldest))
		m := subscribeOrFail(t, tp, WithGroup("g"))
		publishInts(t, tp, 1, 5)
		wantBody(t, receiveSubOrFail(t, m), 4, 1)
		wantBody(t, receiveSubOrFail(t, m), 5, 1)
		if st := m.Stats(); st.Dropped != 3 || st.Delivered != 2 {
			t.Fatalf("group stats %+v, want 3 dropped", st)
		}
	})
}

// A group member's loop still acks what the body leaves unsettled.
func TestSubscriptionAllGroupMember(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	s := subscribeOrFail(t, tp, WithGroup("g"))
	publishInts(t, tp, 1, 3)
	n := 0
	for d := range s.All(context.Background()) {
		if n++; n == 3 {
			break
		}
		d.Ack()
	}
	if st := s.Stats(); st.Acked != 3 || st.Unacked != 0 {
		t.Errorf("Stats() = %+v, want 3 acked, none unacked", st)
	}
}

// A publish that returns an error must not have reached anybody: a
// publisher that retries on ErrFull would otherwise deliver the message
// twice to the subscriptions that got it the first time.
func TestTopicRejectedPublishReachesNobody(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(2), WithOverflow(OverflowReject))
	plain := subscribeOrFail(t, tp)
	subscribeOrFail(t, tp, WithGroup("g")) // a member that reads nothing: its backlog fills up
	publishInts(t, tp, 1, 2)
	wantInts(t, plain, 1, 2)
	err := tp.Publish(context.Background(), NewMessage(3))
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Publish with the group's backlog full = %v, want ErrFull", err)
	}
	if st := tp.Stats(); st.Published != 2 {
		t.Errorf("Publish returned %v, yet the topic counts %d published, want 2", err, st.Published)
	}
	if st := plain.Stats(); st.Lag != 0 {
		t.Errorf("Publish returned %v, yet the plain subscription has %d message(s) to read, want 0", err, st.Lag)
	}
}
