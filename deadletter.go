package herald

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
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
	// HeaderDeathPath lists, comma-separated and oldest first, the queues
	// a message died in by itself (expired or dropped by overflow) since a
	// consumer last rejected it or reached its max deliveries. A dead
	// letter bound for one of them would go round a cycle with nobody to
	// stop it: herald drops it instead, counts it in the DeadLetterFailed
	// of the queue it died in last and logs it, as RabbitMQ does. A
	// transform that returns a message without this header lets a cycle
	// through it go on.
	HeaderDeathPath = "x-death-path"
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
	where      Place       // for observers; see observe.go
	dur        durableEnds // a Durable queue's or group's log; see durable_queue.go

	limited          atomic.Uint64 // reached max deliveries
	expired          atomic.Uint64
	dropped          atomic.Uint64
	deadLettered     atomic.Uint64
	deadLetterFailed atomic.Uint64
}

func newEndings(b *Broker, place string, c redeliveryConfig) endings {
	return endings{b: b, place: place, dest: c.deadLetter, key: c.deadLetterKey, replaceKey: c.replaceKey,
		where: Place{Name: place, Kind: "queue"}}
}

// end counts a message's ending and dead-letters it when there is a
// destination for that. It must be called with no lock held: publishing the
// dead letter takes the destination's lock.
func (x *endings) end(e entry, how ending, reason string, cause error) {
	x.count(how, 1)
	x.deadLetter(context.Background(), e, how, reason, cause)
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

// deadLetter publishes e's dead letter, if the place has a destination,
// and reports e's ending to an observer. It must be called with no lock
// held.
//
// A dead letter can make another message die: it overflows its
// destination, which drops one and dead-letters it, and so on. Those are
// published one after the other by the outermost deadLetter call, which
// they reach through ctx, rather than each inside the one before: the
// stack stays flat however long the chain.
func (x *endings) deadLetter(ctx context.Context, e entry, how ending, reason string, cause error) {
	if x.dest == "" {
		x.observeEnd(e, how, reason, cause, nil)
		return
	}
	p := pendingDead{x: x, e: e, how: how, dead: x.letter(e, reason, cause), reason: reason, cause: cause}
	if run, ok := ctx.Value(deadRunKey{}).(*deadRun); ok {
		run.pending = append(run.pending, p)
		return
	}
	if ctx.Value(onSchedulerKey{}) != nil {
		x.b.userOnScheduler.Add(1) // transforms may run; see Broker.Close
		defer x.b.userOnScheduler.Add(-1)
	}
	run := new(deadRun)
	ctx = context.WithValue(context.WithoutCancel(ctx), deadRunKey{}, run)
	p.send(ctx)
	for i := 0; i < len(run.pending); i++ { // sending may add more
		next := run.pending[i]
		run.pending[i] = pendingDead{}
		next.send(ctx)
	}
}

// letter returns e's dead letter: a copy of its message with the death
// headers.
func (x *endings) letter(e entry, reason string, cause error) *Message {
	dead := e.m.clone()
	path := ""
	if reason == ReasonExpired || reason == ReasonMaxLen {
		// It died by itself: one step further along a possible cycle.
		path = x.place
		if p := e.m.Headers[HeaderDeathPath]; p != "" {
			path = p + "," + x.place
		}
	}
	if path != "" {
		dead.Headers[HeaderDeathPath] = path
	} else {
		delete(dead.Headers, HeaderDeathPath) // a consumer had its say
	}
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
	return dead
}

// send publishes a dead letter, counts the outcome and reports it.
func (p pendingDead) send(ctx context.Context) {
	x, dead := p.x, p.dead
	err := x.b.publishInternal(ctx, x.dest, dead)
	switch {
	case err == nil:
		x.deadLettered.Add(1)
	case errors.Is(err, errDeadLetterCycle):
		x.b.log(slog.LevelWarn, "dead letter dropped: it would cycle back to a queue it died in",
			"from", x.place, "destination", x.dest, "id", dead.ID, "reason", p.reason,
			"path", dead.Headers[HeaderDeathPath], "error", err)
	default:
		x.b.log(slog.LevelWarn, "dead letter lost", "from", x.place, "destination", x.dest,
			"id", dead.ID, "reason", p.reason, "error", err)
	}
	if err != nil {
		x.deadLetterFailed.Add(1)
	}
	x.observeEnd(p.e, p.how, p.reason, p.cause, err)
}

// deadRun holds the dead letters that arose while the outermost
// deadLetter call of a goroutine was publishing one; see deadLetter.
type deadRun struct{ pending []pendingDead }

type deadRunKey struct{}

// pendingDead is a dead letter to send, with what its observer hears.
type pendingDead struct {
	x      *endings
	e      entry
	how    ending
	dead   *Message
	reason string
	cause  error
}

// errDeadLetterCycle refuses a dead letter bound for a queue it died in.
var errDeadLetterCycle = errors.New("herald: dead letter would cycle")

// cycles reports whether m, put with ctx, is a dead letter that would go
// back to the place called name, where it already died by itself.
func cycles(ctx context.Context, m *Message, name string) bool {
	if ctx.Value(deadRunKey{}) == nil {
		return false
	}
	for path := m.Headers[HeaderDeathPath]; path != ""; {
		var p string
		p, path, _ = strings.Cut(path, ",")
		if p == name {
			return true
		}
	}
	return false
}
