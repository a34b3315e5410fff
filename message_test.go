package herald

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"
)

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
