package heraldwm

import (
	"context"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/heraldmq/herald"
)

// PublisherConfig configures a [Publisher].
type PublisherConfig struct {
	// TopicOptions are passed to herald's Broker.Topic when the publisher
	// declares a topic it publishes to for the first time, for instance
	// herald.WithCapacity and herald.WithOverflow. A topic that is already
	// declared keeps the options it was declared with. Default: none
	// (herald's defaults: 1024 retained messages, OverflowBlock).
	TopicOptions []herald.TopicOption
}

// Publisher publishes Watermill messages to herald topics. It implements
// message.Publisher; create one with [NewPublisher]. It is safe for
// concurrent use.
type Publisher struct {
	topics topics
	logger watermill.LoggerAdapter

	ctx       context.Context // cancelled by Close, to wake blocked publishes
	cancel    context.CancelFunc
	closeOnce sync.Once
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a publisher to the topics of b. A nil logger logs
// nothing. The publisher does not own b: closing it leaves b open.
func NewPublisher(b *herald.Broker, cfg PublisherConfig, logger watermill.LoggerAdapter) (*Publisher, error) {
	if b == nil {
		return nil, fmt.Errorf("heraldwm: nil broker: %w", herald.ErrInvalid)
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Publisher{
		topics: topics{b: b, opts: cfg.TopicOptions},
		logger: logger,
		ctx:    ctx,
		cancel: cancel,
	}, nil
}

// Publish publishes msgs, in order, to the herald topic called topic,
// declaring it on first use. Each becomes a herald message with the
// message's UUID as ID, a copy of its Metadata as Headers and its Payload as
// Body; the payload is shared, not copied, so it must not be changed after
// Publish.
//
// Publish blocks as herald's Topic.Publish does: under OverflowBlock, while
// the slowest subscription or consumer group of the topic is a whole ring
// behind, until there is room, the message's context ends, or the publisher
// or broker closes. It stops at the first message that fails and returns its
// error, which wraps herald's (ErrClosed, ErrFull, ErrInvalid for a topic name
// herald refuses, a context error).
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	if p.ctx.Err() != nil {
		return fmt.Errorf("heraldwm: publisher closed: %w", herald.ErrClosed)
	}
	t, err := p.topics.get(topic)
	if err != nil {
		return err
	}
	for _, msg := range msgs {
		if err := p.publish(t, msg); err != nil {
			return fmt.Errorf("heraldwm: publish %s to %q: %w", msg.UUID, topic, err)
		}
	}
	return nil
}

func (p *Publisher) publish(t *herald.Topic, msg *message.Message) error {
	// Body is a plain []byte, not message.Payload, so that herald consumers
	// (typed handlers, codecs) see bytes.
	hm := &herald.Message{ID: msg.UUID, Body: []byte(msg.Payload)}
	if len(msg.Metadata) > 0 {
		hm.Headers = make(herald.Headers, len(msg.Metadata))
		for k, v := range msg.Metadata {
			hm.Headers[k] = v
		}
	}
	ctx := p.ctx
	// A message's context is usually Background; merge it only when it can
	// end, so the common publish allocates no context.
	if mctx := msg.Context(); mctx.Done() != nil {
		c, cancel := context.WithCancel(mctx)
		defer cancel()
		defer context.AfterFunc(p.ctx, cancel)()
		ctx = c
	}
	err := t.Publish(ctx, hm)
	if err != nil && p.ctx.Err() != nil {
		return fmt.Errorf("publisher closed: %w", herald.ErrClosed)
	}
	return err
}

// Close closes the publisher: publishes blocked on a full topic return
// an error wrapping herald.ErrClosed, and so do later ones. It does not
// close the broker. Close is idempotent and returns nil.
func (p *Publisher) Close() error {
	p.closeOnce.Do(p.cancel)
	return nil
}
