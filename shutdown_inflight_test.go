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
		consume := func(s *Subscription, n *atomic.Int64) <-chan error {
			done := make(chan error, 1)
			go func() {
				done <- s.Consume(context.Background(), func(context.Context, *Delivery) error {
					n.Add(1)
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
		var accepted atomic.Int64
		var wg sync.WaitGroup
		started := make(chan struct{}, 2)
		for range 2 {
			wg.Go(func() {
				started <- struct{}{}
				for {
					err := tp.Publish(context.Background(), NewMessage("x"))
					if err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("Publish = %v, want nil or ErrClosed", err)
						}
						return
					}
					accepted.Add(1)
				}
			})
		}
		<-started
		<-started
		if err := b.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		wg.Wait()
		for _, c := range consumed {
			if err := <-c; err != nil {
				t.Fatalf("Consume = %v", err)
			}
		}
		if a, p, gr := accepted.Load(), plain.Load(), grouped.Load(); p != a || gr != a {
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
		var handled, accepted atomic.Int64
		count := func(context.Context, *Delivery) error { handled.Add(1); return nil }
		consumed := []<-chan error{consumeAsync(context.Background(), fast, count), consumeAsync(context.Background(), locked, count)}
		publishers := []func() error{
			func() error { return fast.Publish(context.Background(), NewMessage("x")) },
			func() error { return locked.Publish(context.Background(), &Message{Body: "x", TTL: time.Hour}) },
			func() error { return x.Publish(context.Background(), NewMessage("x")) },
		}
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
					accepted.Add(1)
				}
			})
		}
		for range publishers {
			<-started
		}
		if err := b.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		wg.Wait()
		for _, c := range consumed {
			if err := <-c; err != nil {
				t.Fatalf("Consume = %v", err)
			}
		}
		if a, h := accepted.Load(), handled.Load(); a != h {
			t.Fatalf("accepted %d publishes, handled %d", a, h)
		}
	}
}
