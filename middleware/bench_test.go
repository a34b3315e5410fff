package middleware

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/heraldmq/herald"
)

// BenchmarkMiddleware measures what each middleware adds to a handler call
// that succeeds, against the bare handler: Retry, Logging (below Debug)
// and Recover allocate nothing; Timeout allocates the context it makes.
func BenchmarkMiddleware(b *testing.B) {
	ctx := context.Background()
	var n int
	h := func(context.Context, *herald.Delivery) error { n++; return nil }
	quiet := slog.New(slog.DiscardHandler)
	for _, bc := range []struct {
		name string
		mws  []herald.Middleware
	}{
		{"plain", nil},
		{"Retry", []herald.Middleware{Retry(RetryPolicy{})}},
		{"Logging", []herald.Middleware{Logging(quiet)}},
		{"Recover", []herald.Middleware{Recover()}},
		{"Timeout", []herald.Middleware{Timeout(time.Minute)}},
		{"all", []herald.Middleware{Logging(quiet), Recover(), Retry(RetryPolicy{}), Timeout(time.Minute)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			wrapped := herald.Handler(h)
			for i := len(bc.mws) - 1; i >= 0; i-- {
				wrapped = bc.mws[i](wrapped)
			}
			d := bare(1)
			for b.Loop() {
				if err := wrapped(ctx, d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
