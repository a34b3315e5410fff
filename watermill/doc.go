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
// Watermill's Ack acks the herald delivery; Nack requeues it at the head
// (herald's Delivery.Requeue), so the message is redelivered at once, before
// the ones behind it, as Watermill's Kafka subscriber seeks back, and
// dead-lettered after the max deliveries configured with
// [SubscriberConfig.Redelivery] (herald's back-off does not apply to a nack;
// Watermill's Retry middleware waits between attempts). A subscriber that
// stops while holding a message releases it (Delivery.Release): it goes
// back without counting an attempt. A subscriber hands out the next message
// only after the previous one is acked or nacked.
//
// Delivery is at-least-once. The package name is heraldwm so that it does not
// clash with Watermill's own package watermill in the code that uses both.
package heraldwm
