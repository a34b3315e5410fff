package herald

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
)

// log is what handlers saw, safe for concurrent use.
type seenLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *seenLog) add(who string, d *Delivery) {
	l.mu.Lock()
	l.seen = append(l.seen, who+":"+itoa(d.Body.(int))+"/"+itoa(d.Attempt))
	l.mu.Unlock()
}

func (l *seenLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.seen, " ")
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// The active consumer stops while a message is unacked: the standby takes
// over with that message, then the rest, in order, and never received
// anything while the first was active.
func TestSingleActiveFailoverKeepsOrder(t *testing.T) {
	for _, prefetch := range []int{0, 4} {
		t.Run("prefetch"+itoa(prefetch), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newTestBroker(t)
				q := mustQueue(t, b, "q", WithSingleActiveConsumer())
				var log seenLog
				actx, stopA := context.WithCancel(context.Background())
				blocked := make(chan struct{})
				var opts []ConsumeOption
				if prefetch > 0 {
					opts = append(opts, WithPrefetch(prefetch))
				}
				doneA := consumeAsync(actx, q, func(ctx context.Context, d *Delivery) error {
					log.add("A", d)
					if d.Body == 3 {
						close(blocked)
						<-ctx.Done() // stuck until A stops
						return ctx.Err()
					}
					return nil
				}, opts...)
				synctest.Wait()
				bctx, stopB := context.WithCancel(context.Background())
				defer stopB()
				doneB := consumeAsync(bctx, q, func(ctx context.Context, d *Delivery) error {
					log.add("B", d)
					return nil
				})
				for i := 1; i <= 6; i++ {
					publishOrFail(t, q, i)
				}
				<-blocked
				synctest.Wait()
				if got, want := log.String(), "A:1/1 A:2/1 A:3/1"; got != want {
					t.Fatalf("while A is active: %s, want %s", got, want)
				}
				if st := q.Stats(); st.Consumers != 1 {
					t.Fatalf("Consumers = %d, want only the active one", st.Consumers)
				}
				stopA()
				if err := waitErr(t, doneA); !errors.Is(err, context.Canceled) {
					t.Fatalf("A: %v", err)
				}
				synctest.Wait()
				if got, want := log.String(), "A:1/1 A:2/1 A:3/1 B:3/2 B:4/1 B:5/1 B:6/1"; got != want {
					t.Fatalf("handled %s, want %s", got, want)
				}
				st := q.Stats()
				if st.Acked != 6 || st.Nacked != 1 || st.Ready != 0 || st.Delayed != 0 || st.Unacked != 0 {
					t.Fatalf("stats %+v", st)
				}
				stopB()
				waitErr(t, doneB)
			})
		})
	}
}

// Receive callers take turns: the delivery one returns holds the queue
// until it is settled.
func TestSingleActiveReceiveTakesTurns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithSingleActiveConsumer())
		for i := 1; i <= 3; i++ {
			publishOrFail(t, q, i)
		}
		first := receiveOrFail(t, q)
		got := make(chan *Delivery, 1)
		go func() {
			d, err := q.Receive(context.Background())
			if err != nil {
				t.Error(err)
			}
			got <- d
		}()
		synctest.Wait()
		select {
		case d := <-got:
			t.Fatalf("a second Receive got %v while the first delivery is unsettled", d.Body)
		default:
		}
		settleOrFail(t, first.Nack) // back after its back-off, as on any queue
		d := <-got
		wantBody(t, d, 2, 1)
		settleOrFail(t, d.Ack)
	})
}

// A Receive waiting behind an active Consume gets the first unacked
// message when the Consume stops.
func TestSingleActiveReceiveFollowsConsume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithSingleActiveConsumer())
		publishOrFail(t, q, 1)
		publishOrFail(t, q, 2)
		ctx, stop := context.WithCancel(context.Background())
		started := make(chan struct{})
		done := consumeAsync(ctx, q, func(ctx context.Context, d *Delivery) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		})
		<-started
		got := make(chan *Delivery, 1)
		go func() {
			d, _ := q.Receive(context.Background())
			got <- d
		}()
		synctest.Wait()
		if len(got) != 0 {
			t.Fatal("Receive got a message while the Consume was active")
		}
		stop()
		waitErr(t, done)
		d := <-got
		wantBody(t, d, 1, 2)
		settleOrFail(t, d.Ack)
	})
}

// A standby whose context ends leaves the line; Close wakes the others.
func TestSingleActiveStandbyLeaves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q", WithSingleActiveConsumer())
		noop := func(context.Context, *Delivery) error { return nil }
		active := consumeAsync(context.Background(), q, noop)
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		left := consumeAsync(ctx, q, noop)
		closed := consumeAsync(context.Background(), q, noop)
		synctest.Wait()
		cancel()
		if err := waitErr(t, left); !errors.Is(err, context.Canceled) {
			t.Fatalf("standby: %v", err)
		}
		b.Close()
		for _, c := range []<-chan error{active, closed} {
			if err := waitErr(t, c); !errors.Is(err, ErrClosed) {
				t.Fatalf("after Close: %v", err)
			}
		}
	})
}

// The option is part of the queue's declaration.
func TestSingleActiveRedeclare(t *testing.T) {
	b := newTestBroker(t)
	mustQueue(t, b, "q", WithSingleActiveConsumer())
	mustQueue(t, b, "q", WithSingleActiveConsumer())
	_, err := b.Queue("q")
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "WithSingleActiveConsumer: declared with on, now off") {
		t.Fatalf("redeclared without: %v", err)
	}
}

// A Queue.All loop is a consumer like Consume: while it runs, a standby
// Consume receives nothing; when the loop breaks holding an unsettled
// delivery, that message goes back to the head and the standby starts
// with it, then the rest, in order.
func TestSingleActiveAllLoop(t *testing.T) {
	for _, leave := range []string{"break", "panic"} {
		t.Run(leave, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newTestBroker(t)
				q := mustQueue(t, b, "q", WithSingleActiveConsumer())
				var log seenLog
				for i := 1; i <= 5; i++ {
					publishOrFail(t, q, i)
				}
				holding := make(chan struct{})
				release := make(chan struct{})
				loopDone := make(chan error, 1)
				go func() {
					defer func() {
						if r := recover(); r != nil {
							loopDone <- nil
						}
					}()
					for d, err := range q.All(context.Background()) {
						if err != nil {
							loopDone <- err
							return
						}
						log.add("A", d)
						if d.Body == 2 {
							close(holding)
							<-release
							if leave == "panic" {
								panic("loop body fails")
							}
							break // 2 left unsettled
						}
						if err := d.Ack(); err != nil {
							t.Errorf("Ack: %v", err)
						}
					}
					loopDone <- nil
				}()
				<-holding
				bctx, stopB := context.WithCancel(context.Background())
				doneB := consumeAsync(bctx, q, func(ctx context.Context, d *Delivery) error {
					log.add("B", d)
					return nil
				})
				synctest.Wait()
				if got, want := log.String(), "A:1/1 A:2/1"; got != want {
					t.Fatalf("while the loop is active: %s, want %s", got, want)
				}
				close(release)
				if err := <-loopDone; err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				if got, want := log.String(), "A:1/1 A:2/1 B:2/2 B:3/1 B:4/1 B:5/1"; got != want {
					t.Errorf("after the loop ended: %s, want %s", got, want)
				}
				stopB()
				<-doneB
				wantStats(t, q, QueueStats{Published: 5, Delivered: 6, Acked: 5, Nacked: 1})
			})
		})
	}
}
