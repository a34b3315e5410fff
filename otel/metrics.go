package heraldotel

import (
	"context"
	"fmt"

	"github.com/heraldmq/herald"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// end counts the outcomes that lose or move a message: expired, dropped,
// dead-lettered and dead letters that failed.
func (i *Instrumentation) end(e herald.EndInfo) {
	var c metric.Int64Counter
	switch e.Outcome {
	case herald.OutcomeExpired:
		c = i.expired
	case herald.OutcomeDropped:
		c = i.dropped
	}
	if c == nil && e.DeadLetter == "" && e.DeadLetterErr == nil {
		return // acks, nacks and rejects are for spans and Stats
	}
	ctx := context.Background()
	attrs := placeAttrs(e.Place, make([]attribute.KeyValue, 0, 6))
	if c != nil {
		c.Add(ctx, 1, metric.WithAttributes(attrs...))
	}
	if e.Reason != "" {
		attrs = append(attrs, ReasonKey.String(e.Reason))
	}
	switch {
	case e.DeadLetter != "":
		i.deadLettered.Add(ctx, 1, metric.WithAttributes(attrs...))
	case e.DeadLetterErr != nil:
		i.deadLetterFailed.Add(ctx, 1, metric.WithAttributes(append(attrs, errorType(e.DeadLetterErr))...))
	}
}

// ObserveStats registers observable gauges that read b's queues' and
// topics' Stats at each collection: herald.queue.messages.ready,
// herald.queue.messages.unacked, herald.queue.messages.delayed (nacked,
// waiting out their back-off), herald.queue.messages.scheduled (published
// with a Delay not yet passed), herald.topic.messages.retained, and
// herald.subscription.lag: for each topic, each group's lag (with
// messaging.consumer.group.name) and the largest lag among its plain
// subscriptions (without). Destinations declared later are included as
// they come. Unregister the result to stop; it returns an error if the
// meter provider refuses an instrument.
func (i *Instrumentation) ObserveStats(b *herald.Broker) (metric.Registration, error) {
	gauge := func(name, desc string) (metric.Int64ObservableGauge, error) {
		return i.meter.Int64ObservableGauge(name, metric.WithUnit("{message}"), metric.WithDescription(desc))
	}
	ready, e0 := gauge("herald.queue.messages.ready", "Messages ready for a consumer.")
	unacked, e1 := gauge("herald.queue.messages.unacked", "Messages delivered and not yet settled.")
	delayed, e2 := gauge("herald.queue.messages.delayed", "Nacked messages waiting out their back-off.")
	scheduled, e3 := gauge("herald.queue.messages.scheduled", "Messages published with a Delay that has not passed.")
	retained, e4 := gauge("herald.topic.messages.retained", "Messages in a topic's ring.")
	lag, e5 := gauge("herald.subscription.lag", "Messages published to a topic and not yet read by a subscription or group.")
	for _, err := range []error{e0, e1, e2, e3, e4, e5} {
		if err != nil {
			return nil, fmt.Errorf("heraldotel: %w", err)
		}
	}
	return i.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, name := range b.Names() {
			where := metric.WithAttributes(systemAttr, attribute.String("messaging.destination.name", name))
			if q, err := b.LookupQueue(name); err == nil {
				s := q.Stats()
				o.ObserveInt64(ready, int64(s.Ready), where)
				o.ObserveInt64(unacked, int64(s.Unacked), where)
				o.ObserveInt64(delayed, int64(s.Delayed), where)
				o.ObserveInt64(scheduled, int64(s.Scheduled), where)
				continue
			}
			t, err := b.LookupTopic(name)
			if err != nil {
				continue // an exchange holds nothing
			}
			o.ObserveInt64(retained, int64(t.Stats().Retained), where)
			var plain uint64
			subs := false
			for group, s := range t.SubscriptionStats() {
				if group == "" {
					plain, subs = max(plain, s.Lag), true
					continue
				}
				o.ObserveInt64(lag, int64(s.Lag), metric.WithAttributes(systemAttr,
					attribute.String("messaging.destination.name", name),
					attribute.String("messaging.consumer.group.name", group)))
			}
			if subs {
				o.ObserveInt64(lag, int64(plain), where)
			}
		}
		return nil
	}, ready, unacked, delayed, scheduled, retained, lag)
}
