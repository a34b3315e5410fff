package herald

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

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
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				errs := make(chan error, 1)
				go func() {
					_, err := b.Request(ctx, "rpc", NewMessage("req"))
					errs <- err
				}()
				synctest.Wait()
				if tc.policy == OverflowDropOldest {
					mustPublish(t, q, NewMessage("newer")) // drops the request
					synctest.Wait()
				}
				select {
				case err := <-errs:
					if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), `queue "rpc"`) {
						t.Fatalf("Request = %v, want an error wrapping ErrFull naming the queue", err)
					}
					if tc.dead && !strings.Contains(err.Error(), `"dlq"`) {
						t.Errorf("Request = %v, want it to name the dead-letter queue", err)
					}
				default:
					cancel()
					t.Fatalf("Request still waits for a reply to a request its queue dropped (returned %v once cancelled)", <-errs)
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
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errs := make(chan error, 1)
		start := time.Now()
		go func() {
			m := NewMessage("req")
			m.TTL = time.Second
			_, err := b.Request(ctx, "rpc", m)
			errs <- err
		}()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		select {
		case err := <-errs:
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "expired") {
				t.Fatalf("Request = %v, want an expiry wrapping context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Request returned after %v", d)
			}
		default:
			cancel()
			t.Fatalf("Request still waits for a reply to a request that expired (returned %v once cancelled)", <-errs)
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
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errs := make(chan error, 1)
		go func() {
			_, err := b.Request(ctx, "rpc", NewMessage("req"))
			errs <- err
		}()
		synctest.Wait()
		select {
		case err := <-errs:
			if !errors.Is(err, ErrFull) || !strings.Contains(err.Error(), `topic "rpc"`) {
				t.Fatalf("Request = %v, want an error wrapping ErrFull naming the topic", err)
			}
		default:
			cancel()
			t.Fatalf("Request still waits for a reply to a request the topic dropped (returned %v once cancelled)", <-errs)
		}
	})
}
