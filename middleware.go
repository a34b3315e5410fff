package herald

import (
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"time"
)

// Middleware wraps a [Handler] to add behaviour around every delivery it
// handles: it returns the handler to run instead, which usually calls the
// one it was given. Install middleware with [WithMiddleware].
type Middleware func(Handler) Handler

// MiddlewareOption configures both a [Broker] (an [Option] for [New]) and
// one consumer (a [ConsumeOption] for Consume); see [WithMiddleware].
type MiddlewareOption interface {
	Option
	ConsumeOption
}

// WithMiddleware wraps consumers' handlers in mw. Passed to [New], it
// applies to every consumer of the broker; passed to [Queue.Consume] or
// [Subscription.Consume], to that consumer only. Consume wraps its handler
// once, before it starts its handler goroutines, so a Middleware is called
// once per Consume and the handler it returns runs on every goroutine of
// the consumer at once (see [WithConcurrency]).
//
// The order is that of a chain of HTTP middleware: the broker's
// middleware are outermost, then the consumer's, then the handler; within
// each list the first given is the outermost. With
//
//	b := herald.New(herald.WithMiddleware(b1, b2))
//	q.Consume(ctx, h, herald.WithMiddleware(c1, c2))
//
// a delivery runs b1(b2(c1(c2(h)))): b1 is entered first and returns last.
// Given twice, middleware accumulate in the order given, so
// WithMiddleware(a), WithMiddleware(b) is WithMiddleware(a, b). Default:
// none. A nil middleware, or one that returns a nil handler, makes
// Consume return an error wrapping ErrInvalid.
//
// herald recovers a panic around the whole chain (see [Handler]); use
// [Recover] to recover inside it.
func WithMiddleware(mw ...Middleware) MiddlewareOption {
	return middlewareOption(slices.Clone(mw))
}

type middlewareOption []Middleware

func (o middlewareOption) applyBroker(c *brokerConfig) {
	c.middleware = append(c.middleware[:len(c.middleware):len(c.middleware)], o...)
}

func (o middlewareOption) applyConsume(c *consumeConfig) {
	c.middleware = append(c.middleware[:len(c.middleware):len(c.middleware)], o...)
}

// wrapHandler returns h wrapped in the broker's middleware and then own,
// the consumer's, in the order WithMiddleware documents.
func (b *Broker) wrapHandler(h Handler, own []Middleware) (Handler, error) {
	mws := slices.Concat(b.cfg.middleware, own)
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i] == nil {
			return nil, invalidf("nil middleware")
		}
		if h = mws[i](h); h == nil {
			return nil, invalidf("middleware returned a nil handler")
		}
	}
	return h, nil
}

// Timeout returns middleware that gives the rest of the chain a context
// with a deadline d after the middleware is entered, cancelled when it
// returns. Inside [Retry] each try gets its own d; outside, d bounds all
// the tries and the waits between them. A handler that ignores its context
// is not stopped: Timeout returns whatever the handler returns, so a
// handler that returns ctx.Err() is nacked. d <= 0 sets no deadline.
func Timeout(d time.Duration) Middleware {
	return func(next Handler) Handler {
		if d <= 0 {
			return next
		}
		return func(ctx context.Context, dl *Delivery) error {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next(ctx, dl)
		}
	}
}

// Retry defaults.
const (
	defaultRetryAttempts   = 3
	defaultRetryInitial    = 100 * time.Millisecond
	defaultRetryMax        = 10 * time.Second
	defaultRetryMultiplier = 2
	defaultRetryJitter     = 0.2
)

// RetryOption configures [Retry].
type RetryOption interface{ applyRetry(*retryConfig) }

type retryConfig struct {
	attempts   int
	initial    time.Duration
	max        time.Duration
	multiplier float64
	jitter     float64
}

// Retry returns middleware that calls the rest of the chain again, in
// place, while it returns an error that is not [Permanent]: the same
// delivery (same Attempt), on the same goroutine, after a back-off. It
// returns the first nil or permanent error, or the last error once the
// attempts are used up (which nacks the delivery, so the queue's own
// redelivery takes over). It stops early, returning the last error, when
// the chain settled the delivery itself or when ctx ends during a wait;
// the waits use a timer, not a sleep, so a cancelled consumer stops at
// once. A panic is not retried unless [Recover] is placed inside Retry.
//
// The defaults, each changed by an option: 3 calls in all
// ([RetryAttempts]); waits from 100ms, multiplied by 2 after each
// ([RetryMultiplier]) up to 10s ([RetryBackoff]), each randomised by ±20%
// ([RetryJitter]) so that consumers that fail together do not retry in
// lockstep.
//
// In-place retry or queue redelivery? Retry keeps the message's place and
// order (the next message waits behind it) and keeps the delivery, with no
// new attempt counted; but the consumer is held for the whole back-off,
// doing nothing else. It suits brief, transient faults (a lock, a
// reconnect) on consumers where order matters. Returning the error to the
// queue instead (see [WithBackoff], [WithMaxDeliveries]) frees the
// consumer at once, sends the message to the back of the queue, counts
// each attempt in Delivery.Attempt and Stats, survives a consumer's
// restart, and dead-letters the message after its max deliveries: the
// choice for long or unknown outages. They combine: each queue delivery
// gets up to RetryAttempts calls.
func Retry(opts ...RetryOption) Middleware {
	cfg := retryConfig{
		attempts:   defaultRetryAttempts,
		initial:    defaultRetryInitial,
		max:        defaultRetryMax,
		multiplier: defaultRetryMultiplier,
		jitter:     defaultRetryJitter,
	}
	for _, o := range opts {
		if o != nil {
			o.applyRetry(&cfg)
		}
	}
	return func(next Handler) Handler {
		return func(ctx context.Context, d *Delivery) error {
			wait := cfg.initial
			for try := 1; ; try++ {
				err := next(ctx, d)
				if err == nil || try >= cfg.attempts || isPermanent(err) ||
					(d != nil && d.settled() != settledNone) || ctx.Err() != nil {
					return err
				}
				t := time.NewTimer(cfg.randomise(wait))
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return err
				}
				wait = time.Duration(min(float64(wait)*cfg.multiplier, float64(cfg.max)))
			}
		}
	}
}

// randomise returns wait moved by up to ±jitter of itself.
func (c *retryConfig) randomise(wait time.Duration) time.Duration {
	if c.jitter == 0 || wait <= 0 {
		return wait
	}
	return time.Duration(float64(wait) * (1 + c.jitter*(2*rand.Float64()-1)))
}

// RetryAttempts sets how many times [Retry] calls the handler for one
// delivery, the first call included. Default 3; n < 1 is taken as 1 (no
// retry). Given twice, the last wins.
func RetryAttempts(n int) RetryOption { return retryAttemptsOption(n) }

type retryAttemptsOption int

func (o retryAttemptsOption) applyRetry(c *retryConfig) { c.attempts = max(int(o), 1) }

// RetryBackoff sets [Retry]'s first wait, initial, and the longest, max.
// Default 100ms and 10s. A negative initial is taken as 0 (retry at once),
// and a max below initial as initial. Given twice, the last wins.
func RetryBackoff(initial, max time.Duration) RetryOption {
	return retryBackoffOption{initial, max}
}

type retryBackoffOption struct{ initial, max time.Duration }

func (o retryBackoffOption) applyRetry(c *retryConfig) {
	c.initial = max(o.initial, 0)
	c.max = max(o.max, c.initial)
}

// RetryMultiplier sets by how much each of [Retry]'s waits exceeds the
// one before, up to the max of [RetryBackoff]. Default 2; m < 1 (or NaN)
// is taken as 1: every wait is the initial one. Given twice, the last
// wins.
func RetryMultiplier(m float64) RetryOption { return retryMultiplierOption(m) }

type retryMultiplierOption float64

func (o retryMultiplierOption) applyRetry(c *retryConfig) {
	c.multiplier = float64(o)
	if !(c.multiplier >= 1) || math.IsInf(c.multiplier, 1) {
		c.multiplier = 1
	}
}

// RetryJitter sets the fraction f by which each of [Retry]'s waits is
// randomised: a wait w becomes a uniformly random duration between
// w×(1−f) and w×(1+f). Default 0.2; 0 makes the waits exact; f is clamped
// to [0, 1]. Given twice, the last wins.
func RetryJitter(f float64) RetryOption { return retryJitterOption(f) }

type retryJitterOption float64

func (o retryJitterOption) applyRetry(c *retryConfig) {
	c.jitter = float64(o)
	if !(c.jitter > 0) {
		c.jitter = 0
	}
	c.jitter = min(c.jitter, 1)
}

// Logging returns middleware that logs each delivery's outcome through l
// (slog.Default() when l is nil): "delivery handled" at Debug when the
// rest of the chain returns nil, "delivery failed" at Warn when it returns
// an error, with the attributes source (the queue or subscription, see
// [Delivery.Source]), id (the message ID), attempt (the delivery's
// Attempt), duration (the time the rest of the chain took) and, on
// failure, error. A panic passes through unlogged unless [Recover] is
// placed inside Logging. Inside [Retry], each try is logged.
func Logging(l *slog.Logger) Middleware {
	return func(next Handler) Handler {
		log := l
		if log == nil {
			log = slog.Default()
		}
		return func(ctx context.Context, d *Delivery) error {
			start := time.Now()
			err := next(ctx, d)
			var source, id string
			var attempt int
			if d != nil {
				source = d.Source()
				if d.Message != nil {
					id, attempt = d.ID, d.Attempt
				}
			}
			if err == nil {
				if log.Enabled(ctx, slog.LevelDebug) {
					log.LogAttrs(ctx, slog.LevelDebug, "delivery handled", slog.String("source", source),
						slog.String("id", id), slog.Int("attempt", attempt),
						slog.Duration("duration", time.Since(start)))
				}
				return nil
			}
			log.LogAttrs(ctx, slog.LevelWarn, "delivery failed", slog.String("source", source),
				slog.String("id", id), slog.Int("attempt", attempt),
				slog.Duration("duration", time.Since(start)), slog.Any("error", err))
			return err
		}
	}
}

// Recover returns middleware that turns a panic in the rest of the chain
// into a returned *[PanicError] carrying the panic value and stack, which
// nacks the delivery as any error does. herald already recovers a panic
// around the whole chain, so Recover is needed only to recover inside
// other middleware: placed inside [Logging] it makes the panic logged as
// an error, inside [Retry] it makes the panic retried.
func Recover() Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, d *Delivery) (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = &PanicError{Value: r, Stack: debug.Stack()}
				}
			}()
			return next(ctx, d)
		}
	}
}
