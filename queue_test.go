package herald

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// eventTimeout bounds every wait for an event, so that a broken queue fails
// the test instead of hanging it. Inside a synctest bubble it is fake time.
const eventTimeout = 10 * time.Second

// receiveOrFail receives the next delivery from q, failing the test if none
// comes within eventTimeout.
func receiveOrFail(t testing.TB, q *Queue) *Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	d, err := q.Receive(ctx)
	if err != nil {
		t.Fatalf("Receive from %q: %v", q.Name(), err)
	}
	return d
}

// publishOrFail publishes a message with body to q and returns it.
func publishOrFail(t testing.TB, q *Queue, body any) *Message {
	t.Helper()
	m := NewMessage(body)
	if err := q.Publish(context.Background(), m); err != nil {
		t.Fatalf("Publish(%v) to %q: %v", body, q.Name(), err)
	}
	return m
}

// settleOrFail settles d with settle (Ack, Nack or Reject), failing on error.
func settleOrFail(t testing.TB, settle func() error) {
	t.Helper()
	if err := settle(); err != nil {
		t.Fatalf("settle: %v", err)
	}
}

// wantStats fails the test unless q's stats are exactly want.
func wantStats(t testing.TB, q *Queue, want QueueStats) {
	t.Helper()
	if got := q.Stats(); got != want {
		t.Fatalf("%q stats:\n got %+v\nwant %+v", q.Name(), got, want)
	}
}

// wantBody fails the test unless d carries body on the given attempt.
func wantBody(t testing.TB, d *Delivery, body any, attempt int) {
	t.Helper()
	if d.Body != body || d.Attempt != attempt {
		t.Fatalf("got body %v attempt %d, want body %v attempt %d", d.Body, d.Attempt, body, attempt)
	}
}

func TestQueueFIFOAndGauges(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "fifo")
	wantStats(t, q, QueueStats{})
	for i := range 5 {
		publishOrFail(t, q, i)
		if q.Len() != i+1 {
			t.Fatalf("after %d publishes Len = %d", i+1, q.Len())
		}
	}
	wantStats(t, q, QueueStats{Published: 5, Ready: 5})

	var held []*Delivery
	for i := range 5 {
		d := receiveOrFail(t, q)
		wantBody(t, d, i, 1)
		held = append(held, d)
		if q.Len() != 4-i {
			t.Fatalf("after %d receives Len = %d, want %d", i+1, q.Len(), 4-i)
		}
		wantStats(t, q, QueueStats{Published: 5, Delivered: uint64(i + 1), Ready: 4 - i, Unacked: i + 1})
	}
	for i, d := range held {
		settleOrFail(t, d.Ack)
		wantStats(t, q, QueueStats{Published: 5, Delivered: 5, Acked: uint64(i + 1), Unacked: 4 - i})
	}
}

func TestQueueFIFOInterleaved(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "fifo")
	next := 0
	for round := range 50 {
		// Publish a growing batch, take part of it: order must hold across
		// the ring buffer wrapping and growing.
		for range round%7 + 1 {
			publishOrFail(t, q, next)
			next++
		}
		for range round%5 + 1 {
			if q.Len() == 0 {
				break
			}
			d := receiveOrFail(t, q)
			settleOrFail(t, d.Ack)
			if want := int(q.Stats().Acked) - 1; d.Body != want {
				t.Fatalf("round %d: got body %v, want %d", round, d.Body, want)
			}
		}
	}
	for q.Len() > 0 {
		d := receiveOrFail(t, q)
		settleOrFail(t, d.Ack)
		if want := int(q.Stats().Acked) - 1; d.Body != want {
			t.Fatalf("draining: got body %v, want %d", d.Body, want)
		}
	}
	wantStats(t, q, QueueStats{Published: uint64(next), Delivered: uint64(next), Acked: uint64(next)})
}

func TestSettleTwiceReturnsErrSettled(t *testing.T) {
	kinds := []struct {
		name   string
		settle func(*Delivery) error
	}{
		{"Ack", (*Delivery).Ack},
		{"Nack", (*Delivery).Nack},
		{"Reject", (*Delivery).Reject},
	}
	for _, first := range kinds {
		for _, second := range kinds {
			t.Run(first.name+"Then"+second.name, func(t *testing.T) {
				b := newTestBroker(t)
				q := mustQueue(t, b, "q", WithBackoff(0, 0))
				publishOrFail(t, q, 1)
				d := receiveOrFail(t, q)
				if err := first.settle(d); err != nil {
					t.Fatalf("first %s: %v", first.name, err)
				}
				before := q.Stats()
				if err := second.settle(d); !errors.Is(err, ErrSettled) {
					t.Fatalf("second settle %s = %v, want ErrSettled", second.name, err)
				}
				// The losing settle changes nothing.
				wantStats(t, q, before)
			})
		}
	}
}

func TestAttemptIncrementsOnRedelivery(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithBackoff(0, 0))
	m := publishOrFail(t, q, "x")
	for attempt := 1; attempt <= 5; attempt++ {
		d := receiveOrFail(t, q)
		wantBody(t, d, "x", attempt)
		if d.ID != m.ID || d.Message != m {
			t.Fatalf("attempt %d: got message %p ID %q, want the published %p ID %q", attempt, d.Message, d.ID, m, m.ID)
		}
		if attempt < 5 {
			settleOrFail(t, d.Nack)
		} else {
			settleOrFail(t, d.Ack)
		}
	}
	wantStats(t, q, QueueStats{Published: 1, Delivered: 5, Nacked: 4, Acked: 1})
}

func TestNackWaitsOutBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		const minB, maxB = 100 * time.Millisecond, time.Second
		q := mustQueue(t, b, "q", WithBackoff(minB, maxB))
		publishOrFail(t, q, "x")
		settleOrFail(t, receiveOrFail(t, q).Nack)
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Nacked: 1, Delayed: 1})

		time.Sleep(minB - time.Nanosecond)
		synctest.Wait()
		if q.Len() != 0 {
			t.Fatalf("ready %v after the nack, before the back-off of %v", minB-time.Nanosecond, minB)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Nacked: 1, Delayed: 1})

		time.Sleep(time.Nanosecond)
		synctest.Wait()
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Nacked: 1, Ready: 1})
		d := receiveOrFail(t, q)
		wantBody(t, d, "x", 2)
		settleOrFail(t, d.Ack)
	})
}

func TestBackoffDoublesAndCaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(time.Second, 5*time.Second))
		publishOrFail(t, q, "x")
		d := receiveOrFail(t, q)
		// The wait before attempt n+1: min doubled n-1 times, capped at max.
		waits := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
		for i, want := range waits {
			attempt := i + 1
			settleOrFail(t, d.Nack)
			start := time.Now()
			d = receiveOrFail(t, q)
			if got := time.Since(start); got != want {
				t.Fatalf("redelivery after attempt %d came after %v, want %v", attempt, got, want)
			}
			wantBody(t, d, "x", attempt+1)
		}
		settleOrFail(t, d.Ack)
		wantStats(t, q, QueueStats{Published: 1, Delivered: 6, Nacked: 5, Acked: 1})
	})
}

func TestDefaultBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		publishOrFail(t, q, "x")
		settleOrFail(t, receiveOrFail(t, q).Nack)
		start := time.Now()
		d := receiveOrFail(t, q)
		if got := time.Since(start); got != DefaultBackoffMin {
			t.Fatalf("redelivered after %v, want DefaultBackoffMin %v", got, DefaultBackoffMin)
		}
		settleOrFail(t, d.Ack)
	})
}

func TestBackoffZeroRequeuesAtOnce(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithBackoff(0, 0))
	publishOrFail(t, q, "x")
	settleOrFail(t, receiveOrFail(t, q).Nack)
	// No timer is involved: the message is ready as Nack returns.
	wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Nacked: 1, Ready: 1})
	wantBody(t, receiveOrFail(t, q), "x", 2)
}

func TestNackedMessageGoesToBack(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithBackoff(0, 0))
	for _, body := range []string{"a", "b", "c"} {
		publishOrFail(t, q, body)
	}
	settleOrFail(t, receiveOrFail(t, q).Nack) // a
	publishOrFail(t, q, "d")
	for _, want := range []struct {
		body    string
		attempt int
	}{{"b", 1}, {"c", 1}, {"a", 2}, {"d", 1}} {
		d := receiveOrFail(t, q)
		wantBody(t, d, want.body, want.attempt)
		settleOrFail(t, d.Ack)
	}
}

func TestNackedMessageGoesToBackAfterBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(time.Second, time.Second))
		publishOrFail(t, q, "a")
		settleOrFail(t, receiveOrFail(t, q).Nack)
		publishOrFail(t, q, "b")
		publishOrFail(t, q, "c")
		time.Sleep(time.Second)
		synctest.Wait()
		publishOrFail(t, q, "d") // after the back-off: behind a
		wantStats(t, q, QueueStats{Published: 4, Delivered: 1, Nacked: 1, Ready: 4})
		for _, want := range []struct {
			body    string
			attempt int
		}{{"b", 1}, {"c", 1}, {"a", 2}, {"d", 1}} {
			d := receiveOrFail(t, q)
			wantBody(t, d, want.body, want.attempt)
			settleOrFail(t, d.Ack)
		}
	})
}

func TestRejectEndsMessage(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q", WithBackoff(0, 0))
	publishOrFail(t, q, "x")
	publishOrFail(t, q, "y")
	settleOrFail(t, receiveOrFail(t, q).Reject)
	wantStats(t, q, QueueStats{Published: 2, Delivered: 1, Rejected: 1, Ready: 1})
	d := receiveOrFail(t, q)
	wantBody(t, d, "y", 1)
	settleOrFail(t, d.Ack)
}

func TestReceiveReturnsCtxErr(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		start := time.Now()
		if _, err := q.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Receive on an empty queue = %v, want DeadlineExceeded", err)
		}
		if got := time.Since(start); got != time.Minute {
			t.Fatalf("Receive returned after %v, want 1m", got)
		}
		// The abandoned receiver must not swallow the next message.
		publishOrFail(t, q, "x")
		wantBody(t, receiveOrFail(t, q), "x", 1)
	})
}

func TestReceiveWakesOnPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		got := make(chan *Delivery, 3)
		for range 3 {
			go func() {
				d, err := q.Receive(context.Background())
				if err != nil {
					t.Errorf("Receive: %v", err)
				}
				got <- d
			}()
		}
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("Receive returned on an empty queue")
		}
		for i := range 3 {
			publishOrFail(t, q, i)
		}
		seen := map[any]bool{}
		for range 3 {
			d := <-got
			if d == nil {
				t.FailNow()
			}
			seen[d.Body] = true
			settleOrFail(t, d.Ack)
		}
		if len(seen) != 3 {
			t.Fatalf("three receivers got bodies %v, want each of 0 1 2 once", seen)
		}
		wantStats(t, q, QueueStats{Published: 3, Delivered: 3, Acked: 3})
	})
}

func TestCompetingReceiversGetEachMessageOnce(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	const n, receivers = 500, 4
	got := make(chan int, n)
	done := make(chan struct{})
	for range receivers {
		go func() {
			for {
				d, err := q.Receive(context.Background())
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("Receive: %v", err)
					}
					done <- struct{}{}
					return
				}
				got <- d.Body.(int)
				if err := d.Ack(); err != nil {
					t.Errorf("Ack: %v", err)
				}
			}
		}()
	}
	for i := range n {
		publishOrFail(t, q, i)
	}
	seen := make([]bool, n)
	for range n {
		var i int
		select {
		case i = <-got:
		case <-time.After(eventTimeout):
			t.Fatal("timed out waiting for deliveries")
		}
		if seen[i] {
			t.Fatalf("message %d delivered twice", i)
		}
		seen[i] = true
	}
	b.Close()
	for range receivers {
		<-done
	}
	wantStats(t, q, QueueStats{Published: n, Delivered: n, Acked: n})
}

func TestDeliveryZeroValue(t *testing.T) {
	for _, tc := range []struct {
		name   string
		settle func(*Delivery) error
	}{
		{"Ack", (*Delivery).Ack},
		{"Nack", (*Delivery).Nack},
		{"Reject", (*Delivery).Reject},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &Delivery{Message: NewMessage(1)}
			if d.Body != 1 {
				t.Fatalf("Body = %v, want 1", d.Body)
			}
			if err := tc.settle(d); err != nil {
				t.Fatalf("first %s = %v, want nil", tc.name, err)
			}
			for _, again := range []func() error{d.Ack, d.Nack, d.Reject} {
				if err := again(); !errors.Is(err, ErrSettled) {
					t.Fatalf("settle after %s = %v, want ErrSettled", tc.name, err)
				}
			}
		})
	}
}

func TestHandlerUnitTestWithoutBroker(t *testing.T) {
	// The pattern the zero Delivery exists for: call a handler directly.
	h := func(_ context.Context, d *Delivery) error {
		if d.Body.(int) < 0 {
			return d.Reject()
		}
		return d.Ack()
	}
	d := &Delivery{Message: NewMessage(-1)}
	if err := h(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(); !errors.Is(err, ErrSettled) {
		t.Fatalf("Ack after the handler rejected = %v, want ErrSettled", err)
	}
}

// unaccounted returns how many of q's published messages are in none of
// the states QueueStats counts (negative: counted twice).
func unaccounted(s QueueStats) int64 {
	return int64(s.Published) - int64(s.Acked+s.Rejected+s.Expired+s.Dropped+s.Purged) -
		int64(s.Ready+s.Unacked+s.Delayed+s.Scheduled)
}

// Every published message is in exactly one state at every snapshot,
// including while messages are ending and their dead letters are being
// published: the dead-letter queue's transform runs then, and looks.
func TestStatsAccountForEndingMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []QueueOption
		end  func(t *testing.T, q *Queue)
	}{
		{"expiry sweep", []QueueOption{WithTTL(time.Second)}, func(t *testing.T, q *Queue) {
			time.Sleep(time.Second)
		}},
		{"nack at max deliveries", []QueueOption{WithMaxDeliveries(1)}, func(t *testing.T, q *Queue) {
			for range 10 {
				settleOrFail(t, receiveOrFail(t, q).Nack)
			}
		}},
		{"ack timeout at max deliveries", []QueueOption{WithMaxDeliveries(1), WithAckTimeout(time.Second)}, func(t *testing.T, q *Queue) {
			for range 10 {
				receiveOrFail(t, q)
			}
			time.Sleep(time.Second)
		}},
		{"drop oldest", []QueueOption{WithCapacity(10), WithOverflow(OverflowDropOldest)}, func(t *testing.T, q *Queue) {
			for i := range 10 {
				publishOrFail(t, q, i)
			}
		}},
		{"drop newest", []QueueOption{WithCapacity(10), WithOverflow(OverflowDropNewest)}, func(t *testing.T, q *Queue) {
			for i := range 10 {
				publishOrFail(t, q, i)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newTestBroker(t)
				var q *Queue
				looks := 0
				mustQueue(t, b, "dlq", WithTransform(func(m *Message) (*Message, error) {
					looks++
					if s := q.Stats(); unaccounted(s) != 0 {
						t.Errorf("while dead-lettering: %d messages unaccounted for in %+v", unaccounted(s), s)
					}
					return m, nil
				}))
				q = mustQueue(t, b, "q", append(tc.opts, WithDeadLetter("dlq"))...)
				for i := range 10 {
					publishOrFail(t, q, i)
				}
				tc.end(t, q)
				synctest.Wait()
				if looks != 10 {
					t.Fatalf("%d dead letters, want 10", looks)
				}
				if s := q.Stats(); unaccounted(s) != 0 {
					t.Errorf("after: %d messages unaccounted for in %+v", unaccounted(s), s)
				}
			})
		})
	}
}
