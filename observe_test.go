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

// obsEvent is one hook call as the recorder saw it.
type obsEvent struct {
	hook    string // "publish", "deliver", "end"
	place   Place
	id      string
	attempt int
	consume bool // deliver
	outcome Outcome
	reason  string
	err     error
	dl      string
	dlErr   error
}

// obsRecorder records every hook call, and checks at each that herald
// holds none of the broker's locks.
type obsRecorder struct {
	b       *Broker // set once the broker exists; nil: no lock check
	mu      sync.Mutex
	events  []obsEvent
	lockErr []string
}

func (r *obsRecorder) observer() Observer {
	return Observer{
		Publish: func(ctx context.Context, p PublishInfo) (Headers, func(error)) {
			r.add(obsEvent{hook: "publish", place: p.Place, id: p.Message.ID})
			return nil, nil
		},
		Deliver: func(ctx context.Context, d DeliverInfo) {
			r.add(obsEvent{hook: "deliver", place: d.Place, id: d.Delivery.ID, attempt: d.Delivery.Attempt, consume: d.Consume})
		},
		End: func(e EndInfo) {
			r.add(obsEvent{hook: "end", place: e.Place, id: e.Message.ID, attempt: e.Attempt, outcome: e.Outcome,
				reason: e.Reason, err: e.Err, dl: e.DeadLetter, dlErr: e.DeadLetterErr})
		},
	}
}

func (r *obsRecorder) add(e obsEvent) {
	held := heldLocks(r.b)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	if len(held) > 0 {
		r.lockErr = append(r.lockErr, fmt.Sprintf("%s hook ran with %v held", e.hook, held))
	}
}

func (r *obsRecorder) take() []obsEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]obsEvent(nil), r.events...)
}

// count returns how many End events at p had outcome o, and of those
// how many were dead-lettered and failed to be.
func (r *obsRecorder) count(p Place, o Outcome) (n, dead, failed uint64) {
	for _, e := range r.take() {
		if e.hook == "end" && e.place == p && e.outcome == o {
			n++
			if e.dl != "" {
				dead++
			}
			if e.dlErr != nil {
				failed++
			}
		}
	}
	return n, dead, failed
}

// heldLocks returns the names of the broker's locks that someone holds.
// Only meaningful where nothing else runs meanwhile, as in a synctest
// bubble whose other goroutines are all blocked.
func heldLocks(b *Broker) []string {
	if b == nil {
		return nil
	}
	var held []string
	try := func(name string, mu *sync.Mutex) {
		if !mu.TryLock() {
			held = append(held, name)
			return
		}
		mu.Unlock()
	}
	try("broker", &b.mu)
	for name, d := range b.names.all() {
		switch x := d.(type) {
		case *Queue:
			try("queue "+name, &x.mu)
		case *Topic:
			try("topic "+name+" wmu", &x.wmu)
			try("topic "+name+" mu", &x.mu)
			for _, s := range *x.subs.Load() {
				try("subscription of "+name, &s.mu)
			}
			for _, g := range *x.groups.Load() {
				try("group "+g.name, &g.q.mu)
			}
		}
	}
	return held
}

// wantOutcomes fails the test unless the End events at p add up to the
// counters Stats reports there.
func wantOutcomes(t *testing.T, r *obsRecorder, p Place, acked, nacked, rejected, expired, dropped, deadLettered, failed uint64) {
	t.Helper()
	var dl, fl uint64
	got := make([]uint64, 5)
	for i, o := range []Outcome{OutcomeAcked, OutcomeNacked, OutcomeRejected, OutcomeExpired, OutcomeDropped} {
		n, d, f := r.count(p, o)
		got[i], dl, fl = n, dl+d, fl+f
	}
	want := []uint64{acked, nacked, rejected, expired, dropped}
	if fmt.Sprint(got, dl, fl) != fmt.Sprint(want, deadLettered, failed) {
		t.Errorf("%+v: observed acked, nacked, rejected, expired, dropped %v, dead-lettered %d, failed %d; Stats say %v, %d, %d",
			p, got, dl, fl, want, deadLettered, failed)
	}
}

func wantQueueOutcomes(t *testing.T, r *obsRecorder, q *Queue) {
	t.Helper()
	s := q.Stats()
	wantOutcomes(t, r, Place{Name: q.name, Kind: "queue"}, s.Acked, s.Nacked, s.Rejected, s.Expired, s.Dropped, s.DeadLettered, s.DeadLetterFailed)
}

func recvOrFail(t testing.TB, s *Subscription) *Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	d, err := s.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	return d
}

// TestObserverOutcomesMatchStats drives every outcome Stats counts, on
// queues, plain subscriptions, groups and a topic, and checks that the End
// hook saw each one, where it happened, as often as Stats counted it, and
// that no hook ran while herald held a lock.
func TestObserverOutcomesMatchStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &obsRecorder{}
		b := newTestBroker(t, WithObserver(rec.observer()), WithObserver(Observer{}))
		rec.b = b
		ctx := context.Background()

		dlq := mustQueue(t, b, "dlq", WithCapacity(100))
		q := mustQueue(t, b, "work", WithMaxDeliveries(2), WithDeadLetter("dlq"),
			WithBackoff(time.Second, time.Second), WithCapacity(3), WithOverflow(OverflowDropOldest))
		// Acked.
		publishOrFail(t, q, "ack")
		settleOrFail(t, receiveOrFail(t, q).Ack)
		// Rejected, dead-lettered.
		publishOrFail(t, q, "reject")
		settleOrFail(t, receiveOrFail(t, q).Reject)
		// Nacked twice, then rejected at the delivery limit.
		publishOrFail(t, q, "limit")
		settleOrFail(t, receiveOrFail(t, q).Nack)
		time.Sleep(time.Second)
		settleOrFail(t, receiveOrFail(t, q).Nack)
		// Expired by its TTL, by the expiry sweep.
		if err := q.Publish(ctx, &Message{Body: "ttl", TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		// Dropped by the overflow policy: four into three places.
		for i := range 4 {
			publishOrFail(t, q, i)
		}
		for range 3 {
			settleOrFail(t, receiveOrFail(t, q).Ack)
		}
		wantQueueOutcomes(t, rec, q)
		if s := q.Stats(); s.Acked != 4 || s.Nacked != 2 || s.Rejected != 2 || s.Expired != 1 || s.Dropped != 1 || s.DeadLettered != 4 {
			t.Errorf("work stats %+v: the scenario did not run as planned", s)
		}

		// Nacked by the ack timeout, then acked.
		slow := mustQueue(t, b, "slow", WithAckTimeout(time.Second))
		publishOrFail(t, slow, "slow")
		receiveOrFail(t, slow)
		time.Sleep(2 * time.Second)
		settleOrFail(t, receiveOrFail(t, slow).Ack)
		wantQueueOutcomes(t, rec, slow)
		for _, e := range rec.take() {
			if e.hook == "end" && e.place.Name == "slow" && e.outcome == OutcomeNacked && !errors.Is(e.err, ErrAckTimeout) {
				t.Errorf("ack-timeout nack reported with error %v", e.err)
			}
		}

		// A dead letter that cannot be published is reported as failed.
		lost := mustQueue(t, b, "lost", WithDeadLetter("nowhere"))
		publishOrFail(t, lost, "x")
		settleOrFail(t, receiveOrFail(t, lost).Reject)
		wantQueueOutcomes(t, rec, lost)

		// A topic drops the newest publish when a subscription is a ring behind.
		full, err := b.Topic("full", WithCapacity(1), WithOverflow(OverflowDropNewest))
		if err != nil {
			t.Fatal(err)
		}
		fullSub, _ := full.Subscribe()
		for i := range 2 {
			if err := full.Publish(ctx, NewMessage(i)); err != nil {
				t.Fatal(err)
			}
		}
		settleOrFail(t, recvOrFail(t, fullSub).Ack)
		if n, _, _ := rec.count(Place{Name: "full", Kind: "topic"}, OutcomeDropped); n != full.Stats().Dropped || n != 1 {
			t.Errorf("topic drops observed %d, Stats %d, want 1", n, full.Stats().Dropped)
		}

		// A plain subscription: past the max age, nacked, rejected, and
		// redeliveries dropped by Close, on both of Close's paths.
		aged, _ := b.Topic("aged", WithMaxAge(time.Second))
		sub, _ := aged.Subscribe(WithBackoff(0, 0))
		aged.Publish(ctx, NewMessage("old"))
		time.Sleep(2 * time.Second)
		aged.Publish(ctx, NewMessage("a"))
		aged.Publish(ctx, NewMessage("b"))
		settleOrFail(t, recvOrFail(t, sub).Nack)   // "a"; "old" expired on the way
		settleOrFail(t, recvOrFail(t, sub).Reject) // "a" again
		settleOrFail(t, recvOrFail(t, sub).Nack)   // "b": its redelivery waits in the subscription
		later, _ := aged.Subscribe(WithBackoff(time.Hour, time.Hour))
		aged.Publish(ctx, NewMessage("later"))
		settleOrFail(t, recvOrFail(t, later).Nack)
		sub.Close()   // drops "b"'s redelivery
		later.Close() // "later"'s back-off is still running: dropped when it ends
		time.Sleep(2 * time.Hour)
		st, lt := sub.Stats(), later.Stats()
		if st.Expired != 1 || st.Nacked != 2 || st.Rejected != 1 || st.Dropped != 1 || lt.Nacked != 1 || lt.Dropped != 1 {
			t.Errorf("subscription stats %+v and %+v: the scenario did not run as planned", st, lt)
		}
		wantOutcomes(t, rec, Place{Name: "aged", Kind: "topic"}, st.Acked+lt.Acked, st.Nacked+lt.Nacked,
			st.Rejected+lt.Rejected, st.Expired+lt.Expired, st.Dropped+lt.Dropped, 0, 0)

		// A group: its outcomes carry the topic and the group.
		gt, _ := b.Topic("events")
		member, err := gt.Subscribe(WithGroup("billing"), WithDeadLetter("dlq"))
		if err != nil {
			t.Fatal(err)
		}
		gt.Publish(ctx, NewMessage("g"))
		settleOrFail(t, recvOrFail(t, member).Reject)
		gs := member.Stats()
		wantOutcomes(t, rec, Place{Name: "events", Kind: "topic", Group: "billing"}, gs.Acked, gs.Nacked,
			gs.Rejected, gs.Expired, gs.Dropped, gs.DeadLettered, gs.DeadLetterFailed)

		for range dlq.Stats().Ready {
			settleOrFail(t, receiveOrFail(t, dlq).Ack)
		}
		wantQueueOutcomes(t, rec, dlq)
		rec.mu.Lock()
		for _, e := range rec.lockErr {
			t.Error(e)
		}
		rec.mu.Unlock()
	})
}

// TestObserverDeadLetterReasons checks that each way to die reports its
// reason and destination.
func TestObserverDeadLetterReasons(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &obsRecorder{}
		b := newTestBroker(t, WithObserver(rec.observer()))
		mustQueue(t, b, "dlq")
		q := mustQueue(t, b, "q", WithDeadLetter("dlq"), WithMaxDeliveries(1), WithCapacity(1), WithOverflow(OverflowDropNewest))
		cause := errors.New("boom")
		publishOrFail(t, q, "rejected")
		d := receiveOrFail(t, q)
		d.settle(settledReject, Permanent(cause))
		publishOrFail(t, q, "limit")
		settleOrFail(t, receiveOrFail(t, q).Nack)
		if err := q.Publish(context.Background(), &Message{Body: "ttl", TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		publishOrFail(t, q, "maxlen") // dropped: the one place is taken
		time.Sleep(2 * time.Second)

		var got []string
		for _, e := range rec.take() {
			if e.hook == "end" && e.place.Name == "q" {
				got = append(got, fmt.Sprintf("%v/%s/%s/%v", e.outcome, e.reason, e.dl, e.err != nil))
			}
		}
		want := "[rejected/rejected/dlq/true nacked///false rejected/delivery-limit/dlq/false dropped/maxlen/dlq/false expired/expired/dlq/false]"
		if fmt.Sprint(got) != want {
			t.Errorf("End events\n got %v\nwant %s", got, want)
		}
	})
}

// TestObserverPublishAddsHeaders checks that headers a Publish hook
// returns reach consumers on a copy of the message, leaving the caller's
// message and its (possibly shared) Headers map untouched.
func TestObserverPublishAddsHeaders(t *testing.T) {
	var results []error
	var mu sync.Mutex
	b := newTestBroker(t, WithObserver(Observer{
		Publish: func(ctx context.Context, p PublishInfo) (Headers, func(error)) {
			if p.Message.ID == "" || p.Message.Time.IsZero() {
				t.Errorf("Publish hook saw an unstamped message")
			}
			return Headers{"traceparent": "tp-" + p.Name, "kept": "new"}, func(err error) {
				mu.Lock()
				results = append(results, err)
				mu.Unlock()
			}
		},
	}))
	q := mustQueue(t, b, "q", WithCapacity(2), WithOverflow(OverflowReject))
	shared := Headers{"kept": "old", "mine": "1"}
	m1 := &Message{Body: 1, Headers: shared}
	m2 := &Message{Body: 2} // nil Headers
	for _, m := range []*Message{m1, m2} {
		if err := q.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Publish(context.Background(), NewMessage(3)); !errors.Is(err, ErrFull) {
		t.Fatalf("third publish = %v, want ErrFull", err)
	}
	if len(shared) != 2 || shared["kept"] != "old" || m1.Headers["traceparent"] != "" || m2.Headers != nil {
		t.Errorf("caller's message changed: m1.Headers %v, m2.Headers %v", m1.Headers, m2.Headers)
	}
	d1, d2 := receiveOrFail(t, q), receiveOrFail(t, q)
	if d1.Message == m1 || d1.ID != m1.ID || d1.Body != 1 {
		t.Errorf("stored message: %+v, want a copy of %+v", d1.Message, m1)
	}
	if want := (Headers{"kept": "new", "mine": "1", "traceparent": "tp-q"}); fmt.Sprint(d1.Headers) != fmt.Sprint(want) {
		t.Errorf("delivered headers %v, want %v", d1.Headers, want)
	}
	if d2.Headers["traceparent"] != "tp-q" {
		t.Errorf("message without headers delivered with %v", d2.Headers)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(results) != 3 || results[0] != nil || results[1] != nil || !errors.Is(results[2], ErrFull) {
		t.Errorf("done called with %v, want nil, nil, ErrFull", results)
	}
}

// TestObserverNoHeadersNoCopy checks that a hook that adds nothing leaves
// the published message itself in the queue.
func TestObserverNoHeadersNoCopy(t *testing.T) {
	b := newTestBroker(t, WithObserver(Observer{
		Publish: func(context.Context, PublishInfo) (Headers, func(error)) { return nil, nil },
	}))
	q := mustQueue(t, b, "q")
	m := publishOrFail(t, q, 1)
	if d := receiveOrFail(t, q); d.Message != m {
		t.Errorf("delivered %p, want the published message %p", d.Message, m)
	}
}

// TestObserverPlaces checks the Place and Consume flag of publishes and
// deliveries through an exchange, a queue, a topic, a group and a
// request-reply.
func TestObserverPlaces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &obsRecorder{}
		b := newTestBroker(t, WithObserver(rec.observer()))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		q := mustQueue(t, b, "q")
		x, err := b.Exchange("x", FanoutExchange)
		if err != nil {
			t.Fatal(err)
		}
		mustBind(t, x, "q", "")
		tp, _ := b.Topic("t")
		plain, _ := tp.Subscribe()
		member, _ := tp.Subscribe(WithGroup("g"))
		if err := x.Publish(ctx, NewMessage("via exchange")); err != nil {
			t.Fatal(err)
		}
		settleOrFail(t, receiveOrFail(t, q).Ack)
		if err := b.Publish(ctx, "t", NewMessage("to topic")); err != nil {
			t.Fatal(err)
		}
		settleOrFail(t, recvOrFail(t, plain).Ack)
		settleOrFail(t, recvOrFail(t, member).Ack)

		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			if p := d.Place(); p != (Place{Name: "q", Kind: "queue"}) {
				t.Errorf("d.Place() = %+v", p)
			}
			return d.Reply(ctx, NewMessage("pong"))
		})
		synctest.Wait() // the consumer is parked: Request finds a responder
		reply, err := b.Request(ctx, "q", NewMessage("ping"))
		if err != nil || reply.Body != "pong" {
			t.Fatalf("Request = %v, %v", reply, err)
		}
		cancel()
		waitErr(t, done)

		var got []string
		for _, e := range rec.take() {
			name := e.place.Name
			if strings.HasPrefix(name, replyPrefix) {
				name = "_reply"
			}
			s := fmt.Sprintf("%s %s/%s/%s", e.hook, e.place.Kind, name, e.place.Group)
			switch e.hook {
			case "deliver":
				s += fmt.Sprint(" consume=", e.consume)
			case "end":
				s += " " + e.outcome.String()
			}
			got = append(got, s)
		}
		want := []string{
			"publish exchange/x/",
			"deliver queue/q/ consume=false", "end queue/q/ acked",
			"publish topic/t/",
			"deliver topic/t/ consume=false", "end topic/t/ acked",
			"deliver topic/t/g consume=false", "end topic/t/g acked",
			"publish queue/q/",
			"deliver queue/q/ consume=true",
			"publish reply/_reply/",
			"end queue/q/ acked",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestObserverHooksMayReenter has every hook call back into the broker:
// read the Stats of the very queue or topic it reports on (taking its
// locks, which would deadlock if herald held them), declare, publish.
func TestObserverHooksMayReenter(t *testing.T) {
	var b *Broker
	var side *Queue
	reenter := func(p Place) {
		if q, err := b.LookupQueue(p.Name); err == nil {
			q.Stats()
		}
		if tp, err := b.LookupTopic(p.Name); err == nil {
			tp.Stats()
			for range tp.SubscriptionStats() {
			}
		}
		b.Names()
		if _, err := b.Queue("side", WithCapacity(1000), WithOverflow(OverflowDropOldest)); err != nil {
			t.Error(err)
		}
	}
	b = newTestBroker(t, WithObserver(Observer{
		Publish: func(ctx context.Context, p PublishInfo) (Headers, func(error)) {
			reenter(p.Place)
			return nil, func(error) { reenter(p.Place) }
		},
		Deliver: func(ctx context.Context, d DeliverInfo) { reenter(d.Place) },
		End: func(e EndInfo) {
			reenter(e.Place)
			if e.Place.Name != "side" {
				// Publishes go through Publish again, into a queue of its own.
				if err := side.Publish(context.Background(), NewMessage(e.Outcome.String())); err != nil {
					t.Error(err)
				}
			}
		},
	}))
	side = mustQueue(t, b, "side", WithCapacity(1000), WithOverflow(OverflowDropOldest))
	q := mustQueue(t, b, "q", WithCapacity(1), WithOverflow(OverflowDropNewest))
	tp, _ := b.Topic("t", WithCapacity(1), WithOverflow(OverflowDropNewest))
	sub, _ := tp.Subscribe()
	gt, _ := b.Topic("gt")
	member, _ := gt.Subscribe(WithGroup("g"))
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		publishOrFail(t, q, 1)
		publishOrFail(t, q, 2) // dropped
		settleOrFail(t, receiveOrFail(t, q).Reject)
		tp.Publish(context.Background(), NewMessage(1))
		tp.Publish(context.Background(), NewMessage(2)) // dropped
		settleOrFail(t, recvOrFail(t, sub).Nack)
		settleOrFail(t, recvOrFail(t, sub).Ack)
		gt.Publish(context.Background(), NewMessage(1))
		settleOrFail(t, recvOrFail(t, member).Reject)
		ctx, cancel := context.WithCancel(context.Background())
		publishOrFail(t, q, 3)
		q.Consume(ctx, func(context.Context, *Delivery) error { cancel(); return nil })
	}()
	select {
	case <-finished:
	case <-time.After(eventTimeout):
		t.Fatal("a hook that calls back into the broker deadlocked")
	}
	if n := side.Stats().Published; n != 7 {
		t.Errorf("End hooks published %d messages, want 7 (dropped, rejected, dropped, nacked, acked, rejected, acked)", n)
	}
}

// TestObserverPanicsAreContained checks that a panicking hook neither
// fails the publish nor loses the message's accounting.
func TestObserverPanicsAreContained(t *testing.T) {
	b := newTestBroker(t, WithObserver(Observer{
		Publish: func(context.Context, PublishInfo) (Headers, func(error)) { panic("publish") },
		Deliver: func(context.Context, DeliverInfo) { panic("deliver") },
		End:     func(EndInfo) { panic("end") },
	}))
	q := mustQueue(t, b, "q")
	publishOrFail(t, q, 1)
	settleOrFail(t, receiveOrFail(t, q).Ack)
	wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Acked: 1})
}

// TestObserverChained checks that two observers both see everything, in
// the order given, and that their headers merge.
func TestObserverChained(t *testing.T) {
	var calls []string
	var mu sync.Mutex
	note := func(s string) { mu.Lock(); calls = append(calls, s); mu.Unlock() }
	obs := func(name string) Observer {
		return Observer{
			Publish: func(context.Context, PublishInfo) (Headers, func(error)) {
				note(name + " publish")
				return Headers{name: "1", "both": name}, func(error) { note(name + " done") }
			},
			Deliver: func(context.Context, DeliverInfo) { note(name + " deliver") },
			End:     func(EndInfo) { note(name + " end") },
		}
	}
	b := newTestBroker(t, WithObserver(obs("a")), WithObserver(obs("b")))
	q := mustQueue(t, b, "q")
	publishOrFail(t, q, 1)
	d := receiveOrFail(t, q)
	settleOrFail(t, d.Ack)
	if want := (Headers{"a": "1", "b": "1", "both": "b"}); fmt.Sprint(d.Headers) != fmt.Sprint(want) {
		t.Errorf("headers %v, want %v", d.Headers, want)
	}
	want := "a publish,b publish,a done,b done,a deliver,b deliver,a end,b end"
	if got := strings.Join(calls, ","); got != want {
		t.Errorf("calls %s, want %s", got, want)
	}
}

// TestObserverEmptyCostsNothing checks that an Observer with no hooks
// leaves the broker unobserved.
func TestObserverEmptyCostsNothing(t *testing.T) {
	b := newTestBroker(t, WithObserver(Observer{}))
	if b.cfg.obs != nil {
		t.Error("an empty Observer is installed")
	}
	if (&Delivery{}).Place() != (Place{}) {
		t.Error("a Delivery no broker made has a Place")
	}
	for o := Outcome(0); o <= OutcomeDropped+1; o++ {
		if o.String() == "" {
			t.Errorf("Outcome(%d) has no name", o)
		}
	}
}

// TestObserverPrefetchedSubscription covers a prefetching subscription's
// own outcomes: messages past the max age when claimed ahead, and those
// claimed ahead that its Close drops.
func TestObserverPrefetchedSubscription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &obsRecorder{}
		b := newTestBroker(t, WithObserver(rec.observer()))
		rec.b = b
		ctx := context.Background()
		tp, _ := b.Topic("t", WithMaxAge(time.Second))
		sub, _ := tp.Subscribe()
		for i := range 3 {
			tp.Publish(ctx, NewMessage(i))
		}
		time.Sleep(2 * time.Second)
		for i := range 3 {
			tp.Publish(ctx, NewMessage(i))
		}
		err := sub.Consume(ctx, func(context.Context, *Delivery) error {
			return sub.Close() // the other two claimed are dropped
		}, WithPrefetch(8))
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Consume = %v, want ErrClosed", err)
		}
		st := sub.Stats()
		if st.Expired != 3 || st.Dropped != 2 || st.Acked != 1 {
			t.Errorf("stats %+v: the scenario did not run as planned", st)
		}
		wantOutcomes(t, rec, Place{Name: "t", Kind: "topic"}, st.Acked, st.Nacked, st.Rejected, st.Expired, st.Dropped, 0, 0)
		for _, e := range rec.lockErr {
			t.Error(e)
		}
	})
}
