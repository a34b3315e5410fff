package herald

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
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
	endLimited
	endExpired
	endDropped
)

// endings counts how messages ended in one place (a queue or a
// subscription) and dead-letters them to that place's destination.
type endings struct {
	b          *Broker
	place      string // set in HeaderDeathQueue
	dest       string // the dead-letter destination's name; "" for none
	key        string // the dead letters' routing key, if replaceKey
	replaceKey bool

	limited          atomic.Uint64 // reached max deliveries
	expired          atomic.Uint64
	dropped          atomic.Uint64
	deadLettered     atomic.Uint64
	deadLetterFailed atomic.Uint64
}

func newEndings(b *Broker, place string, c redeliveryConfig) endings {
	return endings{b: b, place: place, dest: c.deadLetter, key: c.deadLetterKey, replaceKey: c.replaceKey}
}

// end counts a message's ending and dead-letters it when there is a
// destination for that. It must be called with no lock held: publishing the
// dead letter takes the destination's lock.
func (x *endings) end(e entry, how ending, reason string, cause error) {
	x.count(how, 1)
	x.deadLetter(context.Background(), e, reason, cause)
}

// count counts n messages that ended as how. A queue counts under its
// lock, in the critical section that takes the messages out, so that its
// Stats never see them in no state.
func (x *endings) count(how ending, n uint64) {
	switch how {
	case endLimited:
		x.limited.Add(n)
	case endExpired:
		x.expired.Add(n)
	case endDropped:
		x.dropped.Add(n)
	}
}

// deadLetter publishes e's dead letter, if the place has a destination.
// It must be called with no lock held.
func (x *endings) deadLetter(ctx context.Context, e entry, reason string, cause error) {
	if x.dest == "" {
		return
	}
	dead := e.m.clone()
	dead.Headers[HeaderDeathQueue] = x.place
	dead.Headers[HeaderDeathReason] = reason
	dead.Headers[HeaderDeathAttempts] = strconv.Itoa(int(e.attempt))
	dead.Headers[HeaderDeathTime] = time.Now().Format(time.RFC3339Nano)
	if cause != nil {
		dead.Headers[HeaderDeathError] = cause.Error()
	}
	// The dead letter keeps its ID, but its age restarts: it is a new
	// message in its new home, as in RabbitMQ.
	dead.TTL, dead.Delay = 0, 0
	if x.replaceKey {
		dead.Key = x.key
	}
	if err := x.b.publishInternal(ctx, x.dest, dead); err != nil {
		x.deadLetterFailed.Add(1)
		x.b.log(slog.LevelWarn, "dead letter lost", "from", x.place, "destination", x.dest,
			"id", e.m.ID, "reason", reason, "error", err)
		return
	}
	x.deadLettered.Add(1)
}
