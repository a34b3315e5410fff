package herald

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald/internal/glabel"
	"github.com/heraldmq/herald/internal/leak"
)

// The goroutines that run for a broker carry its pprof label: a Consume
// call's own, its handler goroutines and the scheduler. Another broker's
// check does not see them.
func TestBrokerGoroutinesAreLabeled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		other := newTestBroker(t) // cleaned up after b: its check sees every broker's goroutines
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		ctx, cancel := context.WithCancel(context.Background())
		release := make(chan struct{})
		done := consumeAsync(ctx, q, func(context.Context, *Delivery) error {
			<-release
			return nil
		}, WithConcurrency(2))
		publishOrFail(t, q, 1)
		publishOrFail(t, q, 2)
		// A delayed message starts the scheduler from this, unlabeled,
		// goroutine; a back-off keeps it busy.
		q.Publish(context.Background(), &Message{Delay: time.Hour})
		synctest.Wait()

		mine := strings.Join(leak.FindIn(leak.Scope{Broker: glabel.Of(b)}, 0), "\n\n")
		for _, fn := range []string{"herald.work", "herald.(*Broker).runConsumer", "sched.(*Scheduler[...]).run"} {
			if !strings.Contains(mine, fn) {
				t.Errorf("no goroutine labeled as the broker's runs %s; labeled:\n%s", fn, mine)
			}
		}
		if theirs := leak.FindIn(leak.Scope{Broker: glabel.Of(other)}, 0); len(theirs) > 0 {
			t.Errorf("another broker's check sees:\n%s", strings.Join(theirs, "\n\n"))
		}
		close(release)
		cancel()
		<-done
	})
}
