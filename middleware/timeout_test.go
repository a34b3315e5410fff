package middleware

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/heraldtest"
)

func TestTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBroker(t)
		q := declareQueue(t, b, "q", herald.WithBackoff(0, 0), herald.WithMaxDeliveries(1))
		var left []time.Duration
		var errs []error
		var elapsed time.Duration
		startConsumer(t, q, func(ctx context.Context, d *herald.Delivery) error {
			deadline, ok := ctx.Deadline()
			if !ok {
				left = append(left, -1)
				return nil
			}
			left = append(left, time.Until(deadline))
			if d.Body == "stuck" {
				start := time.Now()
				<-ctx.Done()
				elapsed = time.Since(start)
				errs = append(errs, ctx.Err())
				return ctx.Err()
			}
			return nil
		}, herald.WithMiddleware(Timeout(5*time.Second)))
		publish(t, q, herald.NewMessage("quick"))
		publish(t, q, herald.NewMessage("stuck"))
		heraldtest.Settle(t, b)
		if len(left) != 2 || left[0] != 5*time.Second || left[1] != 5*time.Second {
			t.Fatalf("time left to the deadline %v, want [5s 5s]", left)
		}
		if elapsed != 5*time.Second || len(errs) != 1 || errs[0] != context.DeadlineExceeded {
			t.Fatalf("stuck handler waited %v and got %v, want 5s and DeadlineExceeded", elapsed, errs)
		}
		wantStats(t, q, herald.QueueStats{Published: 2, Delivered: 2, Acked: 1, Nacked: 1, Rejected: 1, Consumers: 1})
	})
}

func TestTimeoutZeroSetsNoDeadline(t *testing.T) {
	for _, d := range []time.Duration{0, -time.Second} {
		h := Timeout(d)(func(ctx context.Context, _ *herald.Delivery) error {
			if _, ok := ctx.Deadline(); ok {
				return errors.New("deadline set")
			}
			return ctx.Err()
		})
		if err := h(context.Background(), bare(1)); err != nil {
			t.Fatalf("Timeout(%v): %v", d, err)
		}
	}
}
