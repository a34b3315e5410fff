package herald

import "slices"

// Middleware wraps a [Handler] to add behaviour around every delivery it
// handles: it returns the handler to run instead, which usually calls the
// one it was given. Install middleware with [WithMiddleware]; package
// [github.com/heraldmq/herald/middleware] has some ready to use.
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
// herald recovers a panic around the whole chain (see [Handler]). Package
// middleware has middleware ready to use: Timeout, Retry, Logging and
// Recover, the last to recover inside the chain.
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
