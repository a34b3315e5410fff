package herald

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// serve answers every request on q with "re: <body>" until stopped. It
// must run inside a synctest bubble: it returns once the consumer is
// parked, so that a Request sees a responder.
func serve(ctx context.Context, t testing.TB, q interface {
	Consume(context.Context, Handler, ...ConsumeOption) error
}, opts ...ConsumeOption) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Consume(ctx, func(ctx context.Context, d *Delivery) error {
			return d.Reply(ctx, NewMessage(fmt.Sprint("re: ", d.Body)))
		}, opts...)
	}()
	synctest.Wait()
	return func() { cancel(); <-done }
}

func TestRequestReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "rpc")
		defer serve(context.Background(), t, q)()
		ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
		defer cancel()
		m := NewMessage("ping")
		reply, err := b.Request(ctx, "rpc", m)
		if err != nil {
			t.Fatal(err)
		}
		if reply.Body != "re: ping" {
			t.Fatalf("reply %v", reply.Body)
		}
		if reply.CorrelationID == "" || reply.CorrelationID != m.CorrelationID {
			t.Fatalf("reply correlation %q, request %q", reply.CorrelationID, m.CorrelationID)
		}
		if b.replies.len() != 0 {
			t.Fatalf("%d reply destinations left after the reply", b.replies.len())
		}
	})
}

func TestRequestThroughTopicAndExchange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp, _ := b.Topic("svc")
		sub, _ := tp.Subscribe(WithGroup("workers"))
		defer serve(context.Background(), t, sub)()
		x, _ := b.Exchange("front", DirectExchange)
		if err := x.Bind("svc", "price"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
		defer cancel()
		reply, err := b.Request(ctx, "front", &Message{Key: "price", Body: "apples"})
		if err != nil || reply.Body != "re: apples" {
			t.Fatalf("reply %v, %v", reply, err)
		}
	})
}

func TestRequestNoResponders(t *testing.T) {
	b := newTestBroker(t)
	b.Topic("quiet")
	x, _ := b.Exchange("nowhere", DirectExchange)
	_ = x
	ctx := context.Background()
	for _, c := range []struct {
		name string
		want error
	}{{"quiet", ErrNoResponders}, {"nowhere", ErrUnroutable}, {"missing", ErrNotFound}} {
		start := time.Now()
		if _, err := b.Request(ctx, c.name, NewMessage(1)); !errors.Is(err, c.want) {
			t.Errorf("Request(%q) = %v, want %v", c.name, err, c.want)
		}
		if time.Since(start) > time.Second {
			t.Errorf("Request(%q) took %v: it must fail fast", c.name, time.Since(start))
		}
	}
	if b.replies.len() != 0 {
		t.Fatalf("%d reply destinations left", b.replies.len())
	}
}

func TestRequestTimeoutAndClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "slow")
		// A consumer that never answers.
		cctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			q.Consume(cctx, func(ctx context.Context, d *Delivery) error { return nil })
		}()
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := b.Request(ctx, "slow", NewMessage(1)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Request = %v, want DeadlineExceeded", err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := b.Request(context.Background(), "slow", NewMessage(2))
			errc <- err
		}()
		synctest.Wait()
		b.Close()
		if err := <-errc; !errors.Is(err, ErrClosed) {
			t.Fatalf("Request during Close = %v, want ErrClosed", err)
		}
		stop()
		<-done
		if b.replies.len() != 0 {
			t.Fatalf("%d reply destinations left", b.replies.len())
		}
	})
}

func TestConcurrentRequestsNeverCross(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "echo")
		defer serve(context.Background(), t, q, WithConcurrency(8))()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		errs := make(chan error, 1000)
		for i := range 1000 {
			wg.Go(func() {
				reply, err := b.Request(ctx, "echo", NewMessage(i))
				if err != nil {
					errs <- err
					return
				}
				if want := fmt.Sprint("re: ", i); reply.Body != want {
					errs <- fmt.Errorf("request %d got %v", i, reply.Body)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if b.replies.len() != 0 {
			t.Fatalf("%d reply destinations left", b.replies.len())
		}
	})
}

func TestReplyErrors(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	ctx := context.Background()
	q.Publish(ctx, NewMessage("no reply-to"))
	d := receiveOrFail(t, q)
	if err := d.Reply(ctx, NewMessage(1)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Reply without ReplyTo = %v, want ErrInvalid", err)
	}
	q.Publish(ctx, &Message{ReplyTo: replyPrefix + "gone"})
	d = receiveOrFail(t, q)
	if err := d.Reply(ctx, NewMessage(1)); err != nil {
		t.Fatalf("Reply to a requester that left = %v, want nil: the reply is dropped", err)
	}
	q.Publish(ctx, &Message{ReplyTo: "undeclared"})
	if err := receiveOrFail(t, q).Reply(ctx, NewMessage(1)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Reply to an undeclared ReplyTo = %v, want ErrNotFound", err)
	}
	if err := d.Reply(ctx, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Reply(nil) = %v, want ErrInvalid", err)
	}
	zero := &Delivery{Message: &Message{ReplyTo: "x"}}
	if err := zero.Reply(ctx, NewMessage(1)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Reply from a zero Delivery = %v, want ErrInvalid", err)
	}
	if _, err := b.Queue(replyPrefix + "mine"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("declaring a reply name = %v, want ErrInvalid", err)
	}
}

// A reply may also go to an ordinary queue named in ReplyTo.
func TestReplyToNamedQueue(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	answers := mustQueue(t, b, "answers")
	ctx := context.Background()
	q.Publish(ctx, &Message{Body: "question", ReplyTo: "answers", CorrelationID: "c1"})
	if err := receiveOrFail(t, q).Reply(ctx, NewMessage("answer")); err != nil {
		t.Fatal(err)
	}
	a := receiveOrFail(t, answers)
	if a.Body != "answer" || a.CorrelationID != "c1" {
		t.Fatalf("got %v corr %q", a.Body, a.CorrelationID)
	}
}
