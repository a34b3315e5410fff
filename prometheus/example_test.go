package heraldprom_test

import (
	"context"
	"fmt"

	"github.com/heraldmq/herald"
	heraldprom "github.com/heraldmq/herald/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
)

// The collector comes first, so that its Observer can be given to the
// broker; then it watches the broker, and a registry serves it.
func Example() {
	c := heraldprom.New()
	b := herald.New(herald.WithObserver(c.Observer()))
	defer b.Close()
	c.Watch(b)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c) // serve reg with promhttp.HandlerFor(reg, promhttp.HandlerOpts{})

	q, _ := b.Queue("orders")
	for i := range 3 {
		q.Publish(context.Background(), herald.NewMessage(i))
	}
	text, _ := testutil.GatherAndFormat(reg, expfmt.TypeTextPlain,
		"herald_queue_messages_ready", "herald_messages_published_total")
	fmt.Print(string(text))
	// Output:
	// # HELP herald_messages_published_total Messages published by producers (one per publish, however many destinations an exchange routes it to).
	// # TYPE herald_messages_published_total counter
	// herald_messages_published_total 3
	// # HELP herald_queue_messages_ready Messages ready to be delivered to consumers.
	// # TYPE herald_queue_messages_ready gauge
	// herald_queue_messages_ready{queue="orders"} 3
}
