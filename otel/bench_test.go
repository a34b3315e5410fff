package heraldotel_test

import (
	"context"
	"testing"

	"github.com/heraldmq/herald"
	heraldotel "github.com/heraldmq/herald/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BenchmarkTraced moves messages 1 → 1 through a queue, publish to handler,
// without instrumentation and with heraldotel's spans (every one sampled,
// none exported) and metrics: the cost of tracing and measuring a message.
func BenchmarkTraced(b *testing.B) {
	for _, traced := range []bool{false, true} {
		name := "plain"
		if traced {
			name = "traced"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var opts []herald.Option
			if traced {
				tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				tel, err := heraldotel.New(heraldotel.WithTracerProvider(tp), heraldotel.WithMeterProvider(mp))
				if err != nil {
					b.Fatal(err)
				}
				opts = tel.Options()
			}
			br := herald.New(opts...)
			defer br.Close()
			q, _ := br.Queue("bench")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			n := 0
			go q.Consume(ctx, func(context.Context, *herald.Delivery) error {
				if n++; n == b.N {
					close(done)
				}
				return nil
			})
			for range b.N {
				q.Publish(ctx, herald.NewMessage("order"))
			}
			<-done
			cancel()
		})
	}
}
