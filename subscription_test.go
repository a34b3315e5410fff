package herald

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// consumeSubAsync runs s.Consume in a goroutine and returns a channel that
// yields its result.
func consumeSubAsync(ctx context.Context, s *Subscription, h Handler, opts ...ConsumeOption) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.Consume(ctx, h, opts...) }()
	return done
}

// wantSubStats fails the test unless s's stats are exactly want.
func wantSubStats(t testing.TB, s *Subscription, want SubscriptionStats) {
	t.Helper()
	if got := s.Stats(); got != want {
		t.Fatalf("subscription stats:\n got %+v\nwant %+v", got, want)
	}
}

func TestSubscriptionReceiveWaitsForPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp)
		got := make(chan *Delivery, 1)
		go func() {
			d, err := s.Receive(context.Background())
			if err != nil {
				t.Errorf("Receive: %v", err)
			}
			got <- d
		}()
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("Receive returned before anything was published")
		}
		publishInts(t, tp, 1, 1)
		if d := <-got; d.Seq != 1 || d.Body != 1 || d.Attempt != 1 {
			t.Fatalf("got seq %d body %v attempt %d", d.Seq, d.Body, d.Attempt)
		}
	})
}

func TestSubscriptionReceiveHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if d, err := s.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Receive = %v, %v; want context.DeadlineExceeded", bodyOf(d), err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("Receive returned after %v, want 1s", waited)
		}
		cancelled, cancel2 := context.WithCancel(context.Background())
		cancel2()
		if _, err := s.Receive(cancelled); !errors.Is(err, context.Canceled) {
			t.Fatalf("Receive with a cancelled context = %v, want context.Canceled", err)
		}
		// The subscription still works.
		publishInts(t, tp, 1, 1)
		wantInts(t, s, 1, 1)
	})
}

func TestSubscriptionCloseWakesBlockedReceive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp)
		other := subscribeOrFail(t, tp)
		errs := make(chan error, 1)
		go func() {
			_, err := s.Receive(context.Background())
			errs <- err
		}()
		synctest.Wait()
		if len(errs) != 0 {
			t.Fatalf("Receive returned %v before Close", <-errs)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked Receive = %v, want an error wrapping ErrClosed", err)
		}
		publishInts(t, tp, 1, 1)
		if d, err := s.Receive(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("Receive after Close = %v, %v; want ErrClosed", bodyOf(d), err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close = %v, want nil", err)
		}
		wantInts(t, other, 1, 1)
		if st := tp.Stats(); st.Subscriptions != 1 {
			t.Fatalf("%d subscriptions after Close, want 1", st.Subscriptions)
		}
	})
}

func TestSubscriptionBrokerCloseWakesBlockedReceive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp)
		errs := make(chan error, 1)
		go func() {
			_, err := s.Receive(context.Background())
			errs <- err
		}()
		synctest.Wait()
		b.Close()
		if err := <-errs; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked Receive = %v, want ErrClosed", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close after the broker's = %v, want nil", err)
		}
	})
}

func TestSubscriptionSettleTwice(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	s := subscribeOrFail(t, tp)
	publishInts(t, tp, 1, 1)
	d := receiveSubOrFail(t, s)
	settleOrFail(t, d.Ack)
	for name, settle := range map[string]func() error{"Ack": d.Ack, "Nack": d.Nack, "Reject": d.Reject} {
		if err := settle(); !errors.Is(err, ErrSettled) {
			t.Errorf("%s after Ack = %v, want ErrSettled", name, err)
		}
	}
	wantSubStats(t, s, SubscriptionStats{Delivered: 1, Acked: 1})
}

// A nacked delivery comes back to the subscription that nacked it, after
// its back-off, with the same sequence number; other subscriptions are not
// affected.
func TestSubscriptionNackRedeliversToItself(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp, WithBackoff(time.Second, time.Second))
		other := subscribeOrFail(t, tp)
		publishInts(t, tp, 1, 2)
		start := time.Now()
		d := receiveSubOrFail(t, s)
		settleOrFail(t, d.Nack)
		wantSubStats(t, s, SubscriptionStats{Delivered: 1, Nacked: 1, Lag: 1, Delayed: 1})
		wantInts(t, s, 2, 2) // the next message does not wait for the retry
		d = receiveSubOrFail(t, s)
		if d.Seq != 1 || d.Body != 1 || d.Attempt != 2 {
			t.Fatalf("redelivery: seq %d body %v attempt %d, want seq 1 body 1 attempt 2", d.Seq, d.Body, d.Attempt)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("redelivered after %v, want the 1s back-off", waited)
		}
		settleOrFail(t, d.Ack)
		wantSubStats(t, s, SubscriptionStats{Delivered: 3, Acked: 2, Nacked: 1})
		wantInts(t, other, 1, 2)
		wantCaughtUp(t, other)
		wantSubStats(t, other, SubscriptionStats{Delivered: 2, Acked: 2})
	})
}

func TestSubscriptionRejectAndMaxDeliveriesDeadLetter(t *testing.T) {
	b := newTestBroker(t)
	dlq := mustQueue(t, b, "dlq")
	tp := topicOrFail(t, b, "orders")
	s := subscribeOrFail(t, tp, WithDeadLetter("dlq"), WithMaxDeliveries(2), WithBackoff(0, 0))
	noDest := subscribeOrFail(t, tp)
	start := time.Now()
	if err := tp.Publish(context.Background(), &Message{Body: 1, Headers: Headers{"trace": "t1"}}); err != nil {
		t.Fatal(err)
	}
	publishInts(t, tp, 2, 2)
	settleOrFail(t, receiveSubOrFail(t, s).Reject)
	d := receiveSubOrFail(t, s)
	settleOrFail(t, d.Nack)
	d = receiveSubOrFail(t, s)
	if d.Seq != 2 || d.Attempt != 2 {
		t.Fatalf("got seq %d attempt %d, want seq 2 attempt 2", d.Seq, d.Attempt)
	}
	settleOrFail(t, d.Nack)
	end := time.Now()

	dead := receiveOrFail(t, dlq)
	wantDeath(t, dead, map[string]string{"trace": "t1", HeaderDeathQueue: "orders", HeaderDeathReason: ReasonRejected, HeaderDeathAttempts: "1"}, start, end)
	if dead.Body != 1 {
		t.Fatalf("first dead letter %v, want 1", dead.Body)
	}
	dead = receiveOrFail(t, dlq)
	wantDeath(t, dead, map[string]string{HeaderDeathQueue: "orders", HeaderDeathReason: ReasonDeliveryLimit, HeaderDeathAttempts: "2"}, start, end)
	if dead.Body != 2 {
		t.Fatalf("second dead letter %v, want 2", dead.Body)
	}
	wantSubStats(t, s, SubscriptionStats{Delivered: 3, Nacked: 2, Rejected: 2, DeadLettered: 2})

	// Without a destination a rejected message is dropped and counted.
	settleOrFail(t, receiveSubOrFail(t, noDest).Reject)
	settleOrFail(t, receiveSubOrFail(t, noDest).Ack)
	wantSubStats(t, noDest, SubscriptionStats{Delivered: 2, Acked: 1, Rejected: 1})
	if dlq.Len() != 0 {
		t.Fatalf("dead-letter queue holds %d, want 0", dlq.Len())
	}
}

func TestSubscriptionDeadLetterToMissingDestination(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	s := subscribeOrFail(t, tp, WithDeadLetter("nowhere"))
	publishInts(t, tp, 1, 1)
	settleOrFail(t, receiveSubOrFail(t, s).Reject)
	wantSubStats(t, s, SubscriptionStats{Delivered: 1, Rejected: 1, DeadLetterFailed: 1})
}

func TestSubscriptionConsumeInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t", WithCapacity(8))
		s := subscribeOrFail(t, tp)
		var got []uint64
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeSubAsync(ctx, s, func(_ context.Context, d *Delivery) error {
			if d.Body != int(d.Seq) || d.Attempt != 1 || d.Missed != 0 {
				t.Errorf("seq %d body %v attempt %d missed %d", d.Seq, d.Body, d.Attempt, d.Missed)
			}
			got = append(got, d.Seq)
			return nil
		})
		publishInts(t, tp, 1, 50) // wraps the ring of 8 several times
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v, want context.Canceled", err)
		}
		if len(got) != 50 {
			t.Fatalf("handled %d, want 50", len(got))
		}
		for i, seq := range got {
			if seq != uint64(i+1) {
				t.Fatalf("handled %v, want 1..50 in order", got)
			}
		}
		wantSubStats(t, s, SubscriptionStats{Delivered: 50, Acked: 50})
	})
}

func TestSubscriptionConsumeErrorRedelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp, WithBackoff(time.Second, time.Second))
		type call struct {
			seq     uint64
			attempt int
			at      time.Duration
		}
		var calls []call
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeSubAsync(ctx, s, func(_ context.Context, d *Delivery) error {
			calls = append(calls, call{d.Seq, d.Attempt, time.Since(start)})
			if d.Seq == 2 && d.Attempt == 1 {
				return errors.New("try again")
			}
			if d.Seq == 3 && d.Attempt == 1 {
				panic("boom")
			}
			return nil
		})
		publishInts(t, tp, 1, 4)
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v, want context.Canceled", err)
		}
		want := []call{{1, 1, 0}, {2, 1, 0}, {3, 1, 0}, {4, 1, 0}, {2, 2, time.Second}, {3, 2, time.Second}}
		if fmt.Sprint(calls) != fmt.Sprint(want) {
			t.Fatalf("calls (seq, attempt, at) %v, want %v", calls, want)
		}
		wantSubStats(t, s, SubscriptionStats{Delivered: 6, Acked: 4, Nacked: 2})
	})
}

func TestSubscriptionConsumePermanentDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		dlq := mustQueue(t, b, "dlq")
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp, WithDeadLetter("dlq"), WithMaxDeliveries(2), WithBackoff(0, 0))
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		done := consumeSubAsync(ctx, s, func(_ context.Context, d *Delivery) error {
			switch d.Body {
			case 1:
				return Permanent(errors.New("bad input"))
			case 2:
				return errors.New("flaky")
			case 3:
				panic("boom")
			}
			return nil
		})
		publishInts(t, tp, 1, 4)
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v, want context.Canceled", err)
		}
		end := time.Now()
		dead := receiveOrFail(t, dlq)
		wantDeath(t, dead, map[string]string{
			HeaderDeathQueue: "t", HeaderDeathReason: ReasonRejected, HeaderDeathAttempts: "1",
			HeaderDeathError: "permanent: bad input",
		}, start, end)
		if dead.Body != 1 {
			t.Fatalf("first dead letter %v, want 1", dead.Body)
		}
		dead = receiveOrFail(t, dlq)
		wantDeath(t, dead, map[string]string{
			HeaderDeathQueue: "t", HeaderDeathReason: ReasonDeliveryLimit, HeaderDeathAttempts: "2",
			HeaderDeathError: "flaky",
		}, start, end)
		dead = receiveOrFail(t, dlq)
		wantDeath(t, dead, map[string]string{
			HeaderDeathQueue: "t", HeaderDeathReason: ReasonDeliveryLimit, HeaderDeathAttempts: "2",
			HeaderDeathError: "herald: handler panicked: boom",
		}, start, end)
		// 1 once, 2 and 3 twice, 4 once.
		wantSubStats(t, s, SubscriptionStats{Delivered: 6, Acked: 1, Nacked: 4, Rejected: 3, DeadLettered: 3})
	})
}

func TestSubscriptionConsumeReturns(t *testing.T) {
	h := func(context.Context, *Delivery) error { return nil }
	t.Run("context cancelled", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newTestBroker(t)
			s := subscribeOrFail(t, topicOrFail(t, b, "t"))
			ctx, cancel := context.WithCancel(context.Background())
			done := consumeSubAsync(ctx, s, h, WithConcurrency(3))
			synctest.Wait()
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("Consume = %v, want context.Canceled", err)
			}
		})
	})
	t.Run("context deadline", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newTestBroker(t)
			s := subscribeOrFail(t, topicOrFail(t, b, "t"))
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := s.Consume(ctx, h); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Consume = %v, want context.DeadlineExceeded", err)
			}
		})
	})
	t.Run("subscription closed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newTestBroker(t)
			tp := topicOrFail(t, b, "t")
			s := subscribeOrFail(t, tp)
			// The handler closes its own subscription: re-entry is allowed.
			done := consumeSubAsync(context.Background(), s, func(_ context.Context, d *Delivery) error {
				if d.Seq == 2 {
					return s.Close()
				}
				return nil
			}, WithConcurrency(2))
			publishInts(t, tp, 1, 3)
			err := <-done
			if !errors.Is(err, ErrClosed) || err == ErrClosed {
				t.Fatalf("Consume = %v, want an error wrapping ErrClosed that says the subscription closed", err)
			}
			if err := s.Consume(context.Background(), h); !errors.Is(err, ErrClosed) {
				t.Fatalf("Consume after Close = %v, want ErrClosed", err)
			}
		})
	})
	t.Run("broker closed", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newTestBroker(t)
			s := subscribeOrFail(t, topicOrFail(t, b, "t"))
			done := consumeSubAsync(context.Background(), s, h, WithConcurrency(2))
			synctest.Wait()
			b.Close()
			if err := <-done; err != ErrClosed {
				t.Fatalf("Consume = %v, want ErrClosed", err)
			}
			if err := s.Consume(context.Background(), h); !errors.Is(err, ErrClosed) {
				t.Fatalf("Consume after Close = %v, want ErrClosed", err)
			}
		})
	})
	t.Run("shutdown drained", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			b := newTestBroker(t)
			tp := topicOrFail(t, b, "t")
			s := subscribeOrFail(t, tp)
			n := 0
			done := consumeSubAsync(context.Background(), s, func(context.Context, *Delivery) error { n++; return nil })
			publishInts(t, tp, 1, 10)
			if err := b.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown = %v", err)
			}
			if err := <-done; err != nil {
				t.Fatalf("Consume = %v, want nil after Shutdown drained", err)
			}
			if n != 10 {
				t.Fatalf("handled %d, want 10", n)
			}
		})
	})
}

func TestSubscriptionConsumeConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp)
		const workers = 4
		var mu sync.Mutex
		seen := map[uint64]int{}
		running, peak := 0, 0
		release := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeSubAsync(ctx, s, func(_ context.Context, d *Delivery) error {
			mu.Lock()
			seen[d.Seq]++
			running++
			peak = max(peak, running)
			mu.Unlock()
			<-release
			mu.Lock()
			running--
			mu.Unlock()
			return nil
		}, WithConcurrency(workers))
		publishInts(t, tp, 1, 20)
		synctest.Wait()
		if st := s.Stats(); peak != workers || st.Unacked != workers {
			t.Fatalf("%d handlers running and %d unacked, want %d", peak, st.Unacked, workers)
		}
		close(release)
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v", err)
		}
		for seq := uint64(1); seq <= 20; seq++ {
			if seen[seq] != 1 {
				t.Fatalf("seq %d handled %d times, want once", seq, seen[seq])
			}
		}
		wantSubStats(t, s, SubscriptionStats{Delivered: 20, Acked: 20})
	})
}

// A handler may subscribe, publish to another topic and close subscriptions
// without deadlock.
func TestSubscriptionHandlerReentry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		in := topicOrFail(t, b, "in")
		out := topicOrFail(t, b, "out")
		s := subscribeOrFail(t, in)
		watcher := subscribeOrFail(t, out)
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeSubAsync(ctx, s, func(ctx context.Context, d *Delivery) error {
			extra, err := in.Subscribe(FromSequence(d.Seq))
			if err != nil {
				return err
			}
			defer extra.Close()
			again, err := extra.Receive(ctx)
			if err != nil || again.Message != d.Message {
				return fmt.Errorf("re-entrant Receive: %v", err)
			}
			again.Ack()
			return out.Publish(ctx, NewMessage(d.Body))
		})
		publishInts(t, in, 1, 3)
		wantInts(t, watcher, 1, 3)
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v", err)
		}
		wantSubStats(t, s, SubscriptionStats{Delivered: 3, Acked: 3})
		if st := in.Stats(); st.Subscriptions != 1 {
			t.Fatalf("%d subscriptions on in, want 1", st.Subscriptions)
		}
	})
}

func TestSubscriptionAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp, WithBackoff(time.Second, time.Second))
		publishInts(t, tp, 1, 5)
		ctx := context.Background()
		var got []uint64
		for d := range s.All(ctx) {
			got = append(got, d.Seq)
			if len(got) == 3 {
				break
			}
		}
		if fmt.Sprint(got) != "[1 2 3]" {
			t.Fatalf("got %v, want [1 2 3]", got)
		}
		// The loop acked all three, the one it broke on included.
		wantSubStats(t, s, SubscriptionStats{Delivered: 3, Acked: 3, Lag: 2})

		// A delivery the body settles is left as it is; the loop ends
		// when ctx ends.
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		got = nil
		for d := range s.All(cctx) {
			got = append(got, d.Seq*10+uint64(d.Attempt))
			switch {
			case d.Seq == 4 && d.Attempt == 1:
				d.Nack()
			case d.Seq == 4:
				cancel()
			}
		}
		if fmt.Sprint(got) != "[41 51 42]" {
			t.Fatalf("got (seq*10+attempt) %v, want [41 51 42]", got)
		}
		wantSubStats(t, s, SubscriptionStats{Delivered: 6, Acked: 5, Nacked: 1})

		// The loop ends when the subscription closes.
		ended := make(chan struct{})
		go func() {
			for range s.All(ctx) {
				t.Error("a delivery after everything was read")
			}
			close(ended)
		}()
		synctest.Wait()
		s.Close()
		<-ended
	})
}

func TestSubscriptionAllReportsMissed(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(4), WithOverflow(OverflowDropOldest))
	s := subscribeOrFail(t, tp)
	publishInts(t, tp, 1, 10)
	type seen struct{ seq, missed uint64 }
	var got []seen
	for d := range s.All(context.Background()) {
		got = append(got, seen{d.Seq, d.Missed})
		if d.Seq == 10 {
			break
		}
	}
	if want := []seen{{7, 6}, {8, 0}, {9, 0}, {10, 0}}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got (seq, missed) %v, want %v", got, want)
	}
	wantSubStats(t, s, SubscriptionStats{Delivered: 4, Acked: 4, Missed: 6})
}

func TestSubscriptionStats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp, WithBackoff(time.Second, time.Second), WithMaxDeliveries(2))
		wantSubStats(t, s, SubscriptionStats{})
		publishInts(t, tp, 1, 5)
		wantSubStats(t, s, SubscriptionStats{Lag: 5})
		d1 := receiveSubOrFail(t, s)
		d2 := receiveSubOrFail(t, s)
		wantSubStats(t, s, SubscriptionStats{Delivered: 2, Lag: 3, Unacked: 2})
		settleOrFail(t, d1.Ack)
		settleOrFail(t, d2.Nack)
		wantSubStats(t, s, SubscriptionStats{Delivered: 2, Acked: 1, Nacked: 1, Lag: 3, Delayed: 1})
		settleOrFail(t, receiveSubOrFail(t, s).Reject)
		wantSubStats(t, s, SubscriptionStats{Delivered: 3, Acked: 1, Nacked: 1, Rejected: 1, Lag: 2, Delayed: 1})
		time.Sleep(time.Second)
		synctest.Wait()
		wantSubStats(t, s, SubscriptionStats{Delivered: 3, Acked: 1, Nacked: 1, Rejected: 1, Lag: 2, Delayed: 1})
		d := receiveSubOrFail(t, s)
		if d.Seq != 2 || d.Attempt != 2 {
			t.Fatalf("got seq %d attempt %d, want the retry of 2", d.Seq, d.Attempt)
		}
		wantSubStats(t, s, SubscriptionStats{Delivered: 4, Acked: 1, Nacked: 1, Rejected: 1, Lag: 2, Unacked: 1})
		settleOrFail(t, d.Nack) // the second delivery: the limit
		wantSubStats(t, s, SubscriptionStats{Delivered: 4, Acked: 1, Nacked: 2, Rejected: 2, Lag: 2})
	})
}

// Close drops the redeliveries a subscription still owed, and counts them.
func TestSubscriptionCloseDropsPendingRedeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp, WithBackoff(time.Second, time.Second))
		publishInts(t, tp, 1, 2)
		d1, d2 := receiveSubOrFail(t, s), receiveSubOrFail(t, s)
		settleOrFail(t, d1.Nack)
		time.Sleep(2 * time.Second) // the first is ready again
		settleOrFail(t, d2.Nack)
		synctest.Wait()
		if st := s.Stats(); st.Delayed != 2 {
			t.Fatalf("%d delayed, want 2 (one ready again, one waiting)", st.Delayed)
		}
		s.Close()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		wantSubStats(t, s, SubscriptionStats{Delivered: 2, Nacked: 2, Dropped: 2})
	})
}

func TestSubscriptionBadInput(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t")
	plain := subscribeOrFail(t, tp)
	member := subscribeOrFail(t, tp, WithGroup("g"))
	var nilCtx context.Context // a variable, so that vet does not object
	ctx := context.Background()
	h := func(context.Context, *Delivery) error { return nil }

	for _, tc := range []struct {
		name string
		opts []SubscribeOption
	}{
		{"nil option", []SubscribeOption{nil}},
		{"nil after good option", []SubscribeOption{FromEarliest(), nil}},
		{"ack timeout without group", []SubscribeOption{WithAckTimeout(time.Second)}},
		{"negative ack timeout", []SubscribeOption{WithGroup("g2"), WithAckTimeout(-time.Second)}},
		{"bad group name", []SubscribeOption{WithGroup("a b")}},
		{"wildcard group name", []SubscribeOption{WithGroup("g.*")}},
		{"long group name", []SubscribeOption{WithGroup(strings.Repeat("g", MaxNameLen+1))}},
		{"negative max deliveries", []SubscribeOption{WithMaxDeliveries(-1)}},
		{"back-off min above max", []SubscribeOption{WithBackoff(2*time.Second, time.Second)}},
		{"negative back-off", []SubscribeOption{WithBackoff(-time.Second, time.Second)}},
		{"bad dead-letter name", []SubscribeOption{WithDeadLetter("a b")}},
		{"dead-letter to its own topic", []SubscribeOption{WithDeadLetter("t")}},
		{"group dead-letter to its own topic", []SubscribeOption{WithGroup("g3"), WithDeadLetter("t")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tp.Subscribe(tc.opts...)
			if !errors.Is(err, ErrInvalid) || s != nil {
				t.Fatalf("Subscribe = %v, %v; want nil, ErrInvalid", s, err)
			}
		})
	}
	if st := tp.Stats(); st.Subscriptions != 1 || st.Groups != 1 {
		t.Fatalf("failed subscribes left %+v", st)
	}

	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Publish nil context", func() error { return tp.Publish(nilCtx, NewMessage(1)) }},
		{"Publish nil message", func() error { return tp.Publish(ctx, nil) }},
		{"Broker.Publish nil message", func() error { return b.Publish(ctx, "t", nil) }},
		{"Receive nil context", func() error { _, err := plain.Receive(nilCtx); return err }},
		{"member Receive nil context", func() error { _, err := member.Receive(nilCtx); return err }},
		{"Consume nil context", func() error { return plain.Consume(nilCtx, h) }},
		{"member Consume nil context", func() error { return member.Consume(nilCtx, h) }},
		{"Consume nil handler", func() error { return plain.Consume(ctx, nil) }},
		{"member Consume nil handler", func() error { return member.Consume(ctx, nil) }},
		{"Consume nil option", func() error { return plain.Consume(ctx, h, nil) }},
		{"member Consume nil option", func() error { return member.Consume(ctx, h, nil) }},
		{"Consume concurrency 0", func() error { return plain.Consume(ctx, h, WithConcurrency(0)) }},
		{"member Consume concurrency -1", func() error { return member.Consume(ctx, h, WithConcurrency(-1)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
	for name, s := range map[string]*Subscription{"plain": plain, "member": member} {
		for range s.All(nilCtx) {
			t.Errorf("%s: All(nil) yielded a delivery", name)
		}
	}
	if st := tp.Stats(); st.Published != 0 {
		t.Fatalf("bad publishes published %d", st.Published)
	}
}

// Shutdown lets plain subscriptions and groups handle everything accepted
// before it returns.
func TestTopicShutdownDrainsSubscriptionsAndGroups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t", WithCapacity(64))
		const n = 50
		gate := make(chan struct{})
		var mu sync.Mutex
		plainSeen := make([]map[any]int, 2)
		groupSeen := map[any]int{}
		var dones []<-chan error
		for i := range plainSeen {
			plainSeen[i] = map[any]int{}
			s := subscribeOrFail(t, tp)
			dones = append(dones, consumeSubAsync(context.Background(), s, func(_ context.Context, d *Delivery) error {
				<-gate
				mu.Lock()
				plainSeen[i][d.Body]++
				mu.Unlock()
				return nil
			}))
		}
		for range 2 {
			m := subscribeOrFail(t, tp, WithGroup("g"))
			dones = append(dones, consumeSubAsync(context.Background(), m, func(_ context.Context, d *Delivery) error {
				<-gate
				mu.Lock()
				groupSeen[d.Body]++
				mu.Unlock()
				return nil
			}, WithConcurrency(2)))
		}
		publishInts(t, tp, 1, n)
		shut := make(chan error, 1)
		go func() { shut <- b.Shutdown(context.Background()) }()
		synctest.Wait()
		if len(shut) != 0 {
			t.Fatalf("Shutdown returned %v before the handlers ran", <-shut)
		}
		if err := tp.Publish(context.Background(), NewMessage(0)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Publish during Shutdown = %v, want ErrClosed", err)
		}
		if _, err := tp.Subscribe(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Subscribe during Shutdown = %v, want ErrClosed", err)
		}
		close(gate)
		if err := <-shut; err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		for i, done := range dones {
			if err := <-done; err != nil {
				t.Errorf("Consume %d = %v, want nil after Shutdown drained", i, err)
			}
		}
		for i := 1; i <= n; i++ {
			if plainSeen[0][i] != 1 || plainSeen[1][i] != 1 || groupSeen[i] != 1 {
				t.Fatalf("message %d handled %d, %d times by the plain subscriptions and %d times by the group, want once each",
					i, plainSeen[0][i], plainSeen[1][i], groupSeen[i])
			}
		}
		if len(groupSeen) != n {
			t.Fatalf("the group handled %d messages, want %d", len(groupSeen), n)
		}
	})
}

// Shutdown waits for a subscription's pending redeliveries to be handled.
func TestTopicShutdownWaitsForSubscriptionRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp, WithBackoff(time.Second, time.Second))
		var attempts []int
		done := consumeSubAsync(context.Background(), s, func(_ context.Context, d *Delivery) error {
			attempts = append(attempts, d.Attempt)
			if d.Attempt == 1 {
				return errors.New("later")
			}
			return nil
		})
		publishInts(t, tp, 1, 1)
		synctest.Wait()
		start := time.Now()
		if err := b.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("Shutdown returned after %v, want the 1s back-off", waited)
		}
		if err := <-done; err != nil {
			t.Fatalf("Consume = %v, want nil", err)
		}
		if fmt.Sprint(attempts) != "[1 2]" {
			t.Fatalf("attempts %v, want [1 2]", attempts)
		}
		wantSubStats(t, s, SubscriptionStats{Delivered: 2, Acked: 1, Nacked: 1})
	})
}

// Stats taken while a subscription is consumed, lagging and skipping
// expired messages, never count a settlement without its delivery, and
// once idle they add up exactly: a plain subscription counts its
// deliveries from the cursor's moves, not one by one.
func TestSubscriptionStatsWhileConsuming(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(16), WithOverflow(OverflowDropOldest))
	s := subscribeOrFail(t, tp)
	ctx, cancel := context.WithCancel(context.Background())
	var handled atomic.Uint64
	done := consumeSubAsync(ctx, s, func(_ context.Context, d *Delivery) error {
		handled.Add(1)
		if d.Seq%7 == 0 {
			return Permanent(errors.New("no"))
		}
		return nil
	})
	stop := make(chan struct{})
	watched := make(chan error, 1)
	go func() {
		var err error
		for {
			select {
			case <-stop:
				watched <- err
				return
			default:
			}
			st := s.Stats()
			if st.Unacked < 0 || st.Unacked > 1 || st.Delivered != st.Acked+st.Nacked+st.Rejected+uint64(st.Unacked) {
				err = errors.New("inconsistent")
				t.Errorf("Stats() = %+v", st)
			}
			runtime.Gosched()
		}
	}()
	const n = 3000
	for i := range n {
		m := NewMessage(i)
		if i%50 == 0 {
			m.TTL = time.Nanosecond // expired by the time it is read
		}
		if err := tp.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-watched
	st := s.Stats()
	if st.Delivered != handled.Load() || st.Delivered+st.Missed+st.Expired != n ||
		st.Acked+st.Rejected != st.Delivered || st.Unacked != 0 || st.Lag != 0 {
		t.Errorf("after WaitIdle: %+v, handled %d of %d", st, handled.Load(), n)
	}
	cancel()
	if err := waitErr(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Consume = %v", err)
	}
}
