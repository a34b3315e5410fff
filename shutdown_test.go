package herald

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald/internal/wal/walfs"
)

// A publish that passed its checks before Shutdown began, and reached the
// queue after, is counted by Shutdown and then refused with ErrClosed. Its
// end must wake Shutdown, or Shutdown waits for nothing until its ctx ends.
func TestShutdownWokenByRefusedPublish(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		routing, reaching := make(chan struct{}), make(chan struct{})
		hold := func(ch chan struct{}) Transform {
			return func(m *Message) (*Message, error) {
				<-ch
				return m, nil
			}
		}
		mustQueue(t, b, "q", WithTransform(hold(reaching)))
		busy := mustQueue(t, b, "busy")
		x, err := b.Exchange("x", FanoutExchange)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Bind("q", "", WithTransform(hold(routing))); err != nil {
			t.Fatal(err)
		}
		publishOrFail(t, busy, "in flight")
		d := receiveOrFail(t, busy) // Shutdown waits for it to be settled

		published := make(chan error, 1)
		// A TTL takes the queue's locked path; a topic refuses the same way.
		go func() { published <- x.Publish(context.Background(), &Message{Body: "late", TTL: time.Hour}) }()
		synctest.Wait() // the publish has passed its checks and is routing

		shutdown := make(chan error, 1)
		start := time.Now()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			shutdown <- b.Shutdown(ctx)
		}()
		synctest.Wait() // draining, waiting for busy
		close(routing)
		synctest.Wait() // the publish has reached q, counted by Shutdown
		settleOrFail(t, d.Ack)
		synctest.Wait() // Shutdown looked again, and waits for the publish
		close(reaching)

		if err := <-published; !errors.Is(err, ErrClosed) {
			t.Errorf("publish that reached the queue while draining = %v, want ErrClosed", err)
		}
		if err := <-shutdown; err != nil {
			t.Errorf("Shutdown = %v, want nil", err)
		}
		if got := time.Since(start); got != 0 {
			t.Errorf("Shutdown took %v, want no wait once the publish was refused", got)
		}
	})
}

// A dead-letter queue nobody reads does not hold Shutdown up: its dead
// letters stay there, counted. Everything published is still drained.
func TestShutdownLeavesUnreadDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		work := mustQueue(t, b, "work", WithDeadLetter("dead"))
		dead := mustQueue(t, b, "dead")
		for i := range 4 {
			publishOrFail(t, work, i)
		}
		consumed := consumeAsync(context.Background(), work, func(_ context.Context, d *Delivery) error {
			if d.Body.(int)%2 == 1 {
				return Permanent(errors.New("bad job"))
			}
			return nil
		})
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown = %v, want nil", err)
		}
		if got := time.Since(start); got != 0 {
			t.Errorf("Shutdown took %v", got)
		}
		if err := <-consumed; err != nil {
			t.Errorf("Consume = %v", err)
		}
		wantStats(t, work, QueueStats{Published: 4, Delivered: 4, Acked: 2, Rejected: 2, DeadLettered: 2})
		wantStats(t, dead, QueueStats{Published: 2, Ready: 2})
	})
}

// A dead-letter queue that has a consumer is drained like any other, and
// so is one whose TTL sends its messages on (a retry queue).
func TestShutdownDrainsReadOrMovingDeadLetters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		work := mustQueue(t, b, "work", WithDeadLetter("retry"))
		mustQueue(t, b, "retry", WithTTL(time.Second), WithDeadLetter("work"))
		publishOrFail(t, work, "job")
		consumed := consumeAsync(context.Background(), work, func(_ context.Context, d *Delivery) error {
			if d.Headers[HeaderDeathQueue] == "" {
				return Permanent(errors.New("not yet")) // retried after the retry queue's TTL
			}
			return nil
		})
		synctest.Wait() // "job" waits in the retry queue
		start := time.Now()
		if err := b.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		if got := time.Since(start); got != time.Second {
			t.Errorf("Shutdown took %v, want the retry queue's TTL", got)
		}
		if err := <-consumed; err != nil {
			t.Errorf("Consume = %v", err)
		}
		wantStats(t, work, QueueStats{Published: 2, Delivered: 2, Acked: 1, Rejected: 1, DeadLettered: 1})
	})
}

// A delivery handed out from a queue nobody else reads is waited for: it
// is in flight.
func TestShutdownWaitsForUnsettledDeadLetter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		work := mustQueue(t, b, "work", WithDeadLetter("dead"))
		dead := mustQueue(t, b, "dead")
		publishOrFail(t, work, "x")
		settleOrFail(t, receiveOrFail(t, work).Reject)
		d := receiveOrFail(t, dead)
		shutdown := make(chan error, 1)
		go func() { shutdown <- b.Shutdown(context.Background()) }()
		synctest.Wait()
		if len(shutdown) != 0 {
			t.Fatal("Shutdown returned with a delivery unsettled")
		}
		settleOrFail(t, d.Ack)
		if err := <-shutdown; err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
	})
}

// Shutdown from a handler, with the handler's context, cannot wait for the
// handler: it begins the drain and returns at once, and the broker closes
// when the drain ends, after the handler has returned.
func TestShutdownFromHandler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		for i := range 3 {
			publishOrFail(t, q, i)
		}
		var handled []any
		returned := make(chan error, 1)
		consumed := consumeAsync(context.Background(), q, func(ctx context.Context, d *Delivery) error {
			handled = append(handled, d.Body)
			if d.Body == 0 {
				start := time.Now()
				returned <- b.Shutdown(ctx)
				if got := time.Since(start); got != 0 {
					t.Errorf("Shutdown from a handler took %v", got)
				}
			}
			return nil
		})
		if err := <-returned; err != nil {
			t.Fatalf("Shutdown from a handler = %v, want nil", err)
		}
		if err := <-consumed; err != nil {
			t.Fatalf("Consume = %v, want nil: the drain ended", err)
		}
		wantBodies(t, handled, 0, 1, 2)
		synctest.Wait()
		if err := q.Publish(context.Background(), NewMessage(3)); !errors.Is(err, ErrClosed) {
			t.Fatalf("Publish after the drain = %v, want ErrClosed", err)
		}
		if !b.closed.Load() {
			t.Fatal("the broker is not closed after the drain")
		}
	})
}

// A Shutdown cut short by Close returns ErrClosed, and the goroutine a
// handler's Shutdown left draining ends with Close.
func TestShutdownCutShortByClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		publishOrFail(t, q, "held")
		d := receiveOrFail(t, q)
		shutdown := make(chan error, 1)
		go func() { shutdown <- b.Shutdown(context.Background()) }()
		synctest.Wait()
		b.Close()
		if err := <-shutdown; !errors.Is(err, ErrClosed) {
			t.Fatalf("Shutdown = %v, want ErrClosed", err)
		}
		if err := d.Ack(); err != nil {
			t.Fatalf("Ack after Close = %v", err)
		}
	})
}

// Two Shutdowns at once both return nil when the drain ends.
func TestShutdownTwiceAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		q := mustQueue(t, b, "q")
		publishOrFail(t, q, "held")
		d := receiveOrFail(t, q)
		results := make(chan error, 2)
		for range 2 {
			go func() { results <- b.Shutdown(context.Background()) }()
		}
		synctest.Wait()
		settleOrFail(t, d.Ack)
		for range 2 {
			if err := <-results; err != nil {
				t.Errorf("Shutdown = %v, want nil", err)
			}
		}
	})
}

// Publishes that race Shutdown: each either lands, and Shutdown waits for
// it to be handled, or returns an error wrapping ErrClosed, and the
// message went nowhere.

// blockFirstWrite makes the first write of fs wait for release; writing
// is closed when it starts.
func blockFirstWrite(fs *walfs.Faulty) (writing, release chan struct{}) {
	writing, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	fs.Inject(func(c walfs.Call) walfs.Fault {
		if c.Op == walfs.OpWrite {
			once.Do(func() { close(writing); <-release })
		}
		return walfs.Fault{}
	})
	return writing, release
}

// A topic publish under way when Shutdown begins (its message in the ring,
// on its way to the topic's groups) lands in every group, and Shutdown
// waits for the groups to handle it.
func TestShutdownWaitsForTopicPublishToGroups(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		fs := walfs.NewFaulty(walfs.OS())
		b := openTest(t, dir, withFS(fs))
		tp := mustTopic(t, b, "t", Durable())
		g := mustSubscribe(t, tp, WithGroup("g"))
		writing, release := blockFirstWrite(fs)
		published := make(chan error, 1)
		go func() { published <- tp.Publish(context.Background(), NewMessage("under way")) }()
		<-writing // the ring has it; the group gets it once its record is written

		var handled []string
		consumed := make(chan error, 1)
		go func() {
			consumed <- g.Consume(context.Background(), func(_ context.Context, d *Delivery) error {
				handled = append(handled, bodyText(d))
				return nil
			})
		}()
		shutdown := make(chan error, 1)
		go func() { shutdown <- b.Shutdown(context.Background()) }()
		synctest.Wait() // Shutdown looked at the topic and its group
		close(release)

		if err := <-published; err != nil {
			t.Errorf("publish under way when Shutdown began = %v, want nil", err)
		}
		if err := <-shutdown; err != nil {
			t.Errorf("Shutdown = %v, want nil", err)
		}
		if err := <-consumed; err != nil {
			t.Errorf("Consume = %v, want nil", err)
		}
		if len(handled) != 1 {
			t.Errorf("group handled %q, want the publish under way", handled)
		}
	})
}

// A durable queue publish under way when Shutdown begins (its record being
// written) is refused with ErrClosed once the record is written: not a
// defect, the publisher learns its message went nowhere.
func TestShutdownRefusesDurableQueuePublishUnderWay(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		fs := walfs.NewFaulty(walfs.OS())
		b := openTest(t, dir, withFS(fs))
		q := mustQueue(t, b, "q", Durable())
		writing, release := blockFirstWrite(fs)
		published := make(chan error, 1)
		go func() { published <- q.Publish(context.Background(), NewMessage("under way")) }()
		<-writing
		shutdown := make(chan error, 1)
		go func() { shutdown <- b.Shutdown(context.Background()) }()
		synctest.Wait()
		close(release)
		if err := <-published; !errors.Is(err, ErrClosed) {
			t.Errorf("publish under way when Shutdown began = %v, want ErrClosed", err)
		}
		if err := <-shutdown; err != nil {
			t.Errorf("Shutdown = %v, want nil", err)
		}
		wantStats(t, q, QueueStats{})
	})
}

// An exchange publish that reached one binding before Shutdown began and
// another after: the copy that landed is handled, and Publish returns a
// RouteError that names the binding refused with ErrClosed.
func TestShutdownSplitsExchangePublishUnderWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newTestBroker(t)
		first := mustQueue(t, b, "first")
		mustQueue(t, b, "second")
		x, err := b.Exchange("x", FanoutExchange)
		if err != nil {
			t.Fatal(err)
		}
		routing := make(chan struct{})
		if err := x.Bind("first", ""); err != nil {
			t.Fatal(err)
		}
		if err := x.Bind("second", "", WithTransform(func(m *Message) (*Message, error) {
			<-routing
			return m, nil
		})); err != nil {
			t.Fatal(err)
		}
		published := make(chan error, 1)
		go func() { published <- x.Publish(context.Background(), NewMessage("split")) }()
		synctest.Wait() // "first" has it; the copy for "second" waits
		var handled int
		consumed := consumeAsync(context.Background(), first, func(context.Context, *Delivery) error {
			handled++
			return nil
		})
		shutdown := make(chan error, 1)
		go func() { shutdown <- b.Shutdown(context.Background()) }()
		synctest.Wait()
		close(routing)
		err = <-published
		var re *RouteError
		if !errors.As(err, &re) || !errors.Is(err, ErrClosed) || re.Delivered != 1 || len(re.Failed) != 1 || re.Failed[0].Dest != "second" {
			t.Errorf("Publish = %v, want a RouteError: delivered 1, \"second\" refused with ErrClosed", err)
		}
		if err := <-shutdown; err != nil {
			t.Errorf("Shutdown = %v, want nil", err)
		}
		if err := <-consumed; err != nil {
			t.Errorf("Consume = %v", err)
		}
		if handled != 1 {
			t.Errorf("handled %d, want the copy in \"first\"", handled)
		}
	})
}

// Publishers racing Shutdown on a topic with a plain subscription and a
// group: once Shutdown has returned nil, both have handled every publish
// that returned nil, and every other publish returned ErrClosed.
func TestShutdownRacingTopicPublishes(t *testing.T) {
	rounds := 200
	if testing.Short() {
		rounds = 20
	}
	for range rounds {
		b := newTestBroker(t)
		tp, err := b.Topic("t")
		if err != nil {
			t.Fatal(err)
		}
		var plain, grouped atomic.Int64
		var running sync.WaitGroup // each consumer's first handling: a warm-up
		consume := func(s *Subscription, n *atomic.Int64) <-chan error {
			done := make(chan error, 1)
			running.Add(1)
			go func() {
				done <- s.Consume(context.Background(), func(context.Context, *Delivery) error {
					if n.Add(1) == 1 {
						running.Done()
					}
					return nil
				})
			}()
			return done
		}
		sub, err := tp.Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		g, err := tp.Subscribe(WithGroup("g"))
		if err != nil {
			t.Fatal(err)
		}
		consumed := []<-chan error{consume(sub, &plain), consume(g, &grouped)}
		// Both consumers run before Shutdown, which refuses a later Consume.
		if err := tp.Publish(context.Background(), NewMessage("warm-up")); err != nil {
			t.Fatal(err)
		}
		running.Wait()
		publish := func() error { return tp.Publish(context.Background(), NewMessage("x")) }
		a := raceShutdown(t, b, []func() error{publish, publish}, consumed, nil)
		if p, gr := plain.Load()-1, grouped.Load()-1; p != a || gr != a {
			t.Fatalf("accepted %d publishes; the subscription handled %d, the group %d", a, p, gr)
		}
	}
}

// Publishers racing Shutdown on queues, through the intake and under the
// lock (a TTL), directly and through an exchange: once Shutdown has
// returned nil, every publish that returned nil has been handled. Not a
// defect: each queue checks draining under the lock Shutdown looks under.
func TestShutdownRacingQueuePublishes(t *testing.T) {
	rounds := 100
	if testing.Short() {
		rounds = 10
	}
	for range rounds {
		b := newTestBroker(t)
		fast, locked := mustQueue(t, b, "fast"), mustQueue(t, b, "locked")
		x, err := b.Exchange("x", FanoutExchange)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Bind("fast", ""); err != nil {
			t.Fatal(err)
		}
		var handled atomic.Int64
		// Each consumer's first handling is a warm-up, which shows it runs
		// before Shutdown, which refuses a later Consume.
		var running sync.WaitGroup
		counter := func() Handler {
			running.Add(1)
			var first sync.Once
			return func(context.Context, *Delivery) error {
				handled.Add(1)
				first.Do(running.Done)
				return nil
			}
		}
		consumed := []<-chan error{consumeAsync(context.Background(), fast, counter()), consumeAsync(context.Background(), locked, counter())}
		mustPublish(t, fast, NewMessage("warm-up"))
		mustPublish(t, locked, NewMessage("warm-up"))
		running.Wait()
		handled.Store(0)
		publishers := []func() error{
			func() error { return fast.Publish(context.Background(), NewMessage("x")) },
			func() error { return locked.Publish(context.Background(), &Message{Body: "x", TTL: time.Hour}) },
			func() error { return x.Publish(context.Background(), NewMessage("x")) },
		}
		a := raceShutdown(t, b, publishers, consumed, nil)
		if h := handled.Load(); a != h {
			t.Fatalf("accepted %d publishes, handled %d", a, h)
		}
	}
}

// Publishers racing Shutdown through an exchange to a topic (a plain
// subscription and a group) and a queue, whose handlers reject every
// other message to a dead-letter queue that a consumer reads: when
// Shutdown returns nil, every accepted publish has already been handled
// (each ended in a handler: the subscription's, and the group's or the
// queue's, or, for the rejected, the dead-letter queue's).
func TestShutdownRacingExchangeToTopicWithDeadLetters(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 10
	}
	for range rounds {
		b := newTestBroker(t)
		tp, err := b.Topic("t")
		if err != nil {
			t.Fatal(err)
		}
		// Room for every dead letter: one a full dead-letter queue refuses
		// is counted lost, not handled.
		dlq := mustQueue(t, b, "dlq", WithCapacity(1<<22))
		q := mustQueue(t, b, "q", WithDeadLetter("dlq"))
		x, err := b.Exchange("x", FanoutExchange)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"t", "q"} {
			if err := x.Bind(d, ""); err != nil {
				t.Fatal(err)
			}
		}
		sub, err := tp.Subscribe()
		if err != nil {
			t.Fatal(err)
		}
		g, err := tp.Subscribe(WithGroup("g"), WithDeadLetter("dlq"))
		if err != nil {
			t.Fatal(err)
		}
		// Four warm-up handlings, one by each consumer, show that all four
		// run before the publishers start: a dead-letter queue nobody
		// consumes yet is not waited for, and a Consume that starts after
		// Shutdown returns ErrClosed.
		const warmUps = 4
		var handled, seen atomic.Int64
		warm := make(chan struct{})
		handle := func() {
			if handled.Add(1) == warmUps {
				close(warm)
			}
		}
		end := func(_ context.Context, d *Delivery) error {
			if seen.Add(1)%2 == 0 {
				return Permanent(errors.New("no"))
			}
			handle()
			return nil
		}
		count := func(context.Context, *Delivery) error { handle(); return nil }
		var consumed []<-chan error
		for _, c := range []struct {
			s interface {
				Consume(context.Context, Handler, ...ConsumeOption) error
			}
			h Handler
		}{{sub, count}, {g, end}, {q, end}, {dlq, count}} {
			done := make(chan error, 1)
			go func() { done <- c.s.Consume(context.Background(), c.h) }()
			consumed = append(consumed, done)
		}
		mustPublish(t, dlq, NewMessage("warm-up"))
		if err := x.Publish(context.Background(), NewMessage("warm-up")); err != nil {
			t.Fatal(err)
		}
		<-warm
		publish := func() error { return x.Publish(context.Background(), NewMessage("x")) }
		var atShutdown int64
		a := raceShutdown(t, b, []func() error{publish, publish}, consumed, func() { atShutdown = handled.Load() })
		// A publish split by Shutdown (see TestShutdownSplitsExchangePublishUnderWay)
		// returns an error but may have reached one destination: so at least
		// 3 handlings per accepted publish, all before Shutdown returned.
		if h := handled.Load() - warmUps; h != atShutdown-warmUps || h < 3*a {
			t.Fatalf("accepted %d publishes (want %d handlings at least); handled %d when Shutdown returned, %d in all", a, 3*a, atShutdown-warmUps, h)
		}
	}
}

// raceShutdown runs each of publishers in a loop on a goroutine of its
// own until it fails, which must be with ErrClosed, and shuts b down once
// all have started; atShutdown, if not nil, runs as soon as Shutdown has
// returned nil. It then waits for the publishers, and for every Consume in
// consumed to return nil, and returns how many publishes returned nil.
func raceShutdown(t *testing.T, b *Broker, publishers []func() error, consumed []<-chan error, atShutdown func()) (accepted int64) {
	t.Helper()
	var n atomic.Int64
	var wg sync.WaitGroup
	started := make(chan struct{}, len(publishers))
	for _, publish := range publishers {
		wg.Go(func() {
			started <- struct{}{}
			for {
				if err := publish(); err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("Publish = %v, want nil or ErrClosed", err)
					}
					return
				}
				n.Add(1)
			}
		})
	}
	for range publishers {
		<-started
	}
	if err := b.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if atShutdown != nil {
		atShutdown()
	}
	wg.Wait()
	for _, c := range consumed {
		if err := <-c; err != nil {
			t.Fatalf("Consume = %v", err)
		}
	}
	return n.Load()
}
