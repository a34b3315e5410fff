// Package heraldotel traces and measures a herald broker with
// OpenTelemetry, by the messaging semantic conventions.
//
// One [Instrumentation] gives a broker three things:
//
//   - [Instrumentation.Observer], a herald.Observer: a PRODUCER span
//     "send <destination>" for each publish, whose context travels to the
//     consumers in the message's Headers (W3C trace context by default);
//     a CLIENT span "receive <destination>" for each delivery that Receive
//     returns, linked to its producer's span ([Instrumentation.Extract]
//     gives such a consumer the producer's context for spans of its own);
//     and the metrics messaging.client.sent.messages,
//     messaging.client.operation.duration,
//     messaging.client.consumed.messages, herald.messages.expired,
//     herald.messages.dropped, herald.messages.dead_lettered and
//     herald.messages.dead_letter_failed.
//   - [Instrumentation.Middleware], a herald.Middleware: a CONSUMER span
//     "process <destination>" around each handler, the child of the
//     producer's span, and the metric messaging.process.duration. A
//     handler that publishes with its context makes the next hop's send
//     span a child of its own, so a flow through exchanges, queues and
//     topics, or a request and its reply, is one trace.
//   - [Instrumentation.ObserveStats]: observable gauges read from each
//     queue's and topic's Stats: herald.queue.messages.ready, .unacked,
//     .delayed and .scheduled, herald.topic.messages.retained and
//     herald.subscription.lag.
//
// Setup:
//
//	tel, err := heraldotel.New() // the global providers; see the options
//	if err != nil { ... }
//	b := herald.New(tel.Options()...)
//	reg, err := tel.ObserveStats(b)
//	if err != nil { ... }
//	defer reg.Unregister()
//
// Every span and metric has messaging.system "herald" and
// messaging.destination.name, the queue's, topic's or exchange's name (a
// topic's for its subscriptions). A subscription group is
// messaging.consumer.group.name. Request's private reply destinations are
// temporary: their spans are named "send" alone, with
// messaging.destination.temporary, and their metrics carry no
// destination name, so that they add no cardinality.
package heraldotel
