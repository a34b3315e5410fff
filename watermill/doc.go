// Package heraldwm makes a herald broker a Watermill Pub/Sub: a
// [Publisher] and a [Subscriber] that implement Watermill's
// message.Publisher and message.Subscriber over a *herald.Broker, so that
// Watermill routers, middleware and CQRS run on herald's in-process topics.
//
// A Watermill topic is a herald topic of the same name, declared on first use
// with the configured topic options (capacity, overflow policy). A Watermill
// message becomes a herald message whose ID is the message UUID, whose
// Headers are a copy of its Metadata and whose Body is its Payload ([]byte,
// shared, not copied). Without a consumer group every Subscribe call is a
// plain herald subscription and gets every message; subscribers that share
// [SubscriberConfig.ConsumerGroup] join one herald subscription group and
// share the topic's messages, each handled by one of them.
//
// Watermill's Ack acks the herald delivery; Nack nacks it, so the message is
// redelivered after herald's back-off and dead-lettered after the max
// deliveries configured with [SubscriberConfig.Redelivery]. A subscriber hands
// out the next message only after the previous one is acked or nacked.
//
// Delivery is at-least-once. The package name is heraldwm so that it does not
// clash with Watermill's own package watermill in the code that uses both.
package heraldwm
