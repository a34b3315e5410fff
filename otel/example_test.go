package heraldotel_test

import (
	"context"
	"fmt"
	"slices"

	"github.com/heraldmq/herald"
	heraldotel "github.com/heraldmq/herald/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A request and its reply are one trace: the requester's send span, the
// handler's process span, and the reply's send span, each the child of
// the one before.
func Example() {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	tel, _ := heraldotel.New(heraldotel.WithTracerProvider(tp))
	b := herald.New(tel.Options()...)
	defer b.Close()

	// A topic's subscription answers as soon as it exists: Request need
	// not wait for its consumer to start.
	t, _ := b.Topic("greeter")
	sub, _ := t.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sub.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
		return d.Reply(ctx, herald.NewMessage("hello, "+d.Body.(string)))
	})

	reply, _ := b.Request(context.Background(), "greeter", herald.NewMessage("otel"))
	b.WaitIdle(ctx)
	fmt.Println(reply.Body)

	stubs := spans.GetSpans()
	slices.SortFunc(stubs, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
	for i, s := range stubs {
		child := i == 0 || s.Parent.SpanID() == stubs[i-1].SpanContext.SpanID()
		fmt.Printf("%s (%v), child of the previous: %v\n", s.Name, s.SpanKind, child)
	}
	// Output:
	// hello, otel
	// send greeter (producer), child of the previous: true
	// process greeter (consumer), child of the previous: true
	// send (producer), child of the previous: true
}
