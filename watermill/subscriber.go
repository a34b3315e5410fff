package heraldwm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/heraldmq/herald"
)

// SubscriberConfig configures a [Subscriber].
type SubscriberConfig struct {
	// ConsumerGroup, when not empty, makes every Subscribe call a member of
	// the herald subscription group of that name on the topic: members, in
	// this subscriber or in others with the same group, share the topic's
	// messages, each message handled by one of them. A group lives as long
	// as its topic and keeps the messages published while it has no member,
	// within the topic's capacity and overflow policy. Default "": every
	// Subscribe call is a plain subscription that gets every message.
	ConsumerGroup string

	// FromEarliest starts each plain subscription, and each consumer group
	// when it is created, at the oldest message the topic retains instead of
	// the next one published, so that a subscriber also gets what was
	// published before it subscribed (within the topic's capacity), as
	// GoChannel's Persistent mode does. Default false.
	FromEarliest bool

	// Redelivery sets how nacked messages are retried: herald.WithBackoff,
	// herald.WithMaxDeliveries, herald.WithDeadLetter, herald.WithAckTimeout
	// (groups only). All members of a consumer group must be given the same
	// options. Default: herald's (back-off from 10ms to 5s, no limit, no
	// dead-letter destination).
	Redelivery []herald.RedeliveryOption

	// TopicOptions are passed to herald's Broker.Topic when the subscriber
	// declares a topic; see PublisherConfig.TopicOptions.
	TopicOptions []herald.TopicOption

	// Codec encodes the bodies that are not bytes (published by herald code
	// with a Go value as Body) into the Watermill payload. A []byte,
	// json.RawMessage or string body is passed as is, a nil body as a nil
	// payload. A body the codec cannot encode is rejected (dead-lettered
	// when a destination is set). Default herald.JSONCodec().
	Codec herald.Codec
}

// Subscriber subscribes to herald topics and hands their messages out on
// Watermill channels. It implements message.Subscriber and
// message.SubscribeInitializer; create one with [NewSubscriber]. It is safe
// for concurrent use.
type Subscriber struct {
	topics topics
	cfg    SubscriberConfig
	logger watermill.LoggerAdapter

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add against Close's wg.Wait
	closed bool
	wg     sync.WaitGroup
}

var (
	_ message.Subscriber           = (*Subscriber)(nil)
	_ message.SubscribeInitializer = (*Subscriber)(nil)
)

// NewSubscriber returns a subscriber to the topics of b. A nil logger logs
// nothing. The subscriber does not own b: closing it leaves b open.
func NewSubscriber(b *herald.Broker, cfg SubscriberConfig, logger watermill.LoggerAdapter) (*Subscriber, error) {
	if b == nil {
		return nil, fmt.Errorf("heraldwm: nil broker: %w", herald.ErrInvalid)
	}
	if logger == nil {
		logger = watermill.NopLogger{}
	}
	if cfg.Codec == nil {
		cfg.Codec = herald.JSONCodec()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Subscriber{
		topics: topics{b: b, opts: cfg.TopicOptions},
		cfg:    cfg,
		logger: logger,
		ctx:    ctx,
		cancel: cancel,
	}, nil
}

// SubscribeInitialize declares the herald topic called topic, so that
// publishes made before the first Subscribe are retained for subscribers that
// start FromEarliest.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	_, err := s.topics.get(topic)
	return err
}

// Subscribe subscribes to the herald topic called topic, declaring it on
// first use, and returns the channel its messages are handed out on, one at
// a time: the next message comes only after the previous one is acked or
// nacked. An ack acks the herald delivery; a nack requeues it at the head
// (herald's Delivery.Requeue), so that it is redelivered at once, before
// the messages behind it, as Watermill's Kafka subscriber seeks back; it is
// dead-lettered after the max deliveries (see SubscriberConfig.Redelivery).
// Each message's context is derived from ctx and cancelled once the message
// is acked or nacked.
//
// The channel is closed when ctx ends, the subscriber closes or the broker
// closes. A message handed out and not yet acked then is released (herald's
// Delivery.Release): it goes back to the head of the consumer group, its
// attempt not counted (a plain subscription ends with it).
// Subscribe returns an error wrapping herald.ErrClosed after Close, and
// herald's error when the topic cannot be declared or subscribed to.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("heraldwm: subscriber closed: %w", herald.ErrClosed)
	}
	s.wg.Add(1)
	s.mu.Unlock()

	sub, err := s.subscribe(topic)
	if err != nil {
		s.wg.Done()
		return nil, err
	}
	out := make(chan *message.Message)
	// The subscription's context ends with ctx or with Close.
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	go func() {
		defer s.wg.Done()
		defer close(out)
		defer cancel()
		defer stop()
		s.run(ctx, topic, sub, out)
		if err := sub.Close(); err != nil {
			s.logger.Error("Cannot close herald subscription", err, watermill.LogFields{"topic": topic})
		}
	}()
	return out, nil
}

func (s *Subscriber) subscribe(topic string) (*herald.Subscription, error) {
	t, err := s.topics.get(topic)
	if err != nil {
		return nil, err
	}
	opts := make([]herald.SubscribeOption, 0, len(s.cfg.Redelivery)+2)
	if s.cfg.ConsumerGroup != "" {
		opts = append(opts, herald.WithGroup(s.cfg.ConsumerGroup))
	}
	if s.cfg.FromEarliest {
		opts = append(opts, herald.FromEarliest())
	}
	for _, o := range s.cfg.Redelivery {
		opts = append(opts, o)
	}
	sub, err := t.Subscribe(opts...)
	if err != nil {
		return nil, fmt.Errorf("heraldwm: subscribe to %q: %w", topic, err)
	}
	return sub, nil
}

// run hands the subscription's deliveries out on out until ctx ends or the
// subscription stops.
func (s *Subscriber) run(ctx context.Context, topic string, sub *herald.Subscription, out chan<- *message.Message) {
	fields := watermill.LogFields{"topic": topic, "consumer_group": s.cfg.ConsumerGroup}
	for {
		d, err := sub.Receive(ctx)
		if err != nil {
			if lag, ok := errors.AsType[*herald.LagError](err); ok {
				s.logger.Error("Subscription lagged, messages missed", err, fields.Add(watermill.LogFields{"missed": lag.Missed}))
				continue
			}
			if ctx.Err() == nil && !errors.Is(err, herald.ErrClosed) {
				s.logger.Error("Cannot receive from herald", err, fields)
			}
			return
		}
		if !s.deliver(ctx, d, out, fields) {
			return
		}
	}
}

// deliver hands d out as a Watermill message and settles d as the message
// is: an ack acks, a nack requeues d at the head (Watermill's seek back, so
// the order holds); it reports false when ctx ended first, and d, not
// settled, was released.
func (s *Subscriber) deliver(ctx context.Context, d *herald.Delivery, out chan<- *message.Message, fields watermill.LogFields) bool {
	payload, err := s.payload(d.Body)
	if err != nil {
		s.logger.Error("Cannot encode herald body, rejecting the message", err, fields.Add(watermill.LogFields{"message_uuid": d.ID}))
		s.settle(d.Reject, fields)
		return true
	}
	msg := message.NewMessage(d.ID, payload)
	for k, v := range d.Headers {
		msg.Metadata[k] = v
	}
	mctx, mcancel := context.WithCancel(ctx)
	defer mcancel()
	msg.SetContext(mctx)

	select {
	case out <- msg:
	case <-ctx.Done():
		// Never handed out: the attempt does not count.
		s.settle(d.Release, fields)
		return false
	}
	select {
	case <-msg.Acked():
		s.settle(d.Ack, fields)
		return true
	case <-msg.Nacked():
		s.settle(d.Requeue, fields)
		return true
	case <-ctx.Done():
	}
	// An ack or nack that raced with the end of ctx still counts; a
	// message the subscriber stops holding goes back uncounted.
	select {
	case <-msg.Acked():
		s.settle(d.Ack, fields)
	case <-msg.Nacked():
		s.settle(d.Requeue, fields)
	default:
		s.settle(d.Release, fields)
	}
	return false
}

func (s *Subscriber) settle(f func() error, fields watermill.LogFields) {
	if err := f(); err != nil && !errors.Is(err, herald.ErrClosed) {
		// ErrSettled: the ack timeout redelivered it first.
		s.logger.Info("Cannot settle herald delivery", fields.Add(watermill.LogFields{"err": err}))
	}
}

func (s *Subscriber) payload(body any) (message.Payload, error) {
	switch b := body.(type) {
	case []byte:
		return b, nil
	case message.Payload:
		return b, nil
	case json.RawMessage:
		return message.Payload(b), nil
	case string:
		return message.Payload(b), nil
	case nil:
		return nil, nil
	}
	return s.cfg.Codec.Marshal(body)
}

// Close closes the subscriber: every channel returned by Subscribe is
// closed, after nacking the message it had handed out and not seen settled,
// and its herald subscription is closed (a consumer group member leaves the
// group, which keeps its messages). Close waits for the subscriber's
// goroutines to exit. It does not close the broker. Close is idempotent and
// returns nil.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}
