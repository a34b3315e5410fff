package herald

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

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
