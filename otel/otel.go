package heraldotel

import (
	"fmt"

	"github.com/heraldmq/herald"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/semconv/v1.40.0/messagingconv"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of heraldotel's tracer and meter.
const ScopeName = "github.com/heraldmq/herald/otel"

// System is the value of messaging.system on every span and metric.
const System = "herald"

// Option configures [New].
type Option func(*config)

type config struct {
	tp   trace.TracerProvider
	mp   metric.MeterProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider makes spans with tp. Default: otel.GetTracerProvider()
// at the time of New.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider makes metrics with mp. Default: otel.GetMeterProvider()
// at the time of New.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// WithPropagator carries context in message headers with p. Default:
// propagation.TraceContext{}, the W3C traceparent and tracestate headers
// (not the global propagator, which is a no-op unless the program sets
// one).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.prop = p }
}

// Instrumentation makes a broker's spans and metrics. Create one with
// [New]; it is safe for concurrent use and may serve several brokers.
type Instrumentation struct {
	tracer trace.Tracer
	meter  metric.Meter
	prop   propagation.TextMapPropagator

	sent     messagingconv.ClientSentMessages
	consumed messagingconv.ClientConsumedMessages
	opDur    messagingconv.ClientOperationDuration
	procDur  messagingconv.ProcessDuration

	expired, dropped, deadLettered, deadLetterFailed metric.Int64Counter

	sets attrSets
}

// New returns an Instrumentation configured by opts. It returns an error
// wrapping herald.ErrInvalid for a nil option, as herald does, and one if
// the meter provider refuses an instrument.
func New(opts ...Option) (*Instrumentation, error) {
	c := config{prop: propagation.TraceContext{}}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("heraldotel: %w: nil option", herald.ErrInvalid)
		}
		o(&c)
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	i := &Instrumentation{
		tracer: c.tp.Tracer(ScopeName),
		meter:  c.mp.Meter(ScopeName),
		prop:   c.prop,
	}
	var errs [8]error
	i.sent, errs[0] = messagingconv.NewClientSentMessages(i.meter)
	i.consumed, errs[1] = messagingconv.NewClientConsumedMessages(i.meter)
	i.opDur, errs[2] = messagingconv.NewClientOperationDuration(i.meter)
	i.procDur, errs[3] = messagingconv.NewProcessDuration(i.meter)
	counter := func(name, desc string, err *error) metric.Int64Counter {
		c, e := i.meter.Int64Counter(name, metric.WithUnit("{message}"), metric.WithDescription(desc))
		*err = e
		return c
	}
	i.expired = counter("herald.messages.expired", "Messages that ended by their TTL or a topic's max age before delivery.", &errs[4])
	i.dropped = counter("herald.messages.dropped", "Messages that ended by an overflow policy, or as redeliveries a closed subscription no longer wanted.", &errs[5])
	i.deadLettered = counter("herald.messages.dead_lettered", "Messages published to a dead-letter destination, by herald.dead_letter.reason.", &errs[6])
	i.deadLetterFailed = counter("herald.messages.dead_letter_failed", "Messages whose dead letter could not be published.", &errs[7])
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("heraldotel: %w", err)
		}
	}
	return i, nil
}

// Observer returns the hooks that trace publishes and Receive deliveries
// and count messages; install it with herald.WithObserver.
func (i *Instrumentation) Observer() herald.Observer {
	return herald.Observer{Publish: i.publish, Deliver: i.deliver, End: i.end}
}

// Options returns the broker options that install both the Observer and
// the Middleware: herald.New(tel.Options()...).
func (i *Instrumentation) Options() []herald.Option {
	return []herald.Option{herald.WithObserver(i.Observer()), herald.WithMiddleware(i.Middleware())}
}
