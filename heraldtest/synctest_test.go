package heraldtest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/heraldtest"
)

// Inside a synctest bubble time is fake, so Settle's default wait is long
// enough for flows with long back-offs, at no cost in real time.
func TestSettleDefaultFitsSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := heraldtest.NewBroker(t)
		q := must[*herald.Queue](t)(b.Queue("q", herald.WithBackoff(4*time.Second, 4*time.Second)))
		var tries atomic.Int32
		go q.Consume(t.Context(), func(context.Context, *herald.Delivery) error {
			if tries.Add(1) < 4 {
				return errors.New("not yet") // three back-offs of 4s: 12s in all
			}
			return nil
		})
		mustOK(t, q.Publish(context.Background(), herald.NewMessage(1)))
		start := time.Now()
		heraldtest.Settle(t, b)
		if d := time.Since(start); d != 12*time.Second {
			t.Errorf("Settle returned after %v of fake time, want 12s", d)
		}
	})
}

// A tap is herald's own consumer: broker-wide middleware does not see
// what it records.
func TestTapBypassesBrokerMiddleware(t *testing.T) {
	var seen atomic.Int32
	count := func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) error {
			seen.Add(1)
			return next(ctx, d)
		}
	}
	b := heraldtest.NewBroker(t, heraldtest.WithBrokerOptions(herald.WithMiddleware(count)))
	must[*herald.Topic](t)(b.Topic("events"))
	x := must[*herald.Exchange](t)(b.Exchange("x", herald.FanoutExchange))
	must[*herald.Queue](t)(b.Queue("sink"))
	mustOK(t, x.Bind("sink", ""))
	topicTap := heraldtest.Tap(t, b, "events")
	exchangeTap := heraldtest.Tap(t, b, "x")
	for i := range 3 {
		mustOK(t, b.Publish(context.Background(), "events", herald.NewMessage(i)))
		mustOK(t, b.Publish(context.Background(), "x", herald.NewMessage(i)))
	}
	mustOK(t, topicTap.WaitFor(t.Context(), 3))
	mustOK(t, exchangeTap.WaitFor(t.Context(), 3))
	if n := seen.Load(); n != 0 {
		t.Errorf("broker middleware saw %d of the taps' deliveries, want 0", n)
	}
}
