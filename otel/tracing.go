package heraldotel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldmq/herald"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Attributes of herald's own, beside the conventions' messaging.* ones.
const (
	// KindKey is the kind of destination: queue, topic, exchange or reply.
	KindKey = attribute.Key("herald.destination.kind")
	// AttemptKey is a delivery's attempt, 1 on the first.
	AttemptKey = attribute.Key("herald.delivery.attempt")
	// RoutingKeyKey is a message's routing key, when it has one.
	RoutingKeyKey = attribute.Key("herald.message.key")
	// ReasonKey is why a message was dropped or dead-lettered: one of
	// herald's Reason constants, such as "expired".
	ReasonKey = attribute.Key("herald.dead_letter.reason")
)

var systemAttr = semconv.MessagingSystemKey.String(System)

// spanName is "<operation> <destination>", or the operation alone for a
// temporary (reply) destination, whose name would make every span's name
// unique.
func spanName(op string, p herald.Place) string {
	if p.Kind == "reply" || p.Name == "" {
		return op
	}
	return op + " " + p.Name
}

// placeAttrs are the attributes saying where: system, destination (or
// temporary) and group.
func placeAttrs(p herald.Place, attrs []attribute.KeyValue) []attribute.KeyValue {
	attrs = append(attrs, systemAttr)
	if p.Kind == "reply" {
		attrs = append(attrs, semconv.MessagingDestinationTemporaryKey.Bool(true))
	} else {
		attrs = append(attrs, semconv.MessagingDestinationName(p.Name))
	}
	if p.Group != "" {
		attrs = append(attrs, semconv.MessagingConsumerGroupName(p.Group))
	}
	return attrs
}

// messageAttrs are a span's attributes for message m.
func messageAttrs(m *herald.Message, attrs []attribute.KeyValue) []attribute.KeyValue {
	attrs = append(attrs, semconv.MessagingMessageID(m.ID))
	if m.CorrelationID != "" {
		attrs = append(attrs, semconv.MessagingMessageConversationID(m.CorrelationID))
	}
	if m.Key != "" {
		attrs = append(attrs, RoutingKeyKey.String(m.Key))
	}
	return attrs
}

// publish starts a publish's PRODUCER span and injects its context into
// the headers it returns; done ends it and counts the message.
func (i *Instrumentation) publish(ctx context.Context, p herald.PublishInfo) (herald.Headers, func(error)) {
	start := time.Now()
	attrs := placeAttrs(p.Place, make([]attribute.KeyValue, 0, 10))
	spanAttrs := messageAttrs(p.Message, append(attrs,
		semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send"), KindKey.String(p.Kind)))
	ctx, span := i.tracer.Start(ctx, spanName("send", p.Place),
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(spanAttrs...))
	h := herald.Headers{}
	i.prop.Inject(ctx, HeaderCarrier(h))
	return h, func(err error) {
		sent, dur := i.sets.get(p.Place, opSend), i.sets.get(p.Place, opSendDuration)
		if err != nil {
			et := errorType(err)
			sent, dur = withAttr(sent, et), withAttr(dur, et)
			span.SetAttributes(et)
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
		i.sent.Inst().Add(ctx, 1, metric.WithAttributeSet(sent))
		i.opDur.Inst().Record(ctx, time.Since(start).Seconds(), metric.WithAttributeSet(dur))
	}
}

// deliver counts a delivery; one that Receive returns gets a CLIENT span
// "receive", linked to its producer's span.
func (i *Instrumentation) deliver(ctx context.Context, d herald.DeliverInfo) {
	op, set := "process", opProcess
	if !d.Consume {
		op, set = "receive", opReceive
		attrs := placeAttrs(d.Place, make([]attribute.KeyValue, 0, 10))
		producer := trace.SpanContextFromContext(i.prop.Extract(context.Background(), HeaderCarrier(d.Delivery.Headers)))
		spanAttrs := messageAttrs(d.Delivery.Message, append(attrs,
			semconv.MessagingOperationTypeReceive, semconv.MessagingOperationName(op), AttemptKey.Int(d.Delivery.Attempt)))
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(spanAttrs...)}
		if producer.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: producer}))
		}
		_, span := i.tracer.Start(ctx, spanName(op, d.Place), opts...)
		span.End()
	}
	i.consumed.Inst().Add(ctx, 1, metric.WithAttributeSet(i.sets.get(d.Place, set)))
}

// Middleware returns a herald.Middleware that runs each handler in a
// CONSUMER span "process <destination>", the child of the span that
// published the message (from its headers), and records
// messaging.process.duration. The handler's context carries the span, so
// what the handler publishes with it continues the trace. A handler's
// error, or panic, marks the span failed with error.type.
func (i *Instrumentation) Middleware() herald.Middleware {
	return func(next herald.Handler) herald.Handler {
		return func(ctx context.Context, d *herald.Delivery) (err error) {
			p := d.Place()
			start := time.Now()
			attrs := placeAttrs(p, make([]attribute.KeyValue, 0, 12))
			spanAttrs := messageAttrs(d.Message, append(attrs,
				semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("process"), AttemptKey.Int(d.Attempt)))
			parent := i.prop.Extract(ctx, HeaderCarrier(d.Headers))
			ctx, span := i.tracer.Start(parent, spanName("process", p),
				trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(spanAttrs...))
			finish := func(et attribute.KeyValue, failed bool, status string) {
				set := i.sets.get(p, opProcess)
				if failed {
					set = withAttr(set, et)
					span.SetAttributes(et)
					span.SetStatus(codes.Error, status)
				}
				span.End()
				i.procDur.Inst().Record(ctx, time.Since(start).Seconds(), metric.WithAttributeSet(set))
			}
			defer func() {
				if r := recover(); r != nil {
					finish(semconv.ErrorTypeKey.String("panic"), true, fmt.Sprint("panic: ", r))
					panic(r)
				}
			}()
			err = next(ctx, d)
			if err != nil {
				span.RecordError(err)
				finish(errorType(err), true, err.Error())
				return err
			}
			finish(attribute.KeyValue{}, false, "")
			return nil
		}
	}
}

// Extract returns ctx carrying the context of the span that published d's
// message, for a consumer that uses Receive and starts its own spans.
func (i *Instrumentation) Extract(ctx context.Context, d *herald.Delivery) context.Context {
	return i.prop.Extract(ctx, HeaderCarrier(d.Headers))
}

// errorType names an error for error.type: herald's and the context's
// errors by what they mean, others by their type.
func errorType(err error) attribute.KeyValue {
	for _, e := range []struct {
		err  error
		name string
	}{
		{herald.ErrFull, "full"},
		{herald.ErrClosed, "closed"},
		{herald.ErrUnroutable, "unroutable"},
		{herald.ErrNotFound, "not_found"},
		{herald.ErrDuplicate, "duplicate"},
		{herald.ErrNoResponders, "no_responders"},
		{herald.ErrInvalid, "invalid"},
		{herald.ErrTransform, "transform"},
		{herald.ErrBodyType, "body_type"},
		{context.DeadlineExceeded, "deadline_exceeded"},
		{context.Canceled, "canceled"},
	} {
		if errors.Is(err, e.err) {
			return semconv.ErrorTypeKey.String(e.name)
		}
	}
	var perr *herald.PanicError
	if errors.As(err, &perr) {
		return semconv.ErrorTypeKey.String("panic")
	}
	return semconv.ErrorType(err)
}
