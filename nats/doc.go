// Package heraldnats bridges a herald broker and NATS JetStream, so that an
// application that outgrows one process keeps its herald code and moves one
// flow at a time onto a NATS server or cluster.
//
// A [Bridge] (from [Connect] or [New]) runs routes, each declared with one
// call and running until [Bridge.Close]:
//
//   - [Bridge.Export] forwards what reaches a herald queue, topic or exchange
//     ([FromQueue], [FromTopic], [FromExchange]) to a JetStream subject made
//     from the message Key or a template. It works as a RabbitMQ shovel: the
//     herald delivery is acked only after JetStream's PubAck, and the
//     message ID is the Nats-Msg-Id, so a message sent twice is stored once.
//   - [Bridge.Import] feeds a herald destination from a durable JetStream
//     pull consumer, acking each message once herald accepted it (or, with
//     [AckWhenHandled], once a herald handler handled it) and nakking with
//     a delay what herald refuses.
//   - [Bridge.ExportRequests] and [Bridge.ImportRequests] carry
//     [herald.Broker.Request] across processes over core NATS request-reply.
//
// A quick look, one process exporting and another importing:
//
//	// process A
//	br, _ := heraldnats.Connect(b, "nats://localhost:4222")
//	br.Export(heraldnats.FromQueue("orders"), "shop.orders.{key}")
//
//	// process B
//	br, _ := heraldnats.Connect(b, "nats://localhost:4222")
//	br.Import(ctx, "SHOP", "billing", "orders")
//	q.Consume(ctx, herald.Typed(func(ctx context.Context, o Order) error { ... }))
//
// # Messages on the wire
//
// A herald message travels as a NATS message whose data is its body: []byte
// and json.RawMessage as they are, anything else encoded by the bridge's
// codec ([WithCodec], JSON by default) with the content-type header. Its
// Headers are NATS headers of the same names; Key, CorrelationID, ReplyTo,
// Time and Priority travel in the Herald- headers ([HeaderKey] and the
// rest); its ID is Nats-Msg-Id. An imported body is []byte again, which
// [herald.Typed] handlers decode into their type; [DecodeBody] decodes it
// into a T before publishing, so that any handler finds a T. TTL and Delay
// are not carried: they are the broker's own.
//
// # Guarantees
//
// Delivery across the bridge is at-least-once, and nothing is dropped
// silently: every message a route takes ends acked where it came from,
// nacked or nakked back there for another attempt, or rejected or
// terminated (a message that cannot be encoded, decoded or given a subject),
// and every one of those outcomes is counted in the route's [Stats] and
// logged ([WithLogger]). While NATS is unreachable, exports leave messages
// in herald, bounded by the destination's capacity and overflow policy, and
// the connection comes back with back-off ([WithReconnectBackoff]). The
// copies at-least-once makes are dropped by the stream's duplicate window on
// the way out, and by a destination declared with [herald.WithDedup] on the
// way in.
//
// Close stops every route and waits for its goroutines; a connection made by
// Connect is closed too, so no goroutine of the bridge or of the NATS client
// is left.
package heraldnats
