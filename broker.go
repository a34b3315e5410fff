package herald

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/internal/glabel"
	"github.com/heraldmq/herald/internal/sched"
)

// Broker owns one namespace of queues, topics and exchanges: a name is
// unique across them, so producers need to know only a name.
// Create one with [New]; it is safe for concurrent use. Stop it with
// [Broker.Shutdown] to drain, or [Broker.Close] to stop at once.
type Broker struct {
	cfg   brokerConfig
	epoch time.Time // the broker clock's zero; see clock
	wall  *wallClock
	sched *sched.Scheduler[timed]

	// ctx is the parent of every handler's context; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	names    namespace   // publish takes no lock
	draining atomic.Bool // Shutdown has begun
	drained  atomic.Bool // Shutdown found every queue settled
	shutDown atomic.Bool // a Shutdown's drain ended, and it closes
	closed   atomic.Bool
	// While draining, every put into a queue or topic is counted as it
	// starts and as it ends, so Shutdown can tell that nothing moved while
	// it looked at every queue.
	putsStarted atomic.Uint64
	putsDone    atomic.Uint64

	mu        sync.Mutex // serialises declare, Consume registration and stop
	consumers int        // running Consume calls

	quietMu  sync.Mutex
	quiet    chan struct{} // closed and replaced when a queue or topic may have gone idle
	watchers atomic.Int32  // WaitIdle calls waiting

	waiters sync.Pool
	replies replyBoxes // Request's private reply destinations

	// handlerDrain counts the goroutines that drain for a Shutdown called
	// from a handler.
	handlerDrain sync.WaitGroup

	// userOnScheduler is non-zero while the scheduler's goroutine
	// publishes dead letters, and so may run transforms: user code, which
	// may call Close.
	userOnScheduler atomic.Int32

	// deadLetterWarned holds the queues and subscriptions whose undeclared
	// dead-letter destination has been warned about; see checkDeadLetter.
	deadLetterWarned sync.Map

	// labels mark the goroutines that run for this broker (see
	// internal/glabel), so that profiles and leak checks can tell them
	// from another broker's.
	labels pprof.LabelSet

	dur      *durableStore // the write-ahead log of a broker made with Open; see durable.go
	patterns patternSubs   // SubscribePattern; see pattern.go
}

// epochNow returns the broker clock's zero: a nanosecond before now.
func epochNow() time.Time { return time.Now().Add(-time.Nanosecond) }

// New returns a ready broker. It starts no goroutine until one is needed
// (a back-off or an ack timeout), and an idle broker burns no CPU. Having
// no error to return, New ignores a nil option (see [Option]).
func New(opts ...Option) *Broker {
	b := &Broker{epoch: epochNow(), wall: newWallClock(), quiet: make(chan struct{})}
	for _, o := range opts {
		if o != nil {
			o.applyBroker(&b.cfg)
		}
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.labels = pprof.Labels(glabel.Key, glabel.Of(b))
	b.sched = sched.New(timed.fire)
	b.sched.SetLabels(pprof.WithLabels(context.Background(), b.labels))
	b.waiters.New = func() any { return newWaiter() }
	return b
}

// Queue declares the queue called name and returns it. Declaring a name
// again with the same options returns the same queue; with other options,
// or a name used by another kind, it returns an error wrapping ErrExists
// that names the first option that differs. A declaration with
// [WithTransform] is never the same as another: functions cannot be
// compared. To get a queue declared elsewhere whatever its options, use
// [Broker.LookupQueue]. Bad names and options return errors wrapping
// ErrInvalid, and a closed broker ErrClosed.
func (b *Broker) Queue(name string, opts ...QueueOption) (*Queue, error) {
	cfg := defaultQueueConfig()
	if err := configure("queue", name, opts, &cfg, QueueOption.applyQueue); err != nil {
		return nil, err
	}
	if err := cfg.validate(name); err != nil {
		return nil, err
	}
	return declare(b, name,
		func(q *Queue) error {
			if diff := queueDiff(q.cfg, cfg); diff != "" {
				return existsError("queue", name, diff, "LookupQueue")
			}
			return nil
		},
		func() (*Queue, error) { return b.makeQueue(name, cfg) })
}

// configure checks name and applies opts to cfg, refusing nil options.
func configure[O comparable, C any](what, name string, opts []O, cfg *C, apply func(O, *C)) error {
	if err := validateName(name); err != nil {
		return err
	}
	var none O
	for _, o := range opts {
		if o == none {
			return invalidf("%s %q: nil option", what, name)
		}
		apply(o, cfg)
	}
	return nil
}

// declare returns the T already declared as name if check accepts it, or
// adds the one create makes; both run with b.mu held, so that the
// namespace does not change under them. A name declared as another kind is
// ErrExists; a closed broker ErrClosed.
func declare[T destination](b *Broker, name string, check func(T) error, create func() (T, error)) (T, error) {
	var none T
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() || b.draining.Load() {
		return none, ErrClosed
	}
	if d, ok := b.names.get(name); ok {
		x, ok := d.(T)
		if !ok {
			return none, fmt.Errorf("%w: %q is %s, not %s", ErrExists, name, article(d.kind()), article(none.kind()))
		}
		if err := check(x); err != nil {
			return none, err
		}
		return x, nil
	}
	x, err := create()
	if err != nil {
		return none, err
	}
	b.names.add(name, x)
	return x, nil
}

// destination is what a name in the broker's namespace refers to: a
// queue, a topic or an exchange.
type destination interface {
	// put delivers a stamped message. Internal puts (dead letters) never
	// wait for room and are accepted while the broker drains.
	put(ctx context.Context, m *Message, internal bool) error
	kind() string
}

func article(kind string) string {
	if strings.ContainsRune("aeiou", rune(kind[0])) {
		return "an " + kind
	}
	return "a " + kind
}

// lookup returns the destination called name.
func (b *Broker) lookup(name string) (destination, error) {
	if d, ok := b.names.get(name); ok {
		return d, nil
	}
	if d, ok := b.replies.lookup(name); ok {
		return d, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
}

// Publish publishes m to the queue, topic or exchange called name,
// assigning m.ID and m.Time when empty; see [Queue.Publish],
// [Topic.Publish] and [Exchange.Publish] for when it blocks and what it
// returns. An undeclared name returns an error wrapping ErrNotFound.
func (b *Broker) Publish(ctx context.Context, name string, m *Message) error {
	if err := b.checkPublish(ctx, m); err != nil {
		return err
	}
	d, err := b.lookup(name)
	if err != nil {
		return err
	}
	return b.publishTo(ctx, d, m)
}

// publishTo is every Publish after its checks: stamp, then put.
func (b *Broker) publishTo(ctx context.Context, d destination, m *Message) error {
	m.stamp(b.wall)
	if b.cfg.obs != nil {
		return b.publishObserved(ctx, d, m)
	}
	return d.put(ctx, m, false)
}

// publishInternal publishes a message herald made (a dead letter): it never
// waits for room and is accepted while draining.
func (b *Broker) publishInternal(ctx context.Context, name string, m *Message) error {
	d, err := b.lookup(name)
	if err != nil {
		return err
	}
	m.stamp(b.wall)
	return d.put(ctx, m, true)
}

// checkPublish rejects what no publish accepts: a nil message or context,
// a negative TTL or Delay (as WithTTL does; a TTL computed as
// time.Until(end) after the end would otherwise never expire). While
// draining, only
// handlers may publish (through their own context), so that a multi-hop
// flow drains to its end.
func (b *Broker) checkPublish(ctx context.Context, m *Message) error {
	switch {
	case m == nil:
		return invalidf("nil message")
	case ctx == nil:
		return invalidf("nil context")
	case m.TTL < 0:
		return invalidf("negative TTL %v: 0 is never, a duration is from now", m.TTL)
	case m.Delay < 0:
		return invalidf("negative Delay %v: 0 is none, a duration is from now", m.Delay)
	case b.closed.Load():
		return ErrClosed
	case b.draining.Load() && !b.fromHandler(ctx):
		return ErrClosed
	}
	return nil
}

// fromHandler reports whether ctx is a handler's context from this broker.
func (b *Broker) fromHandler(ctx context.Context) bool {
	return ctx.Value(handlerContextKey{}) == b
}

// beginPut notes a put into a queue or topic while draining; the caller
// calls endPut(true) when the message has landed (or failed to).
//
// A put that began before draining is not counted, so that a put costs
// one load while the broker is not draining. Shutdown sees it all the
// same: each queue and topic checks draining where it takes a message,
// under the lock Shutdown looks under (a queue's intake reserves a place
// before it checks), so such a put has landed where Shutdown looks, or is
// refused; a topic counts the publishes between its ring and its groups
// (see Topic.drained).
func (b *Broker) beginPut() bool {
	if !b.draining.Load() {
		return false
	}
	b.putsStarted.Add(1)
	return true
}

// endPut notes the end of a put that beginPut counted. The last one to end
// wakes Shutdown, which may have found it in flight and be waiting for it:
// a put refused with ErrClosed changes no queue, so nothing else would.
func (b *Broker) endPut(tracked bool) {
	if tracked && b.putsDone.Add(1) == b.putsStarted.Load() {
		b.signalQuiet()
	}
}

type handlerContextKey struct{}

// Close stops the broker at once: every blocked Publish, Receive and
// Consume returns ErrClosed, every running handler's context is cancelled,
// and later calls return ErrClosed. Messages still in queues stay there,
// counted in Stats, and are not delivered. Close waits for herald's own
// goroutines to exit but not for user code they run: running handlers,
// and a transform that herald's scheduler runs when it dead-letters an
// expired or timed-out message. So a handler or a transform may call
// Close; Consume returns once its handlers have. Close is idempotent and
// returns nil.
func (b *Broker) Close() error { return b.close(true) }

// close is Close; the goroutine of a Shutdown called from a handler calls
// it without waiting for itself.
func (b *Broker) close(waitDrain bool) error {
	b.mu.Lock()
	if b.closed.Swap(true) {
		b.mu.Unlock()
		return nil
	}
	ds := b.drainers()
	b.mu.Unlock()
	// The scheduler takes nothing new from here on, so that a handler
	// that nacks as its context ends leaves the message ready rather than
	// backing off on a scheduler about to stop.
	b.sched.Stop()
	b.cancel()
	for _, d := range ds {
		d.close()
	}
	if b.userOnScheduler.Load() > 0 {
		// User code runs on the scheduler's goroutine, maybe this call:
		// like a handler, it is not waited for; the goroutine returns
		// when it does.
		b.sched.Stop()
	} else {
		b.sched.Close()
	}
	b.signalQuiet() // WaitIdle, and a drain in progress, return ErrClosed
	if waitDrain {
		b.handlerDrain.Wait()
	}
	if b.dur != nil {
		return b.dur.close()
	}
	return nil
}

// Shutdown stops the broker gracefully. New publishes fail with ErrClosed,
// except those made by handlers with their handler context, so that a flow
// of several hops runs to its end. Shutdown then waits until every
// publish already under way has landed or been refused, every delivery
// handed out is settled, every dead letter on its way has arrived, and
// every queue and topic is empty: consumers keep receiving until then,
// including messages that wait out a back-off or a Delay. Then Consume
// calls return nil, Receive returns ErrClosed, and Shutdown waits for the
// Consume calls to return and closes the broker.
//
// A publish that races Shutdown either lands, and Shutdown waits for its
// message as for any other, or returns an error wrapping ErrClosed, and
// its message went nowhere. So once Shutdown has returned nil, every
// publish that returned nil has been handled (acked, or ended as Stats
// count). A queue decides under its lock, after any transform; a topic
// decides when its ring takes the message, and then the message reaches
// the topic's groups too. An exchange publish is one put per binding: the
// copies that landed are handled, and the bindings that refused are named
// in a [*RouteError] wrapping ErrClosed. A publish to a Durable queue whose
// record was being written when Shutdown began is refused this way, its
// record settled again.
//
// Dead letters that nobody reads are not waited for: a queue that has
// only ever received dead letters, with no consumer attached (a running
// Consume, or a Receive call in progress) and no TTL that sends them on,
// keeps them, counted in Stats, when the broker closes. Messages that
// publishers sent are waited for even in a queue with no consumer yet,
// since a consumer may be about to start: bound the wait with ctx.
//
// If ctx ends first, Shutdown closes the broker at once (see
// [Broker.Close]) and returns ctx.Err(); if Close is called meanwhile, it
// returns ErrClosed; after Close, or when another Shutdown's drain ends
// first, it returns nil.
//
// Called from a handler with the handler's context, Shutdown cannot wait
// for that handler: it begins the drain and returns nil at once, and the
// broker closes when the drain ends, after the handler has returned (or
// when Close is called). Called from a handler with another context, it
// waits for the handler, itself, until that context ends.
func (b *Broker) Shutdown(ctx context.Context) error {
	if ctx == nil {
		return invalidf("nil context")
	}
	b.mu.Lock()
	if b.closed.Load() {
		b.mu.Unlock()
		return nil
	}
	first := !b.draining.Swap(true)
	ds := b.drainers()
	if b.fromHandler(ctx) {
		if first {
			b.handlerDrain.Add(1) // under mu: Close waits for it from now on
			go b.drainAndClose(ds)
		}
		b.mu.Unlock()
		return nil
	}
	b.mu.Unlock()
	if err := b.drain(ctx, ds); err != nil {
		return err
	}
	b.shutDown.Store(true)
	return b.Close()
}

// drainAndClose is a Shutdown called from a handler, which returned.
func (b *Broker) drainAndClose(ds []drainer) {
	defer b.handlerDrain.Done()
	if b.drain(context.Background(), ds) == nil {
		b.shutDown.Store(true)
		b.close(false)
	}
}

// drain waits until ds are drained, then until every Consume call has
// returned. It returns ctx.Err(), having closed the broker, if ctx ends
// first, and ErrClosed if the broker is closed meanwhile, unless by
// another Shutdown whose drain ended.
func (b *Broker) drain(ctx context.Context, ds []drainer) error {
	// Wake parked producers, which now fail, and consumers, which recheck.
	for _, d := range ds {
		d.wakeAll()
	}
	for {
		quiet := b.quietChan()
		if b.closed.Load() {
			return b.closedErr()
		}
		if b.settledEverywhere(ds) {
			break
		}
		if err := b.awaitQuiet(ctx, quiet); err != nil {
			return err
		}
	}
	b.drained.Store(true)
	for _, d := range ds {
		d.wakeAll()
	}
	for {
		quiet := b.quietChan()
		if b.closed.Load() {
			return b.closedErr()
		}
		b.mu.Lock()
		n := b.consumers
		b.mu.Unlock()
		if n == 0 {
			return nil
		}
		if err := b.awaitQuiet(ctx, quiet); err != nil {
			return err
		}
	}
}

// closedErr is what a drain cut short by Close returns: nil if that Close
// ended another Shutdown's drain, ErrClosed otherwise.
func (b *Broker) closedErr() error {
	if b.shutDown.Load() {
		return nil
	}
	return ErrClosed
}

// drainer is what Shutdown, WaitIdle and Close need of a queue or topic.
type drainer interface {
	idle() bool       // holds no message that is not settled
	drained() bool    // holds nothing Shutdown waits for; see drain.go
	activity() uint64 // counts the messages put into it
	wakeAll()         // wakes every parked consumer and producer to look again
	close()           // makes every call fail with ErrClosed, waking them
}

// addConsumer registers a running Consume call; false after Close.
func (b *Broker) addConsumer() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return false
	}
	b.consumers++
	return true
}

func (b *Broker) doneConsumer() {
	b.mu.Lock()
	b.consumers--
	b.mu.Unlock()
	b.signalQuiet()
}

func (b *Broker) drainers() []drainer {
	var ds []drainer
	for _, d := range b.names.all() {
		if x, ok := d.(drainer); ok {
			ds = append(ds, x)
		}
	}
	return ds
}

// clock returns the broker's monotonic time in nanoseconds, for expiries.
// It reads at least 1 from the start (see epochNow), so that a time of 1,
// the earliest, has always passed: a recovered message whose expiry fell
// while the broker was down expires at once, even on a clock too coarse to
// have moved since New.
func (b *Broker) clock() int64 { return int64(time.Since(b.epoch)) }

func (b *Broker) getWaiter() *waiter  { return b.waiters.Get().(*waiter) }
func (b *Broker) putWaiter(w *waiter) { b.waiters.Put(w) }

// logger is where the broker logs: WithLogger's, else slog.Default().
func (b *Broker) logger() *slog.Logger {
	if b.cfg.logger != nil {
		return b.cfg.logger
	}
	return slog.Default()
}

// logs reports whether a record at level would be logged, so that a hot
// path builds a record's attributes only then.
func (b *Broker) logs(level slog.Level) bool {
	return b.logger().Enabled(context.Background(), level)
}

func (b *Broker) log(level slog.Level, msg string, args ...any) {
	b.logger().Log(context.Background(), level, msg, args...)
}
