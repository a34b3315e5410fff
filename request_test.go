package herald

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
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

// A request nobody can answer fails at once: in a synctest bubble, where
// the clock moves only while every goroutine waits, it takes no time.
func TestRequestNoResponders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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
			if waited := time.Since(start); waited != 0 {
				t.Errorf("Request(%q) waited %v: it must fail at once", c.name, waited)
			}
		}
		if b.replies.len() != 0 {
			t.Fatalf("%d reply destinations left", b.replies.len())
		}
	})
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

var errNoPrice = errors.New("no price")

// A handler that ends with `return d.Reply(ctx, r)` after its requester has
// given up acks the request: the reply has no one to go to, and handling
// the request again would only repeat its side effects.
func TestReplyToGoneRequesterIsNotRedelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "rpc")
		var handled atomic.Int32
		cctx, stop := context.WithCancel(context.Background())
		done := consumeAsync(cctx, q, func(ctx context.Context, d *Delivery) error {
			handled.Add(1)
			time.Sleep(2 * time.Second) // slower than the requester waits
			return d.Reply(ctx, NewMessage("reserved"))
		})
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := b.Request(ctx, "rpc", NewMessage("reserve")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Request = %v, want DeadlineExceeded", err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		stop()
		<-done
		if n := handled.Load(); n != 1 {
			t.Errorf("request handled %d times, want once", n)
		}
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Acked: 1})
	})
}

// A request carries its caller's deadline as a TTL: one still queued when
// its requester gives up expires instead of being handled.
func TestRequestExpiresWithItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "rpc")
		var handled []any
		cctx, stop := context.WithCancel(context.Background())
		done := consumeAsync(cctx, q, func(ctx context.Context, d *Delivery) error {
			handled = append(handled, d.Body)
			if d.Body == "slow" {
				time.Sleep(10 * time.Second)
			}
			return nil
		})
		synctest.Wait()
		publishOrFail(t, q, "slow") // holds the only handler for 10s
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := b.Request(ctx, "rpc", NewMessage("request")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Request = %v, want DeadlineExceeded", err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		stop()
		<-done
		if fmt.Sprint(handled) != "[slow]" {
			t.Errorf("handled %v, want only [slow]: the request expired while queued", handled)
		}
		wantStats(t, q, QueueStats{Published: 2, Delivered: 1, Acked: 1, Expired: 1})
	})
}

// A request whose context has already ended is not sent.
func TestRequestWithEndedContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "rpc")
		ctx, cancel := context.WithCancel(context.Background())
		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error { return nil })
		synctest.Wait()
		ended, cancelEnded := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancelEnded()
		if _, err := b.Request(ended, "rpc", NewMessage(1)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Request with an ended context = %v, want DeadlineExceeded", err)
		}
		cancel()
		<-done
		if s := q.Stats(); s.Published != 0 {
			t.Errorf("a request with an ended context was published: %+v", s)
		}
	})
}

// A handler that rejects a request makes Request return at once with an
// error that says so and wraps the handler's own.
func TestRequestRejectedReturnsPromptly(t *testing.T) {
	for name, c := range map[string]struct {
		h    Handler
		opts []QueueOption
		want error // also wrapped, beside ErrRejected; nil: only ErrRejected
	}{
		"Permanent": {h: func(ctx context.Context, d *Delivery) error { return Permanent(errNoPrice) }, want: errNoPrice},
		"Reject":    {h: func(ctx context.Context, d *Delivery) error { return d.Reject() }},
		"MaxDeliveries": {
			h:    func(ctx context.Context, d *Delivery) error { return errNoPrice },
			opts: []QueueOption{WithMaxDeliveries(2)}, want: errNoPrice,
		},
		"Panic": {
			h:    func(ctx context.Context, d *Delivery) error { panic("boom") },
			opts: []QueueOption{WithMaxDeliveries(1)},
		},
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newTestBroker(t)
				q := mustQueue(t, b, "rpc", c.opts...)
				cctx, stop := context.WithCancel(context.Background())
				done := consumeAsync(cctx, q, c.h)
				synctest.Wait()
				ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
				defer cancel()
				start := time.Now()
				_, err := b.Request(ctx, "rpc", NewMessage("apple"))
				if !errors.Is(err, ErrRejected) {
					t.Errorf("Request = %v, want an error wrapping ErrRejected", err)
				}
				if c.want != nil && !errors.Is(err, c.want) {
					t.Errorf("Request = %v, want it to wrap %v", err, c.want)
				}
				var re *ReplyError
				if !errors.As(err, &re) || !re.Rejected {
					t.Errorf("Request = %#v, want a *ReplyError with Rejected", err)
				}
				if waited := time.Since(start); waited > time.Minute {
					t.Errorf("Request returned after %v: a rejection must end it at once", waited)
				}
				stop()
				<-done
			})
		})
	}
}

// ReplyError answers a request with an error: Request returns a
// *ReplyError wrapping it, and the request itself is acked.
func TestReplyError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "rpc")
		cctx, stop := context.WithCancel(context.Background())
		done := consumeAsync(cctx, q, func(ctx context.Context, d *Delivery) error {
			return d.ReplyError(ctx, fmt.Errorf("pricing %v: %w", d.Body, errNoPrice))
		})
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		reply, err := b.Request(ctx, "rpc", NewMessage("kiwi"))
		if reply != nil || !errors.Is(err, errNoPrice) || errors.Is(err, ErrRejected) {
			t.Fatalf("Request = %v, %v; want an error wrapping errNoPrice and not ErrRejected", reply, err)
		}
		var re *ReplyError
		if !errors.As(err, &re) || re.Rejected || re.Err.Error() != "pricing kiwi: no price" {
			t.Fatalf("Request = %#v, want a *ReplyError carrying the handler's error", err)
		}
		if got := err.Error(); got != "herald: request answered with an error: pricing kiwi: no price" {
			t.Errorf("error text %q", got)
		}
		stop()
		<-done
		wantStats(t, q, QueueStats{Published: 1, Delivered: 1, Acked: 1})
	})
}

// An error reply to a ReplyTo that names an ordinary queue arrives there as
// a message whose HeaderReplyError holds the error's text and whose Body
// is the error itself.
func TestReplyErrorToNamedQueue(t *testing.T) {
	b := newTestBroker(t)
	q := mustQueue(t, b, "q")
	answers := mustQueue(t, b, "answers")
	ctx := context.Background()
	q.Publish(ctx, &Message{Body: "question", ReplyTo: "answers", CorrelationID: "c1"})
	d := receiveOrFail(t, q)
	if err := d.ReplyError(ctx, errNoPrice); err != nil {
		t.Fatal(err)
	}
	if err := d.ReplyError(ctx, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("ReplyError(nil) = %v, want ErrInvalid", err)
	}
	a := receiveOrFail(t, answers)
	if a.Headers[HeaderReplyError] != "no price" || a.Body != errNoPrice || a.CorrelationID != "c1" {
		t.Fatalf("error reply: headers %v body %v corr %q", a.Headers, a.Body, a.CorrelationID)
	}
}

// A request that its queue's overflow policy drops before any consumer
// replies ends the Request at once, with an error wrapping ErrFull, not
// when its ctx ends: no reply can come.
func TestRequestDroppedByOverflow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy Overflow
		dead   bool
	}{
		{"drop-newest", OverflowDropNewest, false},
		{"drop-oldest", OverflowDropOldest, false},
		{"drop-oldest dead-lettered", OverflowDropOldest, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newTestBroker(t)
				opts := []QueueOption{WithCapacity(1), WithOverflow(tc.policy)}
				if tc.dead {
					mustQueue(t, b, "dlq")
					opts = append(opts, WithDeadLetter("dlq"))
				}
				q := mustQueue(t, b, "rpc", opts...)
				if tc.policy == OverflowDropNewest {
					mustPublish(t, q, NewMessage("filler")) // the request finds the queue full
				}
				req := startRequest(b, "rpc", NewMessage("req"))
				synctest.Wait()
				if tc.policy == OverflowDropOldest {
					mustPublish(t, q, NewMessage("newer")) // drops the request
				}
				err := req.ended(t, "its queue dropped")
				if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), `queue "rpc"`) {
					t.Fatalf("Request = %v, want an error wrapping ErrFull naming the queue", err)
				}
				if tc.dead && !strings.Contains(err.Error(), `"dlq"`) {
					t.Errorf("Request = %v, want it to name the dead-letter queue", err)
				}
				if st := q.Stats(); st.Dropped != 1 {
					t.Errorf("Stats().Dropped = %d, want 1", st.Dropped)
				}
			})
		})
	}
}

// A request whose own TTL passes in its queue before any consumer takes
// it ends the Request then, with an error wrapping
// context.DeadlineExceeded, though the caller's ctx has no deadline.
func TestRequestExpiredBeforeReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		mustQueue(t, b, "rpc")
		m := NewMessage("req")
		m.TTL = time.Second
		start := time.Now()
		req := startRequest(b, "rpc", m)
		time.Sleep(2 * time.Second) // fake time: the TTL passes, then the sweep
		err := req.ended(t, "that expired")
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("Request = %v, want an expiry wrapping context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Request returned after %v", d)
		}
	})
}

// A request that a topic's OverflowDropNewest drops reaches no reader:
// Request returns at once with an error wrapping ErrFull.
func TestRequestDroppedByTopicOverflow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		tp := mustTopic(t, b, "rpc", WithCapacity(1), WithOverflow(OverflowDropNewest))
		s := mustSubscribe(t, tp) // reads nothing: the ring is full after one
		defer s.Close()
		if err := tp.Publish(context.Background(), NewMessage("filler")); err != nil {
			t.Fatal(err)
		}
		err := startRequest(b, "rpc", NewMessage("req")).ended(t, "the topic dropped")
		if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), `topic "rpc"`) {
			t.Fatalf("Request = %v, want an error wrapping ErrFull naming the topic", err)
		}
	})
}

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
	x, _ := b.Exchange("front", DirectExchange)
	if err := x.Bind("rpc", "k"); err != nil {
		t.Fatal(err)
	}
	body := &struct{ n int }{}
	for _, dest := range []string{"rpc", "front"} { // through an exchange too
		request := func() {
			if _, err := b.Request(ctx, dest, &Message{Key: "k", Body: body}); err != nil {
				t.Fatal(err)
			}
		}
		request()
		if n := testing.AllocsPerRun(200, request); n > 2.05 {
			t.Errorf("%q: %.2f allocations per round trip, want 2 (the request and the reply)", dest, n)
		}
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

// pendingRequest is a Request running on a goroutine of its own in a
// synctest bubble, for the tests of how a Request ends without a reply.
type pendingRequest struct {
	errs   chan error
	cancel context.CancelFunc
}

// startRequest sends m to dest with Request, under a ctx without deadline.
func startRequest(b *Broker, dest string, m *Message) *pendingRequest {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pendingRequest{errs: make(chan error, 1), cancel: cancel}
	go func() {
		_, err := b.Request(ctx, dest, m)
		p.errs <- err
	}()
	return p
}

// ended waits until every goroutine of the bubble is idle and returns what
// the Request returned; it fails the test if the Request still waits,
// though its request ended as why says.
func (p *pendingRequest) ended(t *testing.T, why string) error {
	t.Helper()
	synctest.Wait()
	defer p.cancel()
	select {
	case err := <-p.errs:
		return err
	default:
		p.cancel()
		t.Fatalf("Request still waits for a reply to a request %s (returned %v once cancelled)", why, <-p.errs)
		return nil
	}
}

// A request that an exchange fans out to several queues is not over when
// one of them drops its copy: another queue's consumer still replies.
func TestRequestFannedOutSurvivesOneDrop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		full := mustQueue(t, b, "full", WithCapacity(1), WithOverflow(OverflowDropNewest))
		mustPublish(t, full, NewMessage("filler")) // the request's copy is dropped here
		q := mustQueue(t, b, "rpc")
		x, _ := b.Exchange("fan", FanoutExchange)
		for _, name := range []string{"full", "rpc"} {
			if err := x.Bind(name, ""); err != nil {
				t.Fatal(err)
			}
		}
		defer serve(context.Background(), t, q)()
		ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
		defer cancel()
		reply, err := b.Request(ctx, "fan", NewMessage("req"))
		if err != nil || reply.Body != "re: req" {
			t.Fatalf("Request = %v, %v; want the reply of the queue that kept its copy", reply, err)
		}
		if st := full.Stats(); st.Dropped != 1 {
			t.Errorf("Stats().Dropped = %d, want 1", st.Dropped)
		}
	})
}

// Once every queue an exchange fanned a request out to has dropped or
// expired its copy, Request returns, as it does for one queue.
func TestRequestFannedOutAllDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		x, _ := b.Exchange("fan", FanoutExchange)
		for _, name := range []string{"a", "b"} {
			q := mustQueue(t, b, name, WithCapacity(1), WithOverflow(OverflowDropNewest))
			mustPublish(t, q, NewMessage("filler"))
			if err := x.Bind(name, ""); err != nil {
				t.Fatal(err)
			}
		}
		err := startRequest(b, "fan", NewMessage("req")).ended(t, "both queues dropped")
		if !errors.Is(err, ErrFull) {
			t.Fatalf("Request = %v, want an error wrapping ErrFull", err)
		}
		if n := b.replies.len(); n != 0 {
			t.Fatalf("%d reply destinations left", n)
		}
	})
}

// An ordinary message whose ReplyTo names a waiting Request's reply
// destination (a consumer copied it) is not that request: its drop,
// purge or rejection does not end the Request.
func TestRequestNotEndedByAnotherMessageWithItsReplyTo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		rpc := mustQueue(t, b, "rpc")
		other := mustQueue(t, b, "other", WithCapacity(1), WithOverflow(OverflowDropOldest))
		req := startRequest(b, "rpc", NewMessage("req"))
		synctest.Wait()
		d, err := rpc.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		mustPublish(t, other, &Message{Body: "note", ReplyTo: d.ReplyTo})
		mustPublish(t, other, NewMessage("newer")) // drops the note
		mustPublish(t, other, &Message{Body: "note", ReplyTo: d.ReplyTo})
		other.Purge()
		mustPublish(t, other, &Message{Body: "note", ReplyTo: d.ReplyTo})
		if err := receiveOrFail(t, other).Reject(); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case err := <-req.errs:
			t.Fatalf("Request = %v, ended by another message naming its reply destination", err)
		default:
		}
		if err := d.Reply(context.Background(), NewMessage("answer")); err != nil {
			t.Fatal(err)
		}
		if err := req.ended(t, "that was answered"); err != nil {
			t.Fatalf("Request = %v, want the reply", err)
		}
	})
}

// The dead letter of a request's dropped copy is not another copy: when
// its dead-letter queue drops it too, the copy that a consumer holds still
// keeps the Request waiting for its reply.
func TestRequestDeadLetterOfCopyIsNotCountedTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		dlq := mustQueue(t, b, "dlq", WithCapacity(1), WithOverflow(OverflowDropNewest))
		mustPublish(t, dlq, NewMessage("filler")) // drops the dead letter
		a := mustQueue(t, b, "a", WithCapacity(1), WithOverflow(OverflowDropNewest), WithDeadLetter("dlq"))
		mustPublish(t, a, NewMessage("filler")) // drops the request's copy
		rpc := mustQueue(t, b, "rpc")
		x, _ := b.Exchange("fan", FanoutExchange)
		for _, name := range []string{"a", "rpc"} {
			if err := x.Bind(name, ""); err != nil {
				t.Fatal(err)
			}
		}
		req := startRequest(b, "fan", NewMessage("req"))
		synctest.Wait()
		if st := dlq.Stats(); st.Dropped != 1 {
			t.Fatalf("dlq Stats().Dropped = %d, want the dead letter dropped", st.Dropped)
		}
		select {
		case err := <-req.errs:
			t.Fatalf("Request = %v, though queue rpc holds a copy", err)
		default:
		}
		d, err := rpc.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Reply(context.Background(), NewMessage("answer")); err != nil {
			t.Fatal(err)
		}
		if err := req.ended(t, "that was answered"); err != nil {
			t.Fatalf("Request = %v, want the reply", err)
		}
	})
}

// Many requests race through a fanout exchange to two small queues that
// drop their oldest, each served by a consumer: each Request returns once,
// with the reply or, when both copies were dropped, an error wrapping
// ErrFull; none waits for its ctx, and no reply destination is left.
func TestConcurrentRequestsWithDrops(t *testing.T) {
	b := newTestBroker(t)
	x, _ := b.Exchange("fan", FanoutExchange)
	var consumed []<-chan error
	ctx, stop := context.WithCancel(context.Background())
	for _, name := range []string{"a", "b"} {
		q := mustQueue(t, b, name, WithCapacity(2), WithOverflow(OverflowDropOldest))
		if err := x.Bind(name, ""); err != nil {
			t.Fatal(err)
		}
		consumed = append(consumed, consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			return d.Reply(ctx, NewMessage(d.Body))
		}))
	}
	var wg sync.WaitGroup
	var replied, full atomic.Int64
	for i := range 400 {
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
			defer cancel()
			reply, err := b.Request(rctx, "fan", NewMessage(i))
			switch {
			case err == nil && reply.Body == i:
				replied.Add(1)
			case errors.Is(err, ErrFull):
				full.Add(1)
			default:
				t.Errorf("Request %d = %v, %v; want its reply or ErrFull", i, reply, err)
			}
		})
	}
	wg.Wait()
	stop()
	for _, c := range consumed {
		if err := waitErr(t, c); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}
	if n := b.replies.n.Load(); n != 0 || b.replies.len() != 0 {
		t.Fatalf("%d reply destinations left (n = %d)", b.replies.len(), n)
	}
	t.Logf("%d replied, %d dropped twice", replied.Load(), full.Load())
}

// Requests racing Close, with replies and drops under way: each returns
// once, with its reply, ErrFull or ErrClosed, and no reply destination is
// left.
func TestRequestsRacingClose(t *testing.T) {
	for range 20 {
		b := newTestBroker(t)
		q := mustQueue(t, b, "rpc", WithCapacity(4), WithOverflow(OverflowDropOldest))
		consumed := consumeAsync(context.Background(), q, func(ctx context.Context, d *Delivery) error {
			return d.Reply(ctx, NewMessage(d.Body))
		})
		var wg sync.WaitGroup
		started := make(chan struct{}, 100)
		for i := range 100 {
			wg.Go(func() {
				started <- struct{}{}
				rctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
				defer cancel()
				reply, err := b.Request(rctx, "rpc", NewMessage(i))
				if !(err == nil && reply.Body == i) && !errors.Is(err, ErrFull) && !errors.Is(err, ErrClosed) {
					t.Errorf("Request %d = %v, %v; want its reply, ErrFull or ErrClosed", i, reply, err)
				}
			})
		}
		for range 50 {
			<-started
		}
		b.Close()
		wg.Wait()
		if err := waitErr(t, consumed); err != nil && !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
		if n := b.replies.n.Load(); n != 0 || b.replies.len() != 0 {
			t.Fatalf("%d reply destinations left (n = %d)", b.replies.len(), n)
		}
	}
}

// A request to a durable queue ends its Request when the queue purges or
// drops it, as in memory; after a restart the recovered request names no
// waiting Request, and a reply to it is dropped.
func TestRequestToDurableQueueEnds(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) { testRequestToDurableQueueEnds(t, dir) })
}

func testRequestToDurableQueueEnds(t *testing.T, dir string) {
	b := openTest(t, dir)
	opts := []QueueOption{Durable(), WithCapacity(1), WithOverflow(OverflowDropOldest)}
	q := mustQueue(t, b, "rpc", opts...)
	req := startRequest(b, "rpc", NewMessage("purged"))
	synctest.Wait()
	if n := q.Purge(); n != 1 {
		t.Fatalf("Purge = %d, want 1", n)
	}
	if err := req.ended(t, "that was purged"); !errors.Is(err, ErrNoResponders) {
		t.Fatalf("Request = %v, want ErrNoResponders", err)
	}
	req = startRequest(b, "rpc", NewMessage("dropped"))
	synctest.Wait()
	mustPublish(t, q, NewMessage("newer")) // drops the request
	if err := req.ended(t, "that was dropped"); !errors.Is(err, ErrFull) {
		t.Fatalf("Request = %v, want ErrFull", err)
	}
	q.Purge()
	req = startRequest(b, "rpc", NewMessage("left"))
	synctest.Wait()
	req.cancel()
	if err := req.ended(t, "whose ctx ended"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Request = %v, want context.Canceled", err)
	}
	closeTest(t, b)
	b = openTest(t, dir)
	q = mustQueue(t, b, "rpc", opts...)
	d := receive(t, q)
	if d.Body != "left" || !strings.HasPrefix(d.ReplyTo, replyPrefix) {
		t.Fatalf("recovered %v with ReplyTo %q, want the request left waiting", d.Body, d.ReplyTo)
	}
	if err := d.Reply(context.Background(), NewMessage("late")); err != nil {
		t.Fatalf("Reply to a requester gone with the restart = %v, want nil", err)
	}
}
