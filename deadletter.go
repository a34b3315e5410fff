package herald

import (
	"context"
	"log/slog"
	"strconv"
	"time"
)

// Headers herald sets on a dead-lettered message, like RabbitMQ's x-death.
const (
	HeaderDeathQueue    = "x-death-queue"    // the queue the message died in
	HeaderDeathReason   = "x-death-reason"   // one of the Reason* constants
	HeaderDeathAttempts = "x-death-attempts" // deliveries before it died
	HeaderDeathTime     = "x-death-time"     // when it died, RFC 3339
	HeaderDeathError    = "x-death-error"    // the handler's error, if any
)

// Reasons a message dies, as set in HeaderDeathReason.
const (
	ReasonRejected      = "rejected"       // Reject, or a Permanent handler error
	ReasonDeliveryLimit = "delivery-limit" // nacked or timed out at max deliveries
	ReasonExpired       = "expired"        // its TTL passed before delivery
	ReasonMaxLen        = "maxlen"         // dropped by the overflow policy
)

// How a message ended, for counting.
type ending uint8

const (
	endRejected ending = iota // by a settlement, counted by the caller
	endLimited                // at max deliveries, counted by the caller
	endExpired
	endDropped
)

// end counts a message's ending and dead-letters it when the queue has a
// destination for that. It must be called without q.mu held: publishing the
// dead letter takes the destination's lock.
func (q *Queue) end(e entry, how ending, reason string, cause error) {
	switch how {
	case endExpired:
		q.expired.Add(1)
	case endDropped:
		q.dropped.Add(1)
	}
	if q.cfg.deadLetter == "" {
		return
	}
	dead := e.m.clone()
	dead.Headers[HeaderDeathQueue] = q.name
	dead.Headers[HeaderDeathReason] = reason
	dead.Headers[HeaderDeathAttempts] = strconv.Itoa(int(e.attempt))
	dead.Headers[HeaderDeathTime] = time.Now().Format(time.RFC3339Nano)
	if cause != nil {
		dead.Headers[HeaderDeathError] = cause.Error()
	}
	// The dead letter keeps its ID, but its age restarts: it is a new
	// message in its new home, as in RabbitMQ.
	dead.TTL, dead.Delay = 0, 0
	if err := q.b.publishInternal(context.Background(), q.cfg.deadLetter, dead); err != nil {
		q.deadLetterFailed.Add(1)
		q.b.log(slog.LevelWarn, "dead letter lost", "queue", q.name, "destination", q.cfg.deadLetter,
			"id", e.m.ID, "reason", reason, "error", err)
		return
	}
	q.deadLettered.Add(1)
}
