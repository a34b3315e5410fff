package herald

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// keyMsg publishes a message with key and body to q.
func keyMsg(t testing.TB, q *Queue, key string, body any) {
	t.Helper()
	if err := q.Publish(context.Background(), &Message{Key: key, Body: body}); err != nil {
		t.Fatal(err)
	}
}

// handledLog records "body/attempt" in the order handlers start.
type handledLog struct {
	mu   sync.Mutex
	got  []string
	keys []string
}

func (l *handledLog) add(d *Delivery) {
	l.mu.Lock()
	l.got = append(l.got, fmt.Sprintf("%v/%d", d.Body, d.Attempt))
	l.keys = append(l.keys, d.Key)
	l.mu.Unlock()
}

// byKey is the log per key, keys sorted: "a: a1/1 a2/1; b: b1/1". The
// order across keys that run in parallel is the scheduler's.
func (l *handledLog) byKey() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	per := map[string][]string{}
	for i, k := range l.keys {
		per[k] = append(per[k], l.got[i])
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(per)) {
		parts = append(parts, k+": "+strings.Join(per[k], " "))
	}
	return strings.Join(parts, "; ")
}

func (l *handledLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.got, " ")
}

// Messages that share a key are handled one at a time, in order, with
// others in parallel.
func TestKeyOrderingPerKeyOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithCapacity(4096))
		const keys, per = 20, 50
		for i := range per {
			for k := range keys {
				keyMsg(t, q, fmt.Sprint("k", k), i)
			}
		}
		var mu sync.Mutex
		last := map[string]int{}
		running := map[string]bool{}
		var parallel, n int
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			mu.Lock()
			if running[d.Key] {
				t.Errorf("two handlers of key %s at once", d.Key)
			}
			running[d.Key] = true
			if len(running) > 1 {
				parallel++
			}
			if want := last[d.Key]; d.Body != want {
				t.Errorf("key %s: got %v, want %d", d.Key, d.Body, want)
			}
			last[d.Key] = d.Body.(int) + 1
			mu.Unlock()
			time.Sleep(time.Millisecond) // fake time: let the others run
			mu.Lock()
			delete(running, d.Key)
			n++
			if n == keys*per {
				cancel()
			}
			mu.Unlock()
			return nil
		}, WithConcurrency(4), WithKeyOrdering())
		waitErr(t, done)
		if n != keys*per || parallel == 0 {
			t.Fatalf("handled %d, %d of them alongside another key", n, parallel)
		}
		wantStats(t, q, QueueStats{Published: keys * per, Delivered: keys * per, Acked: keys * per})
	})
}

// One key's handler is blocked: the other keys go on, whatever they hash
// to, and the blocked key's later messages wait.
func TestKeyOrderingNoHeadOfLineBlocking(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		release := make(chan struct{})
		var log handledLog
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			log.add(d)
			if d.Body == "a1" {
				<-release
			}
			return nil
		}, WithConcurrency(2), WithKeyOrdering())
		keyMsg(t, q, "a", "a1")
		keyMsg(t, q, "a", "a2")
		for i := range 20 {
			keyMsg(t, q, fmt.Sprint("b", i), fmt.Sprint("b", i))
		}
		keyMsg(t, q, "a", "a3")
		synctest.Wait()
		got := log.String()
		if strings.Contains(got, "a2") || !strings.Contains(got, "b19/1") || strings.Count(got, "/") != 21 {
			t.Fatalf("while a1 is blocked: %s", got)
		}
		close(release)
		synctest.Wait()
		if got := log.String(); !strings.HasSuffix(got, "a2/1 a3/1") {
			t.Fatalf("after a1: %s", got)
		}
		cancel()
		waitErr(t, done)
		wantStats(t, q, QueueStats{Published: 23, Delivered: 23, Acked: 23})
	})
}

// A nacked message blocks its key through its back-off and comes back
// before the key's later messages; other keys go on meanwhile.
func TestKeyOrderingNackBlocksKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(time.Second, time.Second))
		var log handledLog
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			log.add(d)
			if d.Body == "a1" && d.Attempt == 1 {
				return errors.New("not yet")
			}
			if d.Body == "a2" && d.Attempt == 1 {
				return d.Nack() // an explicit Nack blocks the key too
			}
			return nil
		}, WithConcurrency(4), WithKeyOrdering())
		keyMsg(t, q, "a", "a1")
		keyMsg(t, q, "a", "a2")
		keyMsg(t, q, "b", "b1")
		synctest.Wait()
		if got := log.byKey(); got != "a: a1/1; b: b1/1" {
			t.Fatalf("before the back-off ends: %s", got)
		}
		if st := q.Stats(); st.Delayed != 1 || st.Unacked != 1 || st.Nacked != 1 {
			t.Fatalf("during the back-off: %+v", st)
		}
		keyMsg(t, q, "b", "b2") // other keys go on during the back-off
		synctest.Wait()
		if got := log.byKey(); got != "a: a1/1; b: b1/1 b2/1" {
			t.Fatalf("b during the back-off: %s", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := log.byKey(); got != "a: a1/1 a1/2 a2/1; b: b1/1 b2/1" {
			t.Fatalf("after one back-off: %s", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := log.byKey(); got != "a: a1/1 a1/2 a2/1 a2/2; b: b1/1 b2/1" {
			t.Fatalf("after two back-offs: %s", got)
		}
		cancel()
		waitErr(t, done)
		wantStats(t, q, QueueStats{Published: 4, Delivered: 6, Nacked: 2, Acked: 4})
	})
}

// A message that reaches the max deliveries is dead-lettered, and its key
// goes on with the next one.
func TestKeyOrderingDeadLetterUnblocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(time.Second, time.Second), WithMaxDeliveries(2), WithDeadLetter("dead"))
		dead := mustQueue(t, b, "dead")
		var log handledLog
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			log.add(d)
			if d.Body == "a1" {
				return errors.New("poison")
			}
			return nil
		}, WithConcurrency(2), WithKeyOrdering())
		keyMsg(t, q, "a", "a1")
		keyMsg(t, q, "a", "a2")
		time.Sleep(time.Second)
		synctest.Wait()
		if got := log.String(); got != "a1/1 a1/2 a2/1" {
			t.Fatalf("handled %s", got)
		}
		if d := receiveOrFail(t, dead); d.Body != "a1" || d.Headers[HeaderDeathReason] != ReasonDeliveryLimit {
			t.Fatalf("dead letter %v %v", d.Body, d.Headers)
		} else {
			d.Ack()
		}
		cancel()
		waitErr(t, done)
		wantStats(t, q, QueueStats{Published: 2, Delivered: 3, Nacked: 2, Rejected: 1, DeadLettered: 1, Acked: 1})
	})
}

// A stopping consumer gives back what it holds at the head, in the order
// it took it; a nacked one counts its attempt.
func TestKeyOrderingStopGivesBackInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			<-ctx.Done()
			return ctx.Err()
		}, WithConcurrency(2), WithKeyOrdering())
		for _, m := range []struct{ key, body string }{{"a", "a1"}, {"a", "a2"}, {"b", "b1"}, {"a", "a3"}, {"b", "b2"}} {
			keyMsg(t, q, m.key, m.body)
			synctest.Wait() // one at a time: else one take may bring several
		}
		// Both handlers are blocked (a1, b1), a2 is set aside behind a1,
		// and nobody is free to take a3 and b2.
		if st := q.Stats(); st.Ready != 2 || st.Unacked != 3 {
			t.Fatalf("held: %+v", st)
		}
		cancel()
		waitErr(t, done)
		var got []string
		for q.Len() > 0 {
			d := receiveOrFail(t, q)
			got = append(got, fmt.Sprintf("%v/%d", d.Body, d.Attempt))
			d.Ack()
		}
		if s := strings.Join(got, " "); s != "a1/2 a2/1 b1/2 a3/1 b2/1" {
			t.Fatalf("given back %s", s)
		}
		if st := q.Stats(); st.Published != 5 || st.Acked != 5 || st.Nacked != 2 || st.Delayed != 0 || st.Unacked != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// The consumer holds at most WithPrefetch messages, and keeps no more
// than that many keys whose messages have ended.
func TestKeyOrderingBoundedMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithCapacity(1<<16))
		release := make(chan struct{})
		var once sync.Once
		var ko *keyOrder
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			once.Do(func() { ko = d.keyOrderOf() })
			if d.Key == "hot" {
				<-release
			}
			return nil
		}, WithConcurrency(4), WithKeyOrdering(), WithPrefetch(16))
		for i := range 100 {
			keyMsg(t, q, "hot", i)
		}
		synctest.Wait()
		if st := q.Stats(); st.Unacked != 16 || st.Ready != 84 {
			t.Fatalf("with a blocked key: %+v, want 16 held", st)
		}
		close(release)
		for i := range 10000 {
			keyMsg(t, q, fmt.Sprint("k", i), i)
		}
		synctest.Wait()
		ko.mu.Lock()
		lines, held := len(ko.lines), ko.held-ko.reserved // the taker waits in take
		live := 0
		for _, line := range ko.lines {
			if !line.park {
				live++
			}
		}
		ko.mu.Unlock()
		// Only the keys that ended last are kept, parked, up to twice the limit.
		if live != 0 || held != 0 || lines > 2*16 {
			t.Fatalf("after every message ended: %d keys (%d not parked), %d held", lines, live, held)
		}
		cancel()
		waitErr(t, done)
		wantStats(t, q, QueueStats{Published: 10100, Delivered: 10100, Acked: 10100})
	})
}

// Messages without a key are not ordered, and a nack sends them back to
// the queue as usual.
func TestKeyOrderingEmptyKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(time.Second, time.Second))
		release := make(chan struct{})
		var log handledLog
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			log.add(d)
			if d.Body == 1 {
				<-release
			}
			if d.Body == 2 && d.Attempt == 1 {
				return errors.New("again")
			}
			return nil
		}, WithConcurrency(2), WithKeyOrdering())
		for i := 1; i <= 3; i++ {
			keyMsg(t, q, "", i)
		}
		synctest.Wait()
		if got := strings.Fields(log.String()); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"1/1", "2/1", "3/1"}) {
			t.Fatalf("unordered: %s", got)
		}
		if st := q.Stats(); st.Delayed != 1 {
			t.Fatalf("the nack went to the queue's back-off: %+v", st)
		}
		close(release)
		time.Sleep(time.Second)
		synctest.Wait()
		cancel()
		waitErr(t, done)
		wantStats(t, q, QueueStats{Published: 3, Delivered: 4, Nacked: 1, Acked: 3})
	})
}

// On a plain topic subscription, order per key holds across a nack.
func TestKeyOrderingSubscription(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp, WithBackoff(time.Second, time.Second))
		var log handledLog
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- s.Consume(ctx, func(ctx context.Context, d *Delivery) error {
				log.add(d)
				if d.Body == "a1" && d.Attempt == 1 {
					return errors.New("again")
				}
				return nil
			}, WithConcurrency(2), WithKeyOrdering())
		}()
		synctest.Wait()
		for _, m := range []struct{ key, body string }{{"a", "a1"}, {"a", "a2"}, {"b", "b1"}} {
			if err := tp.Publish(context.Background(), &Message{Key: m.key, Body: m.body}); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if got := log.byKey(); got != "a: a1/1; b: b1/1" {
			t.Fatalf("during the back-off: %s", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := log.byKey(); got != "a: a1/1 a1/2 a2/1; b: b1/1" {
			t.Fatalf("after it: %s", got)
		}
		cancel()
		waitErr(t, done)
		if st := s.Stats(); st.Delivered != 4 || st.Acked != 3 || st.Nacked != 1 || st.Unacked != 0 || st.Delayed != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// Messages taken in one batch are set aside behind their keys in the
// order taken, and a stopping consumer gives back every one it has not
// handled, those without a key included, in that order.
func TestKeyOrderingBatchGivenBackInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		for _, m := range []struct{ key, body string }{
			{"a", "a1"}, {"b", "b1"}, {"", "x1"}, {"a", "a2"}, {"b", "b2"},
			{"a", "a3"}, {"b", "b3"}, {"", "x2"}, {"a", "a4"}, {"b", "b4"},
		} {
			keyMsg(t, q, m.key, m.body)
		}
		var log handledLog
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			log.add(d)
			<-ctx.Done()
			return ctx.Err()
		}, WithConcurrency(2), WithKeyOrdering())
		synctest.Wait()
		// One take brought a1 and, ahead, half of the 9 then ready: b1,
		// x1, a2, b2. Both handlers are blocked (a1, b1); x1, a2 and b2
		// are set aside.
		if got := log.byKey(); got != "a: a1/1; b: b1/1" {
			t.Fatalf("handled %s", got)
		}
		if st := q.Stats(); st.Ready != 5 || st.Unacked != 5 {
			t.Fatalf("held: %+v", st)
		}
		cancel()
		waitErr(t, done)
		var got []string
		for q.Len() > 0 {
			d := receiveOrFail(t, q)
			got = append(got, fmt.Sprintf("%v/%d", d.Body, d.Attempt))
			d.Ack()
		}
		if s := strings.Join(got, " "); s != "a1/2 b1/2 x1/1 a2/1 b2/1 a3/1 b3/1 x2/1 a4/1 b4/1" {
			t.Fatalf("given back %s", s)
		}
		wantStats(t, q, QueueStats{Published: 10, Delivered: 12, Acked: 10, Nacked: 2}) // never handed out: not delivered
	})
}

// A key's line is parked when its last message ends and found again for
// its next one; at most twice the limit are parked, the one parked
// longest ago forgotten first, and a key found again is not forgotten for
// having been parked before.
func TestKeyOrderingParkedLines(t *testing.T) {
	ko := &keyOrder{limit: 2, lines: map[string]*keyLine{}}
	park := func(key string) *keyLine {
		line := ko.lineLocked(key)
		ko.dropLocked(line)
		return line
	}
	a := park("a")
	park("b")
	if again := park("a"); again != a || !a.park {
		t.Fatal("a's line was not found again")
	}
	park("c")
	park("d") // parked: a (stale), b, a, c, d: the stale a goes
	if len(ko.lines) != 4 {
		t.Fatalf("%d lines, want a, b, c, d", len(ko.lines))
	}
	park("e") // b goes
	var keys []string
	for k := range ko.lines {
		keys = append(keys, k)
	}
	if len(keys) != 4 || ko.lines["b"] != nil || ko.lines["a"] != a {
		t.Fatalf("lines %v, want a, c, d, e", keys)
	}
	if ko.parked.Len() != 4 {
		t.Fatalf("%d parked entries, want 4", ko.parked.Len())
	}
	if line := ko.lineLocked("b"); line.park || line.q.Len() != 0 {
		t.Fatal("b's new line is not empty and live")
	}
}

// With an ack timeout, a held message's timeout runs from its take: the
// handler's ctx ends with ErrAckTimeout, a message set aside meanwhile
// that timed out too is skipped, and both come back from the queue in
// order.
func TestKeyOrderingAckTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithAckTimeout(time.Second))
		var log handledLog
		var mu sync.Mutex
		var cause error
		proceed := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			log.add(d)
			if d.Body == "a1" && d.Attempt == 1 {
				<-ctx.Done()
				mu.Lock()
				cause = context.Cause(ctx)
				mu.Unlock()
				<-proceed // until the queue has both back, and they are taken again
			}
			return nil
		}, WithConcurrency(2), WithKeyOrdering())
		keyMsg(t, q, "a", "a1")
		keyMsg(t, q, "a", "a2")
		synctest.Wait()
		if got := log.String(); got != "a1/1" {
			t.Fatalf("a2 is set aside: %s", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		// Both timed out and were taken again, set aside behind a1/1,
		// after the timed-out copy of a2.
		if st := q.Stats(); st.Nacked != 2 || st.Unacked != 2 || st.Ready != 0 {
			t.Fatalf("after the timeout: %+v", st)
		}
		close(proceed)
		synctest.Wait()
		if got := log.String(); got != "a1/1 a1/2 a2/2" {
			t.Fatalf("after the timeout: %s", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if !errors.Is(cause, ErrAckTimeout) {
			t.Fatalf("cause %v, want ErrAckTimeout", cause)
		}
		cancel()
		waitErr(t, done)
		if st := q.Stats(); st.Acked != 2 || st.Unacked != 0 || st.Ready != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}
