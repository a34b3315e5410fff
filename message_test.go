package herald

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"
)

// Unlike RabbitMQ, an expired message does not wait behind a long-lived one
// at the head: the expiry sweep ends it within expirySweepGap, consumer or
// not, and dead-letters it.
func TestExpiryBehindLongLivedHead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithDeadLetter("dead"))
		dead := mustQueue(t, b, "dead")
		ctx := context.Background()
		if err := q.Publish(ctx, &Message{Body: "head", TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if err := q.Publish(ctx, &Message{Body: "short", TTL: time.Second}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		d := receiveOrFail(t, dead) // no consumer on q: only the sweep can do it
		if waited := time.Since(start); waited < time.Second || waited > time.Second+expirySweepGap {
			t.Fatalf("dead-lettered after %v, want within %v of the 1s TTL", waited, expirySweepGap)
		}
		if d.Body != "short" || d.Headers[HeaderDeathReason] != ReasonExpired {
			t.Fatalf("dead letter %v reason %q", d.Body, d.Headers[HeaderDeathReason])
		}
		synctest.Wait() // the dead letter is counted just after it lands
		wantStats(t, q, QueueStats{Published: 2, Expired: 1, DeadLettered: 1, Ready: 1})
	})
}

func TestShorterOfQueueAndMessageTTLWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithTTL(10*time.Second))
		ctx := context.Background()
		q.Publish(ctx, &Message{Body: "msg-short", TTL: 2 * time.Second})
		q.Publish(ctx, &Message{Body: "msg-long", TTL: time.Minute}) // the queue's 10s wins
		q.Publish(ctx, &Message{Body: "queue"})
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if s := q.Stats(); s.Expired != 1 || s.Ready != 2 {
			t.Fatalf("after 5s: %+v, want 1 expired, 2 ready", s)
		}
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if s := q.Stats(); s.Expired != 3 || s.Ready != 0 {
			t.Fatalf("after 11s: %+v, want all 3 expired", s)
		}
	})
}

func TestDelayedDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		ctx := context.Background()
		start := time.Now()
		q.Publish(ctx, &Message{Body: "later", Delay: 3 * time.Second})
		q.Publish(ctx, &Message{Body: "sooner", Delay: time.Second}) // published later, due first
		q.Publish(ctx, &Message{Body: "now"})
		if s := q.Stats(); s.Scheduled != 2 || s.Ready != 1 || s.Published != 3 {
			t.Fatalf("stats %+v, want 2 scheduled, 1 ready", s)
		}
		for _, want := range []struct {
			body string
			at   time.Duration
		}{{"now", 0}, {"sooner", time.Second}, {"later", 3 * time.Second}} {
			d := receiveOrFail(t, q)
			if d.Body != want.body || time.Since(start) != want.at {
				t.Fatalf("got %v at %v, want %v at %v", d.Body, time.Since(start), want.body, want.at)
			}
			d.Ack()
		}
	})
}

func TestDelayedMessageExpiresIfTTLShorterThanDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithDeadLetter("dead"))
		dead := mustQueue(t, b, "dead")
		q.Publish(context.Background(), &Message{Body: "x", Delay: 2 * time.Second, TTL: time.Second})
		d := receiveOrFail(t, dead)
		if d.Headers[HeaderDeathReason] != ReasonExpired {
			t.Fatalf("reason %q, want expired", d.Headers[HeaderDeathReason])
		}
		synctest.Wait() // the dead letter is counted just after it lands
		wantStats(t, q, QueueStats{Published: 1, Expired: 1, DeadLettered: 1})
	})
}

// Delayed messages hold their place in the capacity, so a burst of them
// cannot overflow the queue when they come due.
func TestDelayedMessagesCountAgainstCapacity(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithCapacity(2), WithOverflow(OverflowReject))
	ctx := context.Background()
	q.Publish(ctx, &Message{Body: 1, Delay: time.Hour})
	q.Publish(ctx, &Message{Body: 2})
	if err := q.Publish(ctx, &Message{Body: 3}); !errors.Is(err, ErrFull) {
		t.Fatalf("third publish = %v, want ErrFull", err)
	}
}

func TestTopicRefusesDelayedMessages(t *testing.T) {
	b := newTestBroker(t)
	tp, _ := b.Topic("t")
	if err := tp.Publish(context.Background(), &Message{Delay: time.Second}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Publish with Delay = %v, want ErrInvalid", err)
	}
}

func TestPrioritiesHigherFirstFIFOWithinLevel(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithPriorities(3))
	ctx := context.Background()
	for i, p := range []uint8{0, 2, 1, 2, 0, 9, 1} { // 9 counts as the top level, 2
		q.Publish(ctx, &Message{Body: fmt.Sprintf("p%d-%d", p, i), Priority: p})
	}
	want := []string{"p2-1", "p2-3", "p9-5", "p1-2", "p1-6", "p0-0", "p0-4"}
	for _, w := range want {
		d := receiveOrFail(t, q)
		if d.Body != w {
			t.Fatalf("got %v, want %v (order %v)", d.Body, w, want)
		}
		d.Ack()
	}
}

func TestPriorityIgnoredWithoutOption(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	ctx := context.Background()
	q.Publish(ctx, &Message{Body: "low", Priority: 0})
	q.Publish(ctx, &Message{Body: "high", Priority: 9})
	wantBody(t, receiveOrFail(t, q), "low", 1)
}

func TestPriorityDropOldestDropsLeastImportant(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithPriorities(2), WithCapacity(2), WithOverflow(OverflowDropOldest))
	ctx := context.Background()
	q.Publish(ctx, &Message{Body: "high", Priority: 1})
	q.Publish(ctx, &Message{Body: "low", Priority: 0})
	q.Publish(ctx, &Message{Body: "high2", Priority: 1}) // drops "low"
	wantBody(t, receiveOrFail(t, q), "high", 1)
	wantBody(t, receiveOrFail(t, q), "high2", 1)
	if s := q.Stats(); s.Dropped != 1 {
		t.Fatalf("dropped %d, want 1", s.Dropped)
	}
}

func TestDedupWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithDedup(time.Minute))
		tp, err := b.Topic("t", WithDedup(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for _, pub := range []func(*Message) error{
			func(m *Message) error { return q.Publish(ctx, m) },
			func(m *Message) error { return tp.Publish(ctx, m) },
		} {
			if err := pub(&Message{ID: "order-1"}); err != nil {
				t.Fatal(err)
			}
			if err := pub(&Message{ID: "order-1"}); !errors.Is(err, ErrDuplicate) {
				t.Fatalf("duplicate within window = %v, want ErrDuplicate", err)
			}
			if err := pub(&Message{}); err != nil { // fresh IDs never collide
				t.Fatal(err)
			}
		}
		time.Sleep(time.Minute + time.Second)
		if err := q.Publish(ctx, &Message{ID: "order-1"}); err != nil {
			t.Fatalf("same ID after the window = %v, want accepted", err)
		}
		if s := q.Stats(); s.Published != 3 || s.Duplicates != 1 {
			t.Fatalf("queue stats %+v", s)
		}
		if s := tp.Stats(); s.Published != 2 || s.Duplicates != 1 {
			t.Fatalf("topic stats %+v", s)
		}
	})
}

// A publish that fails does not use up its ID: retrying it is not a
// duplicate.
func TestDedupRemembersOnlyAccepted(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithDedup(time.Minute), WithCapacity(1), WithOverflow(OverflowReject))
	ctx := context.Background()
	q.Publish(ctx, &Message{ID: "a"})
	if err := q.Publish(ctx, &Message{ID: "b"}); !errors.Is(err, ErrFull) {
		t.Fatalf("= %v, want ErrFull", err)
	}
	receiveOrFail(t, q).Ack()
	if err := q.Publish(ctx, &Message{ID: "b"}); err != nil {
		t.Fatalf("retry of a refused publish = %v, want accepted", err)
	}
}

func TestDedupMemoryBounded(t *testing.T) {
	w := newDedupWindow(int64(time.Hour))
	for i := range MaxDedupIDs + 10 {
		w.add(fmt.Sprint(i), 0)
	}
	if len(w.seen) != MaxDedupIDs || w.order.Len() != MaxDedupIDs {
		t.Fatalf("remembers %d IDs, want at most %d", len(w.seen), MaxDedupIDs)
	}
	if w.contains("0", 0) || !w.contains(fmt.Sprint(MaxDedupIDs+9), 0) {
		t.Fatal("the oldest IDs should be forgotten first")
	}
}

// A handler that hands its delivery to a goroutine and returns (a habit
// from amqp091) must not settle the next message through it: the late
// settle returns ErrSettled and changes nothing, so the next message's own
// outcome stands.
func TestStaleSettleAfterReturnTouchesNothing(t *testing.T) {
	for name, settle := range map[string]func(*Delivery) error{
		"Ack":    (*Delivery).Ack,
		"Nack":   (*Delivery).Nack,
		"Reject": (*Delivery).Reject,
		"Reply": func(d *Delivery) error {
			return d.Reply(context.Background(), NewMessage("late"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newTestBroker(t)
				q := mustQueue(t, b, "q", WithMaxDeliveries(3))
				release := make(chan struct{})
				late := make(chan error, 1)
				var mu sync.Mutex
				var handled []string
				ctx, cancel := context.WithCancel(context.Background())
				done := consumeAsync(ctx, q, func(_ context.Context, d *Delivery) error {
					body := d.Body.(string)
					mu.Lock()
					handled = append(handled, body)
					mu.Unlock()
					switch {
					case body == "first":
						go func() {
							<-release
							late <- settle(d)
						}()
						return nil
					case body == "second" && d.Attempt == 1:
						// The first handler's goroutine settles now, while
						// this handler runs.
						close(release)
						if err := <-late; !errors.Is(err, ErrSettled) {
							t.Errorf("late %s through the first delivery = %v, want ErrSettled", name, err)
						}
						return errors.New("second fails once")
					}
					return nil
				})
				m := NewMessage("first")
				m.ReplyTo = "nowhere"
				if err := q.Publish(context.Background(), m); err != nil {
					t.Fatal(err)
				}
				publishOrFail(t, q, "second")
				time.Sleep(time.Minute) // fake time: the second's back-off passes
				synctest.Wait()
				cancel()
				<-done
				mu.Lock()
				defer mu.Unlock()
				if got := len(handled); got != 3 {
					t.Errorf("handled %v, want first, second, second again", handled)
				}
				wantStats(t, q, QueueStats{Published: 2, Delivered: 3, Acked: 2, Nacked: 1})
			})
		})
	}
}

// Once a consumer's handler has settled late, every later message gets a
// Delivery of its own, so settles that come many messages later still
// return ErrSettled and touch nothing.
func TestStaleSettleManyMessagesLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithMaxDeliveries(2))
		const n = 40
		var (
			mu      sync.Mutex
			kept    []*Delivery
			results = map[int]error{}
			handled = map[int]int{}
		)
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(_ context.Context, d *Delivery) error {
			i := d.Body.(int)
			mu.Lock()
			defer mu.Unlock()
			handled[i]++
			switch {
			case i == 1:
				// The first late settle, one message later: herald sees it.
				if err := kept[0].Ack(); !errors.Is(err, ErrSettled) {
					t.Errorf("Ack of delivery 0 during delivery 1 = %v, want ErrSettled", err)
				}
			case i >= 20:
				// Much later: settle every delivery kept so far.
				for j, k := range kept[:i-19] {
					if err := k.Nack(); !errors.Is(err, ErrSettled) {
						results[j] = err
					}
				}
			}
			kept = append(kept, d)
			if i%2 == 1 && d.Attempt == 1 {
				return errors.New("odd messages fail once")
			}
			return nil
		})
		for i := range n {
			publishOrFail(t, q, i)
		}
		time.Sleep(time.Minute) // fake time: the back-offs pass
		synctest.Wait()
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for j, err := range results {
			t.Errorf("late Nack of delivery %d = %v, want ErrSettled", j, err)
		}
		for i := range n {
			if want := 1 + i%2; handled[i] != want {
				t.Errorf("message %d handled %d times, want %d", i, handled[i], want)
			}
		}
		wantStats(t, q, QueueStats{Published: n, Delivered: n + n/2, Acked: n, Nacked: n / 2})
	})
}

// Under the race detector a consumer's very first late settle is caught
// however late it comes: every message has a Delivery of its own, so a
// test suite run with -race finds a handler that settles after returning.
// Without the detector the ring reuses deliveries and the same settle could
// reach the message being handled, which is why this test needs -race.
func TestStaleSettleFirstAndLateIsCaughtUnderRace(t *testing.T) {
	if !raceEnabled {
		t.Skip("deliveries are reused without the race detector; see Delivery")
	}
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithMaxDeliveries(2))
		// Message n-1 reuses the first message's Delivery when the ring does.
		const n = 2*ringLen + 1
		var first *Delivery
		var lateErr error
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(_ context.Context, d *Delivery) error {
			switch i := d.Body.(int); {
			case i == 0:
				first = d
			case i == n-1 && d.Attempt == 1:
				// The first late settle, many ring turns later, while this
				// message is being handled: it must not settle this one.
				lateErr = first.Ack()
				return errors.New("the last message fails once")
			}
			return nil
		})
		for i := range n {
			publishOrFail(t, q, i)
		}
		time.Sleep(time.Minute) // fake time: the back-off passes
		synctest.Wait()
		cancel()
		<-done
		if !errors.Is(lateErr, ErrSettled) {
			t.Errorf("late Ack of the first delivery = %v, want ErrSettled", lateErr)
		}
		wantStats(t, q, QueueStats{Published: n, Delivered: n + 1, Acked: n, Nacked: 1})
	})
}

// Receive allocates one Delivery per message, and nothing else: keep it in
// the 128-byte size class.
func TestReceiveAllocatesOneSmallDelivery(t *testing.T) {
	if size := unsafe.Sizeof(Delivery{}); size > 128 {
		t.Errorf("a Delivery takes %d bytes, want at most 128", size)
	}
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	ctx := context.Background()
	m := &Message{ID: "x", Time: time.Unix(1, 0), Body: benchBody}
	n := testing.AllocsPerRun(200, func() {
		if err := q.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		d, err := q.Receive(ctx)
		if err != nil {
			t.Fatal(err)
		}
		d.Ack()
	})
	if n != 1 {
		t.Errorf("%.2f allocations per Receive, want 1 (the Delivery)", n)
	}
}
