// Command trace follows one order through three hops of a herald broker —
// an exchange, a queue whose handler publishes on, and a topic read by a
// subscription group — and prints the spans of its one trace to standard
// output with OpenTelemetry's stdout exporter.
//
//	go run ./examples/trace
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/heraldmq/herald"
	heraldotel "github.com/heraldmq/herald/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	exporter, err := stdouttrace.New(stdouttrace.WithPrettyPrint(), stdouttrace.WithWriter(os.Stdout))
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exporter))
	defer tp.Shutdown(context.Background())

	tel, err := heraldotel.New(heraldotel.WithTracerProvider(tp))
	if err != nil {
		return err
	}
	b := herald.New(tel.Options()...)
	defer b.Close()

	// Hop 1: an exchange routes new orders to the billing queue.
	orders, err := b.Exchange("orders", herald.TopicExchange)
	if err != nil {
		return err
	}
	if _, err := b.Queue("billing"); err != nil {
		return err
	}
	if _, err := b.Topic("invoices"); err != nil {
		return err
	}
	if err := orders.Bind("billing", "order.created"); err != nil {
		return err
	}
	billing, _ := b.LookupQueue("billing")
	invoices, _ := b.LookupTopic("invoices")
	mailer, err := invoices.Subscribe(herald.WithGroup("mailer"))
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mailed := make(chan string, 1)
	// Hop 2: billing publishes an invoice, with its handler's context so
	// that the trace goes on.
	go billing.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
		return b.Publish(ctx, "invoices", herald.NewMessage(fmt.Sprint("invoice for ", d.Body)))
	})
	// Hop 3: the mailer group sends it.
	go mailer.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
		mailed <- fmt.Sprint(d.Body)
		return nil
	})

	checkout, span := tp.Tracer("shop").Start(context.Background(), "checkout")
	err = orders.Publish(checkout, &herald.Message{Key: "order.created", Body: "order 42"})
	span.End()
	if err != nil {
		return err
	}
	select {
	case body := <-mailed:
		fmt.Fprintln(os.Stderr, "mailed:", body)
	case <-time.After(10 * time.Second):
		return fmt.Errorf("the invoice was not mailed")
	}
	// Let the last handler return and its span end before shutting down.
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	return b.WaitIdle(wctx)
}
