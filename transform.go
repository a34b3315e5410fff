package herald

import (
	"fmt"
)

// Transform turns a message into the one a destination or consumer wants,
// so that producers and consumers need not agree on a body's format: a
// version upgrade, a field renamed, bytes decoded. It must not change m,
// which others share, but return a new message (a shallow copy with a new
// Body is enough). Fields left empty are filled in as by publish.
//
// Attach one with [WithTransform]. A transform that returns an error, or
// panics, fails the message with an error wrapping ErrTransform: at
// publish time (a queue's, a binding's) the publisher gets the error; at
// delivery time (a subscription's) the message is rejected and
// dead-lettered with the error in HeaderDeathError.
//
// A transform runs on the goroutine of whoever publishes: for a dead
// letter of an expired or timed-out message, herald's scheduler. It runs
// with no lock held, so it may publish and may call [Broker.Close]; it
// must not call [Broker.Shutdown], which would wait for it.
type Transform func(m *Message) (*Message, error)

// TransformOption is WithTransform's option: it fits queues,
// subscriptions and bindings.
type TransformOption interface {
	QueueOption
	SubscribeOption
	BindOption
}

// WithTransform attaches fn where messages enter: a queue (run as each
// message is published to it, on the publisher's goroutine), a topic
// subscription (run as each message is delivered to it, on the consumer's)
// or an exchange binding to a queue or topic (run as the exchange routes
// to that destination; when several bindings lead to one destination, the
// earliest one's transform applies). Default: none. Given twice, the last
// wins. Functions cannot be compared, so declaring a queue again, or
// binding (dest, key) again, where either declaration has a transform, is
// ErrExists: use [Broker.LookupQueue] to get a queue declared with one.
func WithTransform(fn Transform) TransformOption { return transformOption(fn) }

type transformOption Transform

func (o transformOption) applyQueue(c *queueConfig)         { c.transform = Transform(o) }
func (o transformOption) applySubscribe(c *subscribeConfig) { c.transform = Transform(o) }
func (o transformOption) applyBind(c *bindConfig)           { c.transform = Transform(o) }

// transform runs fn on m, turning a failure, a panic or a nil result into
// an error wrapping ErrTransform.
func (b *Broker) transform(fn Transform, m *Message) (out *Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: panic: %v", ErrTransform, r)
		}
	}()
	out, err = fn(m)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", ErrTransform, err)
	case out == nil:
		return nil, fmt.Errorf("%w: returned no message", ErrTransform)
	}
	out.stamp(b.wall)
	return out, nil
}

// transformDelivery runs the subscription's transform on d. If it fails, d
// is rejected with the error, so dead-lettered, and false returned.
func (b *Broker) transformDelivery(fn Transform, d *Delivery) bool {
	out, err := b.transform(fn, d.Message)
	if err != nil {
		d.settle(settledReject, err)
		return false
	}
	// Settling requeues or dead-letters what was published, not the
	// transformed copy, so a redelivery is transformed afresh.
	d.orig, d.Message = d.Message, out
	return true
}
