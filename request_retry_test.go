package herald

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// Retrying Request with the same *Message while the first attempt's
// consumer still reads it is safe (run with -race): Request sends a copy
// carrying its own ReplyTo and leaves the caller's message as it was
// after the first call.
func TestRequestRetrySameMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "rpc")
		started := make(chan struct{})
		release := make(chan struct{})
		lateReply := make(chan error, 1)
		var calls atomic.Int32
		cctx, stop := context.WithCancel(context.Background())
		done := consumeAsync(cctx, q, func(ctx context.Context, d *Delivery) error {
			if calls.Add(1) == 1 {
				close(started)
				replyTo := d.ReplyTo // read while the caller may retry
				<-release
				if replyTo != d.ReplyTo {
					t.Errorf("the first request's ReplyTo changed under its consumer: %q, then %q", replyTo, d.ReplyTo)
				}
				lateReply <- d.Reply(ctx, NewMessage("late"))
				return nil
			}
			return d.Reply(ctx, NewMessage("answer"))
		}, WithConcurrency(2))
		synctest.Wait()

		m := NewMessage("question")
		ctx1, cancel1 := context.WithTimeout(context.Background(), time.Second)
		defer cancel1()
		errc := make(chan error, 1)
		go func() {
			_, err := b.Request(ctx1, "rpc", m)
			errc <- err
		}()
		<-started
		if err := <-errc; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("first Request = %v, want DeadlineExceeded", err)
		}
		id, corr := m.ID, m.CorrelationID

		ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
		defer cancel2()
		reply, err := b.Request(ctx2, "rpc", m)
		if err != nil || reply.Body != "answer" {
			t.Fatalf("retried Request = %v, %v; want the answer", reply, err)
		}
		if m.ID != id || m.CorrelationID != corr || m.ReplyTo != "" {
			t.Errorf("the retry changed the caller's message: ID %q→%q, CorrelationID %q→%q, ReplyTo %q",
				id, m.ID, corr, m.CorrelationID, m.ReplyTo)
		}
		close(release)
		if err := <-lateReply; err != nil {
			t.Errorf("late reply to the first attempt = %v, want nil (dropped)", err)
		}
		stop()
		<-done
	})
}
