package herald

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// A program that starts its consumer and serves at once: the request
// waits for the consumer instead of failing with ErrNoResponders.
func TestRequestWaitsForStartingConsumer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "svc")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			done <- q.Consume(ctx, func(ctx context.Context, d *Delivery) error {
				return d.Reply(ctx, NewMessage("re: "+d.Body.(string)))
			})
		}()
		rctx, rcancel := context.WithTimeout(context.Background(), time.Second)
		defer rcancel()
		reply, err := b.Request(rctx, "svc", NewMessage("hi"))
		if err != nil || reply.Body != "re: hi" {
			t.Fatalf("Request = %v, %v; want the reply", reply, err)
		}
		cancel()
		<-done
	})
}

// With no consumer at all, the request waits under ctx; when ctx ends it
// returns ctx's error and the queued request expires with it.
func TestRequestToIdleQueueWaitsUnderCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "idle")
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		if _, err := b.Request(ctx, "idle", NewMessage(1)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Request = %v, want DeadlineExceeded", err)
		}
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("Request returned after %v, want 1s", waited)
		}
		time.Sleep(time.Second) // fake time: let the expiry sweep run
		synctest.Wait()
		if st := q.Stats(); st.Expired != 1 || st.Ready != 0 {
			t.Fatalf("stats %+v: want the request expired", st)
		}
		if b.replies.len() != 0 {
			t.Fatalf("%d reply destinations left", b.replies.len())
		}
	})
}

// A topic whose group has no member keeps the request for the next
// member, so it waits too; a topic with neither is no responder.
func TestRequestToTopicWithGroupWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := topicOrFail(t, b, "t")
		s := subscribeOrFail(t, tp, WithGroup("g"))
		s.Close() // the group stays, memberless
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			_, err := b.Request(ctx, "t", NewMessage("q"))
			errc <- err
		}()
		synctest.Wait()
		m := subscribeOrFail(t, tp, WithGroup("g"))
		d := receiveSubOrFail(t, m)
		settleOrFail(t, func() error { return d.Reply(context.Background(), NewMessage("a")) })
		settleOrFail(t, d.Ack)
		if err := <-errc; err != nil {
			t.Fatalf("Request = %v", err)
		}
		m.Close()
	})
}
