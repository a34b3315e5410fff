package middleware

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"time"

	"github.com/heraldmq/herald"
)

// RetryPolicy says how often and after which waits [Retry] calls a failing
// handler again. The zero RetryPolicy is the default policy, and in each
// field 0 means that field's default, so a policy names only what it
// changes: RetryPolicy{Attempts: 5}. A value out of range is brought into
// range as its field says, never an error or a panic.
//
// The waits grow from InitialWait, multiplied by Multiplier after each, up
// to MaxWait, each randomised by ±Jitter: by default 100ms, 200ms, 400ms
// ... up to 10s, ±20%.
type RetryPolicy struct {
	// Attempts is how many times Retry calls the handler for one
	// delivery, the first call included. 0 means 3; 1, or less, means no
	// retry.
	Attempts int
	// InitialWait is the wait before the first retry. 0 means 100ms; a
	// negative value means no waits: every retry follows at once.
	InitialWait time.Duration
	// MaxWait is the longest wait. 0 means 10s; a value below InitialWait
	// means InitialWait, so every wait is InitialWait.
	MaxWait time.Duration
	// Multiplier is by how much each wait exceeds the one before, up to
	// MaxWait. 0 means 2; a value below 1, or NaN, means 1: every wait is
	// InitialWait; +Inf makes every wait after the first MaxWait.
	Multiplier float64
	// Jitter is the fraction by which each wait is randomised, so that
	// consumers that fail together do not retry in lockstep: a wait w
	// becomes a uniformly random duration between w×(1−Jitter) and
	// w×(1+Jitter). 0 means 0.2; a negative value, or NaN, means none
	// (exact waits); a value above 1 means 1.
	Jitter float64
}

// The defaults of RetryPolicy's fields.
const (
	defaultAttempts    = 3
	defaultInitialWait = 100 * time.Millisecond
	defaultMaxWait     = 10 * time.Second
	defaultMultiplier  = 2
	defaultJitter      = 0.2
)

// resolved returns p with its defaults filled in and every field brought
// into range, as RetryPolicy documents.
func (p RetryPolicy) resolved() RetryPolicy {
	if p.Attempts == 0 {
		p.Attempts = defaultAttempts
	}
	p.Attempts = max(p.Attempts, 1)
	switch {
	case p.InitialWait == 0:
		p.InitialWait = defaultInitialWait
	case p.InitialWait < 0:
		p.InitialWait = 0
	}
	if p.MaxWait == 0 {
		p.MaxWait = defaultMaxWait
	}
	p.MaxWait = max(p.MaxWait, p.InitialWait)
	switch {
	case p.Multiplier == 0:
		p.Multiplier = defaultMultiplier
	case !(p.Multiplier >= 1): // NaN too
		p.Multiplier = 1
	}
	switch {
	case p.Jitter == 0:
		p.Jitter = defaultJitter
	case !(p.Jitter > 0): // NaN too
		p.Jitter = 0
	}
	p.Jitter = min(p.Jitter, 1)
	return p
}

// next returns the wait after wait: Multiplier times longer, at most
// MaxWait. p is resolved.
func (p *RetryPolicy) next(wait time.Duration) time.Duration {
	if wait == 0 {
		return 0 // no waits at all (and no 0×Inf)
	}
	if w := float64(wait) * p.Multiplier; w < float64(p.MaxWait) {
		return time.Duration(w)
	}
	return p.MaxWait
}

// randomise returns wait moved by up to ±Jitter of itself. p is resolved.
func (p *RetryPolicy) randomise(wait time.Duration) time.Duration {
	if p.Jitter == 0 || wait == 0 {
		return wait
	}
	w := float64(wait) * (1 + p.Jitter*(2*rand.Float64()-1))
	if w >= math.MaxInt64 { // a conversion out of range is not defined
		return math.MaxInt64
	}
	return time.Duration(w)
}

// Retry returns middleware that calls the rest of the chain again, in
// place, while it returns an error that is not [herald.Permanent]: the
// same delivery (same Attempt), on the same goroutine, after the waits of
// p (see [RetryPolicy]; the zero policy is 3 calls, 100ms then 200ms apart,
// ±20%). It returns the first nil or permanent error, or the last error
// once the attempts are used up (which nacks the delivery, so the queue's
// own redelivery takes over). It stops early, returning the last error,
// when the chain settled the delivery itself (see
// [herald.Delivery.Settled]) or when ctx ends: no call follows, and a
// wait under way ends at once (the waits use a timer, not a sleep, so a
// cancelled consumer stops at once). A panic is not retried unless [Recover] is placed inside
// Retry.
//
// In-place retry or queue redelivery? Retry keeps the message's place and
// order (the next message waits behind it) and keeps the delivery, with no
// new attempt counted; but the consumer is held for the whole back-off,
// doing nothing else. It suits brief, transient faults (a lock, a
// reconnect) on consumers where order matters. Returning the error to the
// queue instead (see [herald.WithBackoff] and [herald.WithMaxDeliveries])
// frees the consumer at once, sends the message to the back of the queue,
// counts each attempt in Delivery.Attempt and Stats, survives a consumer's
// restart, and dead-letters the message after its max deliveries: the
// choice for long or unknown outages. They combine: each queue delivery
// gets up to p.Attempts calls.
func Retry(p RetryPolicy) herald.Middleware {
	p = p.resolved()
	return func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) error {
			wait := p.InitialWait
			for try := 1; ; try++ {
				err := next(ctx, d)
				if err == nil || try >= p.Attempts || isPermanent(err) ||
					(d != nil && d.Settled()) || ctx.Err() != nil {
					return err
				}
				t := time.NewTimer(p.randomise(wait))
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return err
				}
				wait = p.next(wait)
			}
		}
	}
}

func isPermanent(err error) bool {
	var perm *herald.PermanentError
	return errors.As(err, &perm)
}
