package herald

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// Tests of the queue features on a durable queue across a restart: each
// closes the broker, opens the directory again and checks what came back.

// bodyText returns a recovered body as text: a string stays a string, an
// encoded one is its JSON.
func bodyText(d *Delivery) string {
	switch b := d.Body.(type) {
	case string:
		return b
	case []byte:
		return string(b)
	}
	return fmt.Sprint(d.Body)
}

// drainTexts receives everything ready in q, acking each, and returns the
// bodies in order.
func drainTexts(t *testing.T, q *Queue) []string {
	t.Helper()
	var got []string
	for q.Len() > 0 {
		d := receive(t, q)
		got = append(got, bodyText(d))
		d.Ack()
	}
	return got
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Priorities: recovered messages come out by priority, FIFO within one.
func TestDurablePrioritiesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable(), WithPriorities(4))
	for i, p := range []uint8{0, 3, 1, 3, 2, 0} {
		mustPublish(t, q, &Message{Body: fmt.Sprintf("p%d-%d", p, i), Priority: p})
	}
	closeTest(t, b)

	b = openTest(t, dir)
	q = mustQueue(t, b, "q", Durable(), WithPriorities(4))
	want := []string{"p3-1", "p3-3", "p2-4", "p1-2", "p0-0", "p0-5"}
	if got := drainTexts(t, q); !sameStrings(got, want) {
		t.Fatalf("order after restart %v, want %v", got, want)
	}
}

// The overflow policies: a message the policy dropped or refused ends, and
// does not come back after a restart.
func TestDurableOverflowAfterRestart(t *testing.T) {
	for _, tc := range []struct {
		policy Overflow
		want   []string
	}{
		{OverflowDropOldest, []string{"b", "c"}},
		{OverflowDropNewest, []string{"a", "b"}},
		{OverflowReject, []string{"a", "b"}},
	} {
		t.Run(fmt.Sprint(tc.policy), func(t *testing.T) {
			dir := t.TempDir()
			b := openTest(t, dir)
			opts := []QueueOption{Durable(), WithCapacity(2), WithOverflow(tc.policy)}
			q := mustQueue(t, b, "q", opts...)
			mustPublish(t, q, NewMessage("a"))
			mustPublish(t, q, NewMessage("b"))
			err := q.Publish(context.Background(), NewMessage("c"))
			if tc.policy == OverflowReject != errors.Is(err, ErrFull) {
				t.Fatalf("third Publish = %v", err)
			}
			if st := q.Stats(); tc.policy != OverflowReject && st.Dropped != 1 {
				t.Fatalf("Stats = %+v, want 1 dropped", st)
			}
			closeTest(t, b)

			b = openTest(t, dir)
			q = mustQueue(t, b, "q", opts...)
			if got := drainTexts(t, q); !sameStrings(got, tc.want) {
				t.Fatalf("after restart %v, want %v", got, tc.want)
			}
		})
	}
}

// A publisher blocked on a full OverflowBlock queue gets ErrClosed from
// Close, and its message does not come back: Publish said it failed. It
// runs in a synctest bubble so that the test can wait until every
// publisher has parked.
func TestDurableCloseWhileBlocked(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) { testDurableCloseWhileBlocked(t, dir) })
}

func testDurableCloseWhileBlocked(t *testing.T, dir string) {
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable(), WithCapacity(1))
	mustPublish(t, q, NewMessage("a"))
	const blocked = 4
	errs := make(chan error, blocked)
	for i := range blocked {
		go func() { errs <- q.Publish(context.Background(), NewMessage(fmt.Sprint("blocked", i))) }()
	}
	synctest.Wait() // every publisher is parked on the full queue
	if st := q.Stats(); st.Published != 1 {
		t.Fatalf("Stats = %+v, want 1 published: the others are blocked", st)
	}
	if n := parkedPublishers(q); n != blocked {
		t.Fatalf("%d publishers parked, want %d", n, blocked)
	}
	closeTest(t, b)
	for range blocked {
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked Publish = %v, want ErrClosed", err)
		}
	}

	b = openTest(t, dir)
	q = mustQueue(t, b, "q", Durable(), WithCapacity(1))
	if got := drainTexts(t, q); !sameStrings(got, []string{"a"}) {
		t.Fatalf("after restart %v, want [a]: a Publish that returned ErrClosed came back", got)
	}
}

// parkedPublishers returns how many publishers wait for room in q.
func parkedPublishers(q *Queue) int {
	q.lock()
	defer q.mu.Unlock()
	return q.producers.Len()
}

// waitConsumerParked waits, in a synctest bubble, until every goroutine
// is blocked, and fails the test unless a Receive is then parked on q,
// which Request counts as a responder.
func waitConsumerParked(t *testing.T, q *Queue) {
	t.Helper()
	synctest.Wait()
	q.lock()
	n := q.consumers.Len()
	q.mu.Unlock()
	if n == 0 {
		t.Fatalf("no Receive parked on %q", q.Name())
	}
}

// Max deliveries counts the deliveries before the restart, and the dead
// letter goes to a durable queue (where it survives) or a queue in memory.
// It runs in a synctest bubble, so the back-offs take no wall-clock time.
func TestDurableMaxDeliveriesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) { testDurableMaxDeliveriesAfterRestart(t, dir) })
}

func testDurableMaxDeliveriesAfterRestart(t *testing.T, dir string) {
	b := openTest(t, dir)
	opts := []QueueOption{Durable(), WithMaxDeliveries(2), WithDeadLetter("dead"), WithBackoff(time.Millisecond, time.Millisecond)}
	q := mustQueue(t, b, "q", opts...)
	mustQueue(t, b, "dead")
	mustPublish(t, q, NewMessage("m"))
	if d := receive(t, q); d.Attempt != 1 {
		t.Fatalf("attempt %d", d.Attempt)
	} // left unacked: the restart counts it as a delivery
	closeTest(t, b)

	b = openTest(t, dir)
	q = mustQueue(t, b, "q", opts...)
	dead := mustQueue(t, b, "dead")
	d := receive(t, q)
	if d.Attempt != 2 {
		t.Fatalf("attempt %d after restart, want 2", d.Attempt)
	}
	d.Nack()
	if dl := receive(t, dead); bodyText(dl) != "m" || dl.Headers[HeaderDeathReason] != ReasonDeliveryLimit || dl.Headers[HeaderDeathAttempts] != "2" {
		t.Fatalf("dead letter %v %v", dl.Body, dl.Headers)
	}
	if st := q.Stats(); st.Rejected != 1 || st.DeadLettered != 1 {
		t.Fatalf("Stats = %+v", st)
	}
	closeTest(t, b)

	// Into a durable dead-letter queue, it survives the next restart.
	b = openTest(t, dir)
	opts[2] = WithDeadLetter("ddead")
	q = mustQueue(t, b, "q", opts...)
	ddead := mustQueue(t, b, "ddead", Durable())
	if n := q.Len(); n != 0 {
		t.Fatalf("q has %d after its message was dead-lettered", n)
	}
	mustPublish(t, q, NewMessage("n"))
	receive(t, q).Nack()
	receive(t, q).Nack() // dead-letters it before it returns
	if ddead.Len() != 1 {
		t.Fatalf("ddead has %d", ddead.Len())
	}
	closeTest(t, b)
	b = openTest(t, dir)
	ddead = mustQueue(t, b, "ddead", Durable())
	if got := drainTexts(t, ddead); !sameStrings(got, []string{"n"}) {
		t.Fatalf("durable dead letters %v, want [n]", got)
	}
}

// A dead letter cycle between two durable queues is cut after a restart
// as before it: the death path is in the stored headers.
// It runs in a synctest bubble: the downtime is exact and the TTLs take
// no wall-clock time.
func TestDurableDeadLetterCycleAfterRestart(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) { testDurableDeadLetterCycleAfterRestart(t, dir) })
}

func testDurableDeadLetterCycleAfterRestart(t *testing.T, dir string) {
	ended := make(chan EndInfo, 16)
	obs := WithObserver(Observer{End: func(i EndInfo) {
		if i.Outcome == OutcomeExpired {
			ended <- i
		}
	}})
	const ttl = 20 * time.Millisecond
	b := openTest(t, dir, obs)
	mustQueue(t, b, "b", Durable(), WithTTL(ttl), WithDeadLetter("a"))
	a := mustQueue(t, b, "a", Durable(), WithTTL(ttl), WithDeadLetter("b"))
	mustPublish(t, a, NewMessage("m"))
	if i := <-ended; i.Place.Name != "a" || i.DeadLetter != "b" {
		t.Fatalf("first end %+v", i)
	}
	closeTest(t, b) // the dead letter waits in b, with the path "a"
	time.Sleep(ttl) // the broker is down while the dead letter's TTL runs out

	b = openTest(t, dir, obs)
	if st := b.DurableStats(); st.Waiting != 1 {
		t.Fatalf("DurableStats = %+v, want the dead letter waiting", st)
	}
	a = mustQueue(t, b, "a", Durable(), WithTTL(ttl), WithDeadLetter("b"))
	bq := mustQueue(t, b, "b", Durable(), WithTTL(ttl), WithDeadLetter("a"))
	i := <-ended
	if i.Place.Name != "b" || !errors.Is(i.DeadLetterErr, errDeadLetterCycle) {
		t.Fatalf("end in b after restart %+v, want the cycle cut", i)
	}
	if a.Len() != 0 || bq.Len() != 0 || bq.Stats().DeadLetterFailed != 1 {
		t.Fatalf("a %+v, b %+v", a.Stats(), bq.Stats())
	}
	closeTest(t, b)
	b = openTest(t, dir)
	if st := b.DurableStats(); st.Recovered != 0 {
		t.Fatalf("DurableStats = %+v, want nothing left", st)
	}
}

// A delivery whose ack timeout passed is redelivered with its attempt,
// and the attempt count carries over a restart. It runs in a synctest
// bubble: on the wall clock, a test descheduled for the 1ms ack timeout
// between the last Receive and its Ack saw ErrSettled.
func TestDurableAckTimeoutAfterRestart(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) { testDurableAckTimeoutAfterRestart(t, dir) })
}

func testDurableAckTimeoutAfterRestart(t *testing.T, dir string) {
	b := openTest(t, dir)
	opts := []QueueOption{Durable(), WithAckTimeout(time.Millisecond)}
	q := mustQueue(t, b, "q", opts...)
	mustPublish(t, q, NewMessage("m"))
	receive(t, q) // never settled: times out
	start := time.Now()
	if d := receive(t, q); d.Attempt != 2 || time.Since(start) < time.Millisecond {
		t.Fatalf("redelivery attempt %d after %v, want attempt 2 after the 1ms ack timeout", d.Attempt, time.Since(start))
	}
	closeTest(t, b)

	b = openTest(t, dir)
	q = mustQueue(t, b, "q", opts...)
	d := receive(t, q)
	if d.Attempt != 3 {
		t.Fatalf("attempt %d after restart, want 3", d.Attempt)
	}
	if err := d.Ack(); err != nil {
		t.Fatalf("Ack: %v", err)
	}
}

// Purge ends the ready messages for good; an unacked one stays.
func TestDurablePurgeAfterRestart(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable())
	for _, s := range []string{"held", "a", "b"} {
		mustPublish(t, q, NewMessage(s))
	}
	receive(t, q) // held, unacked
	if n := q.Purge(); n != 2 {
		t.Fatalf("Purge = %d", n)
	}
	closeTest(t, b)
	b = openTest(t, dir)
	q = mustQueue(t, b, "q", Durable())
	if got := drainTexts(t, q); !sameStrings(got, []string{"held"}) {
		t.Fatalf("after restart %v, want [held]", got)
	}
}

// Queue.All notes its deliveries: one the loop body held when the broker
// closed comes back as a redelivery; one it acked does not.
func TestDurableAllAfterRestart(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable())
	mustPublish(t, q, NewMessage("acked"))
	mustPublish(t, q, NewMessage("held"))
	closed := false
	for d, err := range q.All(context.Background()) {
		if err != nil {
			if !closed || !errors.Is(err, ErrClosed) {
				t.Fatal(err)
			}
			break
		}
		if bodyText(d) == "acked" {
			d.Ack()
			continue
		}
		closeTest(t, b) // the loop body holds "held"
		closed = true
	}

	b = openTest(t, dir)
	q = mustQueue(t, b, "q", Durable())
	d := receive(t, q)
	if bodyText(d) != "held" || d.Attempt != 2 {
		t.Fatalf("got %v attempt %d, want held attempt 2", d.Body, d.Attempt)
	}
	d.Ack()
	receiveNone(t, q)
}

// A request left in a durable queue by a requester that is gone is
// handled after a restart; the reply is dropped, nothing loops or fails.
// It runs in a synctest bubble so that the test can wait until a receiver
// has parked.
func TestDurableRequestAfterRestart(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) { testDurableRequestAfterRestart(t, dir) })
}

func testDurableRequestAfterRestart(t *testing.T, dir string) {
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable())
	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan struct{})
	go func() {
		// A receiver is there, so Request publishes; it goes away unanswered.
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer rcancel()
		if d, err := q.Receive(rctx); err == nil {
			d.Nack()
		}
		close(waiting)
	}()
	waitConsumerParked(t, q)
	reqDone := make(chan error, 1)
	go func() {
		_, err := b.Request(ctx, "q", NewMessage("question"))
		reqDone <- err
	}()
	<-waiting
	cancel()
	if err := <-reqDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("Request = %v", err)
	}
	closeTest(t, b)

	b = openTest(t, dir)
	q = mustQueue(t, b, "q", Durable())
	d := receive(t, q)
	if d.ReplyTo == "" {
		t.Fatalf("recovered request has no ReplyTo")
	}
	if err := d.Reply(context.Background(), NewMessage("answer")); err != nil {
		t.Fatalf("Reply to a gone requester = %v, want nil (dropped)", err)
	}
	if err := d.Ack(); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	receiveNone(t, q)
	// A new request on the same broker is not answered by the old reply.
	go func() {
		rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer rcancel()
		if d, err := q.Receive(rctx); err == nil {
			d.Reply(context.Background(), NewMessage("new answer"))
			d.Ack()
		}
	}()
	waitConsumerParked(t, q)
	r, err := b.Request(context.Background(), "q", NewMessage("again"))
	if err != nil || bodyText(&Delivery{Message: r}) != "new answer" {
		t.Fatalf("Request = %v, %v", r, err)
	}
}

// An exchange routing to several durable queues: each has its own copy,
// settled on its own.
func TestDurableExchangeFanoutAfterRestart(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	x, err := b.Exchange("x", FanoutExchange)
	if err != nil {
		t.Fatal(err)
	}
	q1 := mustQueue(t, b, "q1", Durable())
	mustQueue(t, b, "q2", Durable())
	mustQueue(t, b, "mem")
	for _, n := range []string{"q1", "q2", "mem"} {
		if err := x.Bind(n, ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Publish(context.Background(), NewMessage("m")); err != nil {
		t.Fatal(err)
	}
	receive(t, q1).Ack()
	closeTest(t, b)

	b = openTest(t, dir)
	q1 = mustQueue(t, b, "q1", Durable())
	q2 := mustQueue(t, b, "q2", Durable())
	if q1.Len() != 0 {
		t.Fatalf("q1 has %d after its copy was acked", q1.Len())
	}
	if got := drainTexts(t, q2); !sameStrings(got, []string{"m"}) {
		t.Fatalf("q2 after restart %v", got)
	}
}

// Everything settled before Shutdown or Close is not recovered.
func TestDurableSettledBeforeCloseGone(t *testing.T) {
	for _, shutdown := range []bool{false, true} {
		t.Run(fmt.Sprint("shutdown=", shutdown), func(t *testing.T) {
			dir := t.TempDir()
			b := openTest(t, dir)
			q := mustQueue(t, b, "q", Durable())
			const n = 200
			for i := range n {
				mustPublish(t, q, NewMessage(i))
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			handled := make(chan struct{}, n)
			done := make(chan error, 1)
			go func() {
				done <- q.Consume(ctx, func(context.Context, *Delivery) error {
					handled <- struct{}{}
					return nil
				}, WithConcurrency(4))
			}()
			for range n {
				<-handled
			}
			if shutdown {
				if err := b.Shutdown(context.Background()); err != nil {
					t.Fatalf("Shutdown: %v", err)
				}
			} else {
				waitIdle(t, b)
				closeTest(t, b)
			}
			<-done
			b = openTest(t, dir)
			if st := b.DurableStats(); st.Recovered != 0 {
				t.Fatalf("DurableStats = %+v, want nothing recovered", st)
			}
		})
	}
}

// WithDedup after a restart remembers the IDs of the messages it got back:
// a publisher that retries one of them after the restart is told
// ErrDuplicate, as it would have been before.
func TestDurableDedupAfterRestart(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	opts := []QueueOption{Durable(), WithDedup(time.Hour)}
	q := mustQueue(t, b, "q", opts...)
	tp := mustTopic(t, b, "t", Durable(), WithDedup(time.Hour))
	mustPublish(t, q, &Message{ID: "order-1", Body: "first"})
	if err := tp.Publish(context.Background(), &Message{ID: "event-1", Body: "first"}); err != nil {
		t.Fatal(err)
	}
	closeTest(t, b)

	b = openTest(t, dir)
	q = mustQueue(t, b, "q", opts...)
	tp = mustTopic(t, b, "t", Durable(), WithDedup(time.Hour))
	if err := q.Publish(context.Background(), &Message{ID: "order-1", Body: "retry"}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("queue: retried Publish after restart = %v, want ErrDuplicate", err)
	}
	if err := tp.Publish(context.Background(), &Message{ID: "event-1", Body: "retry"}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("topic: retried Publish after restart = %v, want ErrDuplicate", err)
	}
	if got := drainTexts(t, q); !sameStrings(got, []string{"first"}) {
		t.Fatalf("queue after restart %v", got)
	}
}

// A publish that WithDedup refuses writes nothing to the log: a crash
// could otherwise lose its settle record and bring the duplicate back.
func TestDurableDuplicateNotWritten(t *testing.T) {
	b := openTest(t, t.TempDir())
	q := mustQueue(t, b, "q", Durable(), WithDedup(time.Hour))
	mustPublish(t, q, &Message{ID: "x", Body: "first"})
	before := b.DurableStats()
	if err := q.Publish(context.Background(), &Message{ID: "x", Body: "again"}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("Publish = %v, want ErrDuplicate", err)
	}
	b.dur.log.Sync()
	after := b.DurableStats()
	if after.Bytes != before.Bytes {
		t.Fatalf("a refused duplicate wrote %d bytes to the log", after.Bytes-before.Bytes)
	}
	if st := q.Stats(); st.Duplicates != 1 || st.Published != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

// Declared after a restart with other options, a durable queue takes the
// new ones: the priorities it no longer has are ignored (FIFO), a changed
// TTL applies to new publishes while recovered messages keep their
// absolute expiry, and a smaller capacity takes every recovered message
// (none is dropped) while new publishes meet the overflow policy.
func TestDurableRedeclareOtherOptionsAfterRestart(t *testing.T) {
	dir := t.TempDir()
	b := openTest(t, dir)
	q := mustQueue(t, b, "q", Durable(), WithPriorities(4), WithTTL(time.Hour))
	for i, p := range []uint8{0, 3, 1} {
		mustPublish(t, q, &Message{Body: fmt.Sprint("m", i), Priority: p})
	}
	closeTest(t, b)

	b = openTest(t, dir)
	q = mustQueue(t, b, "q", Durable(), WithTTL(time.Millisecond), WithCapacity(2), WithOverflow(OverflowReject))
	if st := q.Stats(); st.Ready != 3 {
		t.Fatalf("Stats = %+v, want the 3 recovered ready", st)
	}
	if err := q.Publish(context.Background(), NewMessage("new")); !errors.Is(err, ErrFull) {
		t.Fatalf("Publish past the new capacity = %v, want ErrFull", err)
	}
	if got := drainTexts(t, q); !sameStrings(got, []string{"m0", "m1", "m2"}) {
		t.Fatalf("after restart %v, want FIFO: the priorities are gone", got)
	}
}
