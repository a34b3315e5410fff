// Package herald is an embeddable, in-process message broker: RabbitMQ's
// routing, NATS's subjects and queue groups and Kafka's replay for the
// goroutines and modules of one Go program, within a small factor of a
// channel's speed and with no dependency beyond the standard library.
//
// Producers and consumers meet only at a name on a [Broker]:
//
//   - a [Queue] is point-to-point: each message goes to one of the competing
//     consumers and stays until it is acked, with redelivery after a
//     back-off, max deliveries, ack timeouts and dead letters;
//   - a [Topic] is publish-subscribe: a ring-buffer log that every
//     [Subscription] reads with its own cursor, replayable from what it
//     retains, with subscription groups that share a stream;
//   - an [Exchange] routes by key or headers to queues, topics and other
//     exchanges, with AMQP's direct, fanout, topic and headers rules.
//
// Around them: [Broker.Request] and [Delivery.Reply] for request-reply;
// [Typed] handlers on your own types, with a [Codec] for []byte bodies;
// [Middleware] (package [github.com/heraldmq/herald/middleware] has
// Timeout, Retry, Logging and Recover); a [Transform]
// where messages enter a queue, subscription or binding; TTLs, delays,
// priorities and de-duplication ([WithTTL], Message.Delay,
// [WithPriorities], [WithDedup]); and [Broker.WaitIdle], on which package
// heraldtest builds a harness for testing event flows.
//
// To see inside: [WithObserver] hears every publish, delivery and ending
// (the nested modules otel and prometheus build on it); [Queue.Browse],
// [Topic.Browse] and [Queue.Purge] inspect and empty without consuming;
// package console serves all of it as a web page and a JSON API.
//
// A quick look:
//
//	b := herald.New()
//	defer b.Close()
//	q, _ := b.Queue("orders", herald.WithMaxDeliveries(5), herald.WithDeadLetter("orders.dead"))
//	go q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
//		return ship(d.Body.(Order)) // nil acks; an error retries after a back-off
//	}, herald.WithConcurrency(4))
//	err := b.Publish(ctx, "orders", herald.NewMessage(Order{ID: 42}))
//
// # Guarantees
//
// Nothing is lost silently: every published message ends acked,
// rejected (and dead-lettered when a destination is set), expired, or
// dropped by an overflow policy the user chose, and every ending is
// counted in Stats. A publish that cannot be accepted returns an error.
//
// Delivery is at-least-once for queues and subscription groups: a message
// leaves only when settled, and a handler that fails, panics or times out
// gets it again. Messages are passed by reference, never copied: after
// Publish the message belongs to herald and its consumers, read-only.
//
// Order: a queue hands messages out in publish order; a subscription sees
// its topic's messages in publish order. Redeliveries and handlers running
// in parallel reorder, as documented on [Queue] and [Subscription].
//
// Re-entry: no user code runs while herald holds a lock, so a [Handler] may
// publish, declare, settle and close from inside a delivery.
//
// Stopping: [Broker.Shutdown] drains (consumers finish what publishers
// sent, a publish racing it is handled or returns [ErrClosed], dead
// letters nobody reads stay, then everything stops);
// [Broker.Close] stops at once and wakes every blocked call with
// [ErrClosed]. Either way no goroutine of herald is left.
//
// Errors are sentinels ([ErrClosed], [ErrFull], [ErrUnroutable],
// [ErrSettled], [ErrNotFound], [ErrExists], [ErrInvalid], [ErrLagged],
// [ErrDuplicate], [ErrNoResponders], [ErrRejected], [ErrBodyType],
// [ErrTransform], [ErrBadPattern], [ErrAckTimeout], [ErrCorrupt],
// [ErrUnsettled]), for errors.Is, and types that say more ([RouteError],
// [ReplyError], [LagError], [BodyTypeError], [PermanentError],
// [PanicError]), for errors.As. A context's error and the errors of user
// code (handlers, codecs) are passed through or carried, not replaced by a
// sentinel.
package herald
