package herald

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestPrefetchTakesAheadInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(0, 0))
		for i := range 20 {
			publishOrFail(t, q, i)
		}
		release := make(chan struct{})
		var got []any
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- q.Consume(ctx, func(ctx context.Context, d *Delivery) error {
				got = append(got, d.Body)
				if d.Body == 0 {
					<-release
				}
				return nil
			}, WithPrefetch(8))
		}()
		synctest.Wait() // the handler holds message 0
		// One handed out and 7 taken ahead (at most half of the 19 ready).
		if s := q.Stats(); s.Unacked != 8 || s.Ready != 12 {
			t.Fatalf("while the handler holds the first: %+v, want 8 unacked, 12 ready", s)
		}
		close(release)
		if err := b.WaitIdle(context.Background()); err != nil {
			t.Fatal(err)
		}
		for i, v := range got {
			if v != i {
				t.Fatalf("handled %v, want 0..19 in order", got)
			}
		}
		if s := q.Stats(); s.Acked != 20 || s.Delivered != 20 {
			t.Fatalf("stats %+v", s)
		}
		cancel()
		<-done
	})
}

// A consumer that stops puts the messages it took ahead back at the front,
// in order, their attempt not counted.
func TestPrefetchedMessagesGoBackWhenConsumerStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithBackoff(0, 0))
		for i := range 10 {
			publishOrFail(t, q, i)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- q.Consume(ctx, func(ctx context.Context, d *Delivery) error {
				<-ctx.Done()
				return ctx.Err() // a nack: message 0 goes to the back
			}, WithPrefetch(4))
		}()
		synctest.Wait()
		if s := q.Stats(); s.Unacked != 4 {
			t.Fatalf("unacked %d, want 4 (1 held, 3 ahead)", s.Unacked)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Consume = %v", err)
		}
		if s := q.Stats(); s.Ready != 10 || s.Unacked != 0 || s.Delivered != 1 {
			t.Fatalf("after the consumer stopped: %+v, want 10 ready, 1 delivered", s)
		}
		for i := 1; i < 10; i++ {
			wantBody(t, receiveOrFail(t, q), i, 1)
		}
		wantBody(t, receiveOrFail(t, q), 0, 2)
	})
}

func TestPrefetchBelowConcurrencyIsInvalid(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	err := q.Consume(context.Background(), func(context.Context, *Delivery) error { return nil },
		WithConcurrency(4), WithPrefetch(2))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Consume = %v, want ErrInvalid", err)
	}
}

// A prefetching subscription consumer still sees every message once, in
// publish order, and the subscription ends idle.
func TestSubscriptionPrefetchKeepsOrder(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(256))
	s := subscribeOrFail(t, tp)
	const n = 1000
	got := make(chan uint64, n)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Consume(ctx, func(_ context.Context, d *Delivery) error {
			if d.Body != int(d.Seq) || d.Attempt != 1 {
				t.Errorf("seq %d: body %v attempt %d", d.Seq, d.Body, d.Attempt)
			}
			got <- d.Seq
			return nil
		}, WithPrefetch(64))
	}()
	publishInts(t, tp, 1, n)
	for want := uint64(1); want <= n; want++ {
		if seq := <-got; seq != want {
			t.Fatalf("got seq %d, want %d", seq, want)
		}
	}
	if err := b.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	wantSubStats(t, s, SubscriptionStats{Delivered: n, Acked: n})
}

// Messages a stopping consumer claimed and never handed out are the
// subscription's next deliveries, first attempts, in order.
func TestSubscriptionPrefetchStopGivesBackWhatItHeld(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(64))
	s := subscribeOrFail(t, tp)
	publishInts(t, tp, 1, 20)
	ctx, cancel := context.WithCancel(context.Background())
	handling := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Consume(ctx, func(ctx context.Context, d *Delivery) error {
			close(handling) // only message 1 gets here
			<-ctx.Done()
			return nil
		}, WithPrefetch(8))
	}()
	<-handling
	// The consumer holds 1 in its handler and claimed 2 to 8 ahead.
	wantSubStats(t, s, SubscriptionStats{Delivered: 8, Unacked: 8, Lag: 12, Consumers: 1})
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Consume = %v, want context.Canceled", err)
	}
	wantSubStats(t, s, SubscriptionStats{Delivered: 1, Acked: 1, Delayed: 7, Lag: 12})
	wantInts(t, s, 2, 20)
	wantCaughtUp(t, s)
}

// Claimed messages of a subscription closed under its consumer are
// counted as dropped, not lost.
func TestSubscriptionPrefetchCloseDropsWhatItHeld(t *testing.T) {
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(64))
	s := subscribeOrFail(t, tp)
	publishInts(t, tp, 1, 10)
	handling := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Consume(context.Background(), func(context.Context, *Delivery) error {
			close(handling)
			<-release
			return nil
		}, WithPrefetch(4))
	}()
	<-handling
	s.Close()
	close(release)
	<-done
	// 5 to 10 are still unread: a closed subscription keeps its lag.
	wantSubStats(t, s, SubscriptionStats{Delivered: 1, Acked: 1, Dropped: 3, Lag: 6})
}

// Messages past the topic's max age when claimed are counted expired and
// never handed out.
func TestSubscriptionPrefetchSkipsExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t", WithCapacity(64), WithMaxAge(time.Minute))
		s := subscribeOrFail(t, tp, FromEarliest())
		publishInts(t, tp, 1, 5)
		time.Sleep(2 * time.Minute) // fake time: 1 to 5 are now too old
		publishInts(t, tp, 6, 8)
		var mu sync.Mutex
		var got []uint64
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- s.Consume(ctx, func(_ context.Context, d *Delivery) error {
				mu.Lock()
				got = append(got, d.Seq)
				mu.Unlock()
				return nil
			}, WithPrefetch(16))
		}()
		synctest.Wait()
		cancel()
		<-done
		if len(got) != 3 || got[0] != 6 || got[2] != 8 {
			t.Fatalf("handled %v, want [6 7 8]", got)
		}
		wantSubStats(t, s, SubscriptionStats{Delivered: 3, Acked: 3, Expired: 5})
	})
}

// Prefetching handlers that nack at random, stopped and restarted while
// they hold claimed messages, with a publisher held back by the ring:
// every message is acked exactly once.
func TestSubscriptionPrefetchStressNoLoss(t *testing.T) {
	const n = 5000
	b := newTestBroker(t)
	tp := topicOrFail(t, b, "t", WithCapacity(128))
	s := subscribeOrFail(t, tp, WithBackoff(0, 0))
	var mu sync.Mutex
	acked := make(map[uint64]int, n)
	rng := rand.New(rand.NewPCG(1, 2))
	calls, stopAt := 0, 0
	stop := make(chan struct{}, 1)
	h := func(_ context.Context, d *Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls == stopAt {
			stop <- struct{}{}
		}
		if rng.IntN(5) == 0 {
			return errors.New("try again")
		}
		acked[d.Seq]++
		return nil
	}
	published := make(chan struct{})
	go func() {
		defer close(published)
		publishInts(t, tp, 1, n)
	}()
	restarts := 0
	for running := true; running; {
		mu.Lock()
		calls, stopAt = 0, 50+rng.IntN(250)
		mu.Unlock()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Consume(ctx, h, WithConcurrency(3), WithPrefetch(24)) }()
		select {
		case <-published:
			running = false
			if err := b.WaitIdle(context.Background()); err != nil {
				t.Fatal(err)
			}
		case <-stop: // stop the consumer while it holds messages
			restarts++
		}
		cancel()
		<-done
		select {
		case <-stop:
		default:
		}
	}
	for seq := uint64(1); seq <= n; seq++ {
		if acked[seq] != 1 {
			t.Fatalf("seq %d acked %d times, want once", seq, acked[seq])
		}
	}
	if restarts == 0 {
		t.Fatal("no consumer was stopped while holding messages")
	}
	st := s.Stats()
	if st.Acked != n || st.Unacked != 0 || st.Delayed != 0 || st.Lag != 0 || st.Delivered != st.Acked+st.Nacked {
		t.Fatalf("stats %+v", st)
	}
}
