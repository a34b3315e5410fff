package herald

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// A round trip allocates what a pair of channels does: the request and
// the reply. Request's copy of the request lives in its reply box, and it
// waits on a pooled waiter.
func TestRequestReplyAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	b := newTestBroker(t)
	q := mustQueue(t, b, "rpc")
	ctx, cancel := context.WithCancel(context.Background())
	done, ready := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		q.Consume(ctx, func(ctx context.Context, d *Delivery) error {
			if d.ReplyTo == "" {
				close(ready) // the first message, not a request
				return nil
			}
			return d.Reply(ctx, &Message{Body: d.Body})
		})
	}()
	defer func() { cancel(); <-done }()
	publishOrFail(t, q, "ready")
	<-ready
	body := &struct{ n int }{}
	request := func() {
		if _, err := b.Request(ctx, "rpc", &Message{Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	request()
	if n := testing.AllocsPerRun(200, request); n > 2.05 {
		t.Errorf("%.2f allocations per round trip, want 2 (the request and the reply)", n)
	}
}

// A reply that comes after its request gave up wakes nobody: not the
// request that reuses the waiter.
func TestLateReplyWakesNoLaterRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "rpc")
		release := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go q.Consume(ctx, func(ctx context.Context, d *Delivery) error {
			if d.Body == "slow" {
				<-release
			}
			return d.Reply(ctx, NewMessage("re: "+d.Body.(string)))
		}, WithConcurrency(2))
		synctest.Wait()
		slow, stop := context.WithTimeout(ctx, time.Second)
		defer stop()
		if _, err := b.Request(slow, "rpc", NewMessage("slow")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("slow request: %v, want DeadlineExceeded", err)
		}
		close(release) // the late reply goes to the closed box
		synctest.Wait()
		for range 3 {
			reply, err := b.Request(ctx, "rpc", NewMessage("fast"))
			if err != nil || reply.Body != "re: fast" {
				t.Fatalf("fast request: %v, %v; want re: fast", reply, err)
			}
		}
	})
}
