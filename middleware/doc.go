// Package middleware holds ready-made [herald.Middleware]: [Timeout],
// [Retry], [Logging] and [Recover]. Install them with
// herald.WithMiddleware, on a broker (around every consumer's handler) or
// on one Consume call:
//
//	b := herald.New(herald.WithMiddleware(middleware.Logging(nil), middleware.Recover()))
//	err := q.Consume(ctx, h, herald.WithMiddleware(
//		middleware.Retry(middleware.RetryPolicy{Attempts: 5})))
//
// In each list the first middleware given is the outermost, and the
// order changes what they do: [Recover] inside [Logging] makes a panic
// logged as an error, inside [Retry] makes it retried; [Timeout] inside
// Retry bounds each try, outside it bounds all the tries and the waits
// between them.
//
// Retry calls a failing handler again in place, on the same delivery.
// That is not the queue's redelivery, which herald.WithBackoff and
// herald.WithMaxDeliveries configure: Retry's doc says when to use which.
package middleware
