package heraldnats_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/heraldmq/herald"
	heraldnats "github.com/heraldmq/herald/nats"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// exampleServer starts nats-server with JetStream for an example; stop
// shuts it down and removes its store.
func exampleServer() (url string, stop func()) {
	dir, err := os.MkdirTemp("", "heraldnats-")
	if err != nil {
		panic(err)
	}
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		panic("nats-server not ready")
	}
	return ns.ClientURL(), func() { ns.Shutdown(); ns.WaitForShutdown(); os.RemoveAll(dir) }
}

type Order struct {
	ID    int     `json:"id"`
	Total float64 `json:"total"`
}

// Two brokers, as two processes would have, bridged through JetStream: one
// exports its queue "orders", the other imports the stream into its own
// "orders" queue, where a typed handler gets each Order back.
func ExampleBridge_Export() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	shop := herald.New()
	defer shop.Close()
	shopBridge, _ := heraldnats.Connect(shop, url)
	defer shopBridge.Close()
	shopBridge.JetStream().CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "SHOP", Subjects: []string{"shop.>"}})
	shop.Queue("orders")
	shopBridge.Export(heraldnats.FromQueue("orders"), "shop.orders.{key}")

	billing := herald.New()
	defer billing.Close()
	billingBridge, _ := heraldnats.Connect(billing, url)
	defer billingBridge.Close()
	q, _ := billing.Queue("orders")
	billingBridge.Import(ctx, "SHOP", "billing", "orders")

	for i := 1; i <= 3; i++ {
		shop.Publish(ctx, "orders", &herald.Message{Key: "eu", Body: Order{ID: i, Total: 9.5 * float64(i)}})
	}
	got := make(chan Order)
	cctx, cancel := context.WithCancel(ctx)
	go q.Consume(cctx, herald.TypedDelivery(func(_ context.Context, o Order, d *herald.Delivery) error {
		fmt.Printf("order %d (%s): %.2f\n", o.ID, d.Key, o.Total)
		got <- o
		return nil
	}))
	for range 3 {
		<-got
	}
	cancel()
	// Output:
	// order 1 (eu): 9.50
	// order 2 (eu): 19.00
	// order 3 (eu): 28.50
}

// b.Request to a name the bridge maps to a NATS subject is answered by a
// herald consumer of another broker.
func ExampleBridge_ExportRequests() {
	url, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	pricing := herald.New()
	defer pricing.Close()
	pricingBridge, _ := heraldnats.Connect(pricing, url)
	defer pricingBridge.Close()
	prices, _ := pricing.Queue("prices")
	go prices.Consume(ctx, herald.TypedDelivery(func(ctx context.Context, item string, d *herald.Delivery) error {
		return d.Reply(ctx, herald.NewMessage(map[string]float64{item: 4.2}))
	}))
	pricingBridge.ImportRequests("svc.prices", "prices")

	shop := herald.New()
	defer shop.Close()
	shopBridge, _ := heraldnats.Connect(shop, url)
	defer shopBridge.Close()
	shop.Queue("prices")
	shopBridge.ExportRequests(heraldnats.FromQueue("prices"), "svc.prices")

	// The queue holds the request until the route's consumer takes it.
	reply, err := shop.Request(ctx, "prices", herald.NewMessage("tea"))
	if err == nil {
		err = heraldnats.ReplyError(reply)
	}
	price, _ := herald.BodyAs[map[string]float64](reply)
	fmt.Println(price, err)
	// Output:
	// map[tea:4.2] <nil>
}
