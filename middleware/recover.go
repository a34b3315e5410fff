package middleware

import (
	"context"
	"runtime/debug"

	"github.com/heraldmq/herald"
)

// Recover returns middleware that turns a panic in the rest of the chain
// into a returned *[herald.PanicError] carrying the panic value and stack,
// which nacks the delivery as any error does. herald already recovers a
// panic around the whole chain, so Recover is needed only to recover
// inside other middleware: placed inside [Logging] it makes the panic
// logged as an error, inside [Retry] it makes the panic retried.
func Recover() herald.Middleware {
	return func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = &herald.PanicError{Value: r, Stack: debug.Stack()}
				}
			}()
			return next(ctx, d)
		}
	}
}
