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
