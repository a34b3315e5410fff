package herald

import (
	"context"
	"errors"
	"log/slog"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
)

// Handler handles one delivery. Returning nil acks it; returning an error
// nacks it (redelivery after the queue's back-off, up to its max
// deliveries); returning an error wrapped with [Permanent] rejects it. A
// handler that settles the delivery itself may return anything: the first
// settle wins. A panic is recovered and treated as an error.
//
// ctx is cancelled when the consumer's context ends or the broker closes,
// and, on a queue with [WithAckTimeout], when the delivery's ack timeout
// passes and the message is redelivered, with context.Cause(ctx) returning
// [ErrAckTimeout]: a handler that watches ctx stops, so that the message is
// not handled twice at once. A handler may publish, declare, settle and
// Close from inside a delivery: herald holds no lock while user code runs.
//
// The Delivery is the handler's until it returns; see [Delivery] for what
// a settle through it after that does.
type Handler func(ctx context.Context, d *Delivery) error

// Consume runs h on the queue's messages until ctx ends, with
// [WithConcurrency] handler goroutines (default 1). It blocks until it
// stops, and returns only after every handler it started has returned:
// ctx.Err() when ctx ends, ErrClosed when the broker closes, or nil when
// [Broker.Shutdown] has drained the queue. A nil ctx or handler, or a bad
// option, returns an error wrapping ErrInvalid.
//
// Each handler goroutine takes one message at a time, so the consumer holds
// at most its concurrency in unacked deliveries, unless [WithPrefetch] lets
// it take more ahead.
func (q *Queue) Consume(ctx context.Context, h Handler, opts ...ConsumeOption) error {
	if q.sac != nil {
		return q.consumeSingle(ctx, h, opts) // see singleactive.go
	}
	return consume(ctx, q.b, q, h, opts)
}

// source is what consume takes deliveries from: a queue or a subscription.
type source interface {
	// take waits for the next delivery and makes d carry it, its
	// settlement counted in counts.
	// With buf, a queue may take several messages at once and keep the
	// rest in buf for the next calls.
	take(ctx context.Context, w *waiter, d *Delivery, counts *settleCounts, buf *prefetchBuf) error
	addWorker(c *settleCounts)    // registers a handler goroutine's counters
	removeWorker(c *settleCounts) // folds them back when it stops
}

func consume(ctx context.Context, b *Broker, src source, h Handler, opts []ConsumeOption) error {
	cfg, err := consumeOptions(ctx, h, opts)
	if err != nil {
		return err
	}
	if h, err = b.wrapHandler(h, cfg.middleware); err != nil {
		return err
	}
	if !b.addConsumer() {
		return ErrClosed
	}
	defer b.doneConsumer()
	b.checkDeadLetter(src)
	// The goroutine, and the handler goroutines it starts, carry the
	// broker's pprof label while the consumer runs.
	pprof.Do(ctx, b.labels, func(ctx context.Context) { err = b.runConsumer(ctx, src, h, cfg) })
	return err
}

// runConsumer runs the handler goroutines of a Consume call until they
// stop, and returns what Consume returns.
func (b *Broker) runConsumer(ctx context.Context, src source, h Handler, cfg consumeConfig) error {
	hctx, cancel := context.WithCancel(context.WithValue(ctx, handlerContextKey{}, b))
	defer cancel()
	stop := context.AfterFunc(b.ctx, cancel)
	defer stop()

	batch := max(cfg.prefetch/cfg.concurrency, 1)
	owner := new(handout)
	if cfg.keyOrder {
		return b.runKeyed(ctx, hctx, src, h, cfg, owner) // see keyorder.go
	}
	if cfg.concurrency == 1 {
		return b.consumeResult(ctx, work(hctx, b, src, h, batch, owner))
	}
	var wg sync.WaitGroup
	errs := make([]error, cfg.concurrency)
	for i := range cfg.concurrency {
		wg.Go(func() { errs[i] = work(hctx, b, src, h, batch, owner) })
	}
	wg.Wait()
	return b.consumeResult(ctx, errs[0])
}

func consumeOptions(ctx context.Context, h Handler, opts []ConsumeOption) (consumeConfig, error) {
	cfg := consumeConfig{concurrency: 1}
	switch {
	case ctx == nil:
		return cfg, invalidf("nil context")
	case h == nil:
		return cfg, invalidf("nil handler")
	}
	for _, o := range opts {
		if o == nil {
			return cfg, invalidf("nil consume option")
		}
		o.applyConsume(&cfg)
	}
	return cfg, cfg.validate()
}

// checkDeadLetter warns, once per queue or subscription, when a consumer
// starts on one whose dead-letter destination is not declared: a typo in
// WithDeadLetter would otherwise show only when a message dies and its
// dead letter is lost. Declaring the destination after the queue, but
// before consuming, is fine.
func (b *Broker) checkDeadLetter(src source) {
	var place, dest string
	switch s := src.(type) {
	case *Queue:
		place, dest = s.name, s.cfg.deadLetter
	case *Subscription:
		place, dest = s.t.name, s.cfg.deadLetter
	}
	if dest == "" {
		return
	}
	if _, err := b.lookup(dest); err == nil {
		return
	}
	if _, warned := b.deadLetterWarned.LoadOrStore(src, true); !warned {
		b.log(slog.LevelWarn, "dead-letter destination not declared: dead letters will be lost",
			"source", place, "destination", dest)
	}
}

// consumeResult turns why a worker stopped into what Consume returns.
func (b *Broker) consumeResult(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, errDrained):
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case b.closed.Load():
		return ErrClosed
	}
	return err
}

// work is one handler goroutine: take, handle, settle, until take fails.
// It reuses its deliveries and one waiter, so a message costs it nothing.
// A subscription that lagged reports it on the next delivery's Missed.
func work(ctx context.Context, b *Broker, src source, h Handler, batch int, owner *handout) error {
	k := &worker{ctx: ctx, b: b, src: src, h: h, w: newWaiter(), own: new(workerState)}
	k.own.ring.init(owner)
	src.addWorker(&k.own.counts)
	defer src.removeWorker(&k.own.counts)
	if p, ok := src.(prefetcher); ok && batch > 1 {
		if k.buf = p.prefetchBuf(batch); k.buf != nil {
			defer p.unprefetch(k.buf)
		}
	}
	k.hc = handlerCtx{parent: ctx, ctx: ctx}
	if q, ok := src.(*Queue); ok && q.cfg.ackTimeout > 0 {
		k.hc.renew()
		defer func() { k.hc.cancel(nil) }()
	}
	for {
		if err, again := k.run(); !again {
			return err
		}
	}
}

// worker is a handler goroutine's state.
type worker struct {
	ctx    context.Context
	b      *Broker
	src    source
	h      Handler
	w      *waiter
	own    *workerState
	buf    *prefetchBuf
	hc     handlerCtx
	missed uint64
}

// run takes, handles and settles deliveries until take fails, returning
// why, or until a handler panics: then it settles the delivery as failed
// with a *PanicError and returns again. One deferred recover serves every
// handler call up to a panic, rather than one per call.
func (k *worker) run() (err error, again bool) {
	// cur is the delivery whose handler runs: a variable on the stack,
	// as a pointer written to k would cost write barriers while the
	// garbage collector runs.
	var cur *Delivery
	defer func() {
		d := cur
		if d == nil {
			return // not a handler's panic, or none
		}
		r := recover()
		if r == nil {
			return // runtime.Goexit
		}
		stack := debug.Stack()
		k.b.log(slog.LevelWarn, "handler panicked", "source", d.Source(), "id", d.ID, "key", d.Key,
			"attempt", d.Attempt, "panic", r, "stack", string(stack))
		k.handled(d, &PanicError{Value: r, Stack: stack})
		err, again = nil, true
	}()
	ctx, b, counts := k.ctx, k.b, &k.own.counts
	for {
		// Once the consumer's context ends it takes nothing more, even
		// from a queue that still has messages ready.
		if err := ctx.Err(); err != nil {
			return err, false
		}
		d := k.own.ring.next()
		if k.hc.cancel != nil {
			d.cancel = k.hc.cancel // before take lists d where the sweep looks
		}
		if err := k.src.take(ctx, k.w, d, counts, k.buf); err != nil {
			if lag, ok := err.(*LagError); ok {
				k.missed += lag.Missed
				continue
			}
			return err, false
		}
		d.Missed, k.missed = k.missed, 0
		b.observeDeliver(k.hc.ctx, d, true)
		cur = d
		err := k.h(k.hc.ctx, d)
		cur = nil
		if err != nil && b.logs(slog.LevelDebug) {
			b.log(slog.LevelDebug, "handler failed", "source", d.Source(), "id", d.ID, "key", d.Key,
				"attempt", d.Attempt, "error", err)
		}
		k.handled(d, err)
	}
}

// handled settles d, whose handler returned err, and renews the handler
// context if d's ack timeout cancelled it.
func (k *worker) handled(d *Delivery, err error) {
	settleByResult(d, err)
	if k.hc.cancel != nil && d.timedOut() {
		k.hc.cancel(ErrAckTimeout)
		k.hc.renew()
	}
}

// handlerCtx is the context a handler goroutine gives its handlers: the
// consumer's, or on a queue with an ack timeout one of its own that the
// sweep cancels when the delivery times out, renewed for the next handler.
type handlerCtx struct {
	parent, ctx context.Context
	cancel      context.CancelCauseFunc
}

func (c *handlerCtx) renew() { c.ctx, c.cancel = context.WithCancelCause(c.parent) }

// workerState is what a handler goroutine writes for every message, on
// cache lines of its own: with handler goroutines on several cores,
// sharing a line with another's Delivery would make every settle a cache
// miss.
type workerState struct {
	_      [64]byte
	ring   deliveryRing
	counts settleCounts
	_      [64]byte
}

// handout is what the handler goroutines of one Consume share about the
// deliveries they hand out: set once a handler has kept one and used it
// after returning, from when they stop reusing deliveries (see Delivery).
type handout struct {
	atomic.Bool
	keys *keyOrder // WithKeyOrdering; see keyorder.go
}

// ringLen is how many deliveries a handler goroutine hands out in turn.
const ringLen = 8

// deliveryRing is the deliveries one handler goroutine hands out in turn.
type deliveryRing struct {
	slots [ringLen]Delivery
	i     int
	owner *handout
}

func (r *deliveryRing) init(owner *handout) {
	r.owner = owner
	for i := range r.slots {
		r.slots[i].owner = owner
	}
}

// next returns the delivery to hand out next: the ring's next one, or,
// once a handler has used a delivery after returning or under the race
// detector, a new one.
func (r *deliveryRing) next() *Delivery {
	if raceEnabled || r.owner.Load() {
		return &Delivery{owner: r.owner}
	}
	d := &r.slots[r.i]
	r.i = (r.i + 1) % ringLen
	return d
}

// settleByResult retires d, whose handler returned err, and settles it
// as err says unless the handler settled it already.
func settleByResult(d *Delivery, err error) {
	switch {
	case err == nil:
		d.retireAs(settledAck, nil)
	case isPermanent(err):
		d.retireAs(settledReject, err)
	default:
		d.retireAs(settledNack, err)
	}
}

func isPermanent(err error) bool {
	var perm *PermanentError
	return errors.As(err, &perm)
}

// call runs h on d with a panic recovered as a *PanicError, for the
// consumers that call handlers outside a worker's loop (key ordering,
// pattern subscriptions), which recovers once for many calls.
func (b *Broker) call(ctx context.Context, h Handler, d *Delivery) (err error) {
	defer func() {
		if r := recover(); r != nil {
			stack := debug.Stack()
			err = &PanicError{Value: r, Stack: stack}
			b.log(slog.LevelWarn, "handler panicked", "source", d.Source(), "id", d.ID, "key", d.Key,
				"attempt", d.Attempt, "panic", r, "stack", string(stack))
		}
	}()
	err = h(ctx, d)
	if err != nil && b.logs(slog.LevelDebug) {
		b.log(slog.LevelDebug, "handler failed", "source", d.Source(), "id", d.ID, "key", d.Key,
			"attempt", d.Attempt, "error", err)
	}
	return err
}
