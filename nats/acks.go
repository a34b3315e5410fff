package heraldnats

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/heraldmq/herald"
	"github.com/nats-io/nats.go/jetstream"
)

// HeaderAckToken is the herald header that ties a message imported with
// AckWhenHandled to the JetStream message it came from, for
// Bridge.AckMiddleware.
const HeaderAckToken = "Herald-Ack-Token"

// AckMiddleware returns the herald middleware that settles the JetStream
// messages of imports made with AckWhenHandled once a herald handler has
// handled them (see AckWhenHandled for what each outcome does). Install it
// on the consumers of the import's destination, innermost, so that it sees
// the handler's own result:
//
//	q.Consume(ctx, h, herald.WithMiddleware(br.AckMiddleware()))
//
// Deliveries of other messages pass through untouched. A handler under it
// should not settle its delivery itself: if it does, a nil result still acks
// the JetStream message.
func (br *Bridge) AckMiddleware() herald.Middleware {
	return func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) error {
			tok, ok := d.Headers[HeaderAckToken]
			if !ok {
				return next(ctx, d)
			}
			err := next(ctx, d)
			p, ok := br.acks.take(tok)
			if !ok {
				return err // expired: JetStream redelivers it, or already settled
			}
			var perm *herald.PermanentError
			switch {
			case err == nil:
				d.Ack()
				if p.msg.Ack() == nil {
					p.r.c.acked.Add(1)
				}
			case errors.As(err, &perm):
				p.r.c.failed.Add(1)
				p.msg.TermWithReason(err.Error())
			default:
				// JetStream owns the retries: hand the message back.
				p.r.c.failed.Add(1)
				d.Ack()
				p.msg.NakWithDelay(p.nakDelay)
			}
			return err
		}
	}
}

// ackRegistry holds the JetStream messages imported with AckWhenHandled
// until a handler has handled them, or until their AckWait has passed
// (JetStream has redelivered them by then, under a new token).
type ackRegistry struct {
	mu      sync.Mutex
	next    uint64
	pending map[string]pendingAck // guarded by mu
	order   []expiringToken       // guarded by mu; by expiry
}

type pendingAck struct {
	msg      jetstream.Msg
	r        *Route
	nakDelay time.Duration
}

type expiringToken struct {
	token   string
	expires time.Time
}

func newAckRegistry() *ackRegistry {
	return &ackRegistry{pending: map[string]pendingAck{}}
}

func (a *ackRegistry) register(p pendingAck, ackWait time.Duration) string {
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for len(a.order) > 0 && now.After(a.order[0].expires) {
		delete(a.pending, a.order[0].token)
		a.order = a.order[1:]
	}
	a.next++
	tok := strconv.FormatUint(a.next, 36)
	a.pending[tok] = p
	a.order = append(a.order, expiringToken{tok, now.Add(ackWait)})
	return tok
}

func (a *ackRegistry) take(tok string) (pendingAck, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.pending[tok]
	delete(a.pending, tok)
	return p, ok
}

func (a *ackRegistry) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.pending)
}
