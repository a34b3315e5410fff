package middleware

import (
	"context"
	"time"

	"github.com/heraldmq/herald"
)

// Timeout returns middleware that gives the rest of the chain a context
// with a deadline d after the middleware is entered, cancelled when it
// returns. Inside [Retry] each try gets its own d; outside, d bounds all
// the tries and the waits between them. A handler that ignores its context
// is not stopped: Timeout returns whatever the handler returns, so a
// handler that returns ctx.Err() is nacked. d <= 0 sets no deadline.
func Timeout(d time.Duration) herald.Middleware {
	return func(next herald.Handler) herald.Handler {
		if d <= 0 {
			return next
		}
		return func(ctx context.Context, dl *herald.Delivery) error {
			ctx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			return next(ctx, dl)
		}
	}
}
