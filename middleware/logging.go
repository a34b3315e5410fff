package middleware

import (
	"context"
	"log/slog"
	"time"

	"github.com/heraldmq/herald"
)

// Logging returns middleware that logs each delivery's outcome through l
// (slog.Default() when l is nil): "delivery handled" at Debug when the
// rest of the chain returns nil, "delivery failed" at Warn when it returns
// an error, with the attributes source (the queue or subscription, see
// [herald.Delivery.Source]), id (the message ID), attempt (the delivery's
// Attempt), duration (the time the rest of the chain took) and, on
// failure, error. A panic passes through unlogged unless [Recover] is
// placed inside Logging. Inside [Retry], each try is logged.
func Logging(l *slog.Logger) herald.Middleware {
	return func(next herald.Handler) herald.Handler {
		log := l
		if log == nil {
			log = slog.Default()
		}
		return func(ctx context.Context, d *herald.Delivery) error {
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
