package heraldnats

import (
	"context"
	"fmt"

	"github.com/heraldmq/herald"
)

// Source is the herald side an export or a request route takes messages
// from: a queue, a topic subscription or an exchange binding. Make one with
// FromQueue, FromTopic or FromExchange.
type Source interface {
	open(b *herald.Broker) (source, error)
}

// source is an opened Source.
type source interface {
	receive(ctx context.Context) (*herald.Delivery, error)
	consume(ctx context.Context, h herald.Handler, opts ...herald.ConsumeOption) error
	backlog() uint64
	close()
	String() string
}

// FromQueue takes the messages of the herald queue called name, declared
// beforehand, as a competing consumer: with other consumers of the queue,
// each message goes to one of them.
func FromQueue(name string) Source { return queueSource{name} }

type queueSource struct{ name string }

func (s queueSource) open(b *herald.Broker) (source, error) {
	q, err := b.LookupQueue(s.name)
	if err != nil {
		return nil, err
	}
	return openQueue{q: q}, nil
}

type openQueue struct{ q *herald.Queue }

func (s openQueue) receive(ctx context.Context) (*herald.Delivery, error) { return s.q.Receive(ctx) }
func (s openQueue) consume(ctx context.Context, h herald.Handler, opts ...herald.ConsumeOption) error {
	return s.q.Consume(ctx, h, opts...)
}
func (s openQueue) backlog() uint64 {
	st := s.q.Stats()
	return uint64(st.Ready + st.Delayed + st.Scheduled)
}
func (s openQueue) close()         {}
func (s openQueue) String() string { return "queue " + s.q.Name() }

// FromTopic subscribes to the herald topic called name, declared
// beforehand, with opts: a plain subscription gets every message published
// while the route runs; with herald.WithGroup the route joins a
// subscription group, whose messages wait in the topic while the route is
// down (within the topic's capacity and overflow policy) and are shared with
// the group's other members.
func FromTopic(name string, opts ...herald.SubscribeOption) Source {
	return topicSource{name, opts}
}

type topicSource struct {
	name string
	opts []herald.SubscribeOption
}

func (s topicSource) open(b *herald.Broker) (source, error) {
	t, err := b.LookupTopic(s.name)
	if err != nil {
		return nil, err
	}
	sub, err := t.Subscribe(s.opts...)
	if err != nil {
		return nil, err
	}
	return openSub{sub: sub, name: s.name}, nil
}

type openSub struct {
	sub  *herald.Subscription
	name string
}

func (s openSub) receive(ctx context.Context) (*herald.Delivery, error) { return s.sub.Receive(ctx) }
func (s openSub) consume(ctx context.Context, h herald.Handler, opts ...herald.ConsumeOption) error {
	return s.sub.Consume(ctx, h, opts...)
}
func (s openSub) backlog() uint64 {
	st := s.sub.Stats()
	return st.Lag + uint64(st.Delayed)
}
func (s openSub) close()         { s.sub.Close() }
func (s openSub) String() string { return "topic " + s.name }

// FromExchange declares the herald queue called queue with opts, binds it
// to the exchange called exchange with key (see herald.Exchange.Bind), and
// takes its messages: what the exchange routes there. The queue holds them
// while NATS is unreachable, within its capacity and overflow policy.
func FromExchange(exchange, key, queue string, opts ...herald.QueueOption) Source {
	return exchangeSource{exchange, key, queue, opts}
}

type exchangeSource struct {
	exchange, key, queue string
	opts                 []herald.QueueOption
}

func (s exchangeSource) open(b *herald.Broker) (source, error) {
	ex, err := b.LookupExchange(s.exchange)
	if err != nil {
		return nil, err
	}
	q, err := b.Queue(s.queue, s.opts...)
	if err != nil {
		return nil, err
	}
	if err := ex.Bind(s.queue, s.key); err != nil {
		return nil, fmt.Errorf("heraldnats: binding queue %q to exchange %q: %w", s.queue, s.exchange, err)
	}
	return openQueue{q: q}, nil
}
