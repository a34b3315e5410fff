// Command bridge shows herald outgrowing one process: two herald brokers,
// a shop and a billing service, that share no memory and talk only through
// a NATS JetStream server, each keeping its plain herald code.
//
// It starts an embedded nats-server (JetStream, a temporary store, a random
// loopback port), bridges each broker to it, sends orders from the shop to
// billing's typed handler, sends billing's events back, asks billing for an
// invoice with b.Request, prints what happened and exits 0.
//
//	go run ./examples/bridge
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/heraldmq/herald"
	heraldnats "github.com/heraldmq/herald/nats"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

type Order struct {
	ID    int     `json:"id"`
	Total float64 `json:"total"`
}

type Invoice struct {
	Order  int     `json:"order"`
	Amount float64 `json:"amount"`
}

const orders = 5

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	ns, stop, err := startServer()
	if err != nil {
		return err
	}
	defer stop()

	// Billing: its own broker, a typed handler for orders, a handler that
	// answers invoice requests, events for the shop.
	billing := herald.New()
	defer billing.Close()
	bbr, err := heraldnats.Connect(billing, ns.ClientURL())
	if err != nil {
		return err
	}
	defer bbr.Close()
	if _, err := bbr.JetStream().CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: "SHOP", Subjects: []string{"shop.>"},
	}); err != nil {
		return err
	}
	in, _ := billing.Queue("orders")
	invoices, _ := billing.Queue("invoices")
	billing.Queue("billed")
	if _, err := bbr.Import(ctx, "SHOP", "billing", "orders", heraldnats.FilterSubjects("shop.orders.>")); err != nil {
		return err
	}
	if _, err := bbr.Export(heraldnats.FromQueue("billed"), "shop.billed"); err != nil {
		return err
	}
	if _, err := bbr.ImportRequests("shop.rpc.invoice", "invoices"); err != nil {
		return err
	}
	go in.Consume(ctx, herald.Typed(func(ctx context.Context, o Order) error {
		fmt.Printf("billing: order %d, %.2f\n", o.ID, o.Total)
		return billing.Publish(ctx, "billed", herald.NewMessage(o.ID))
	}))
	go invoices.Consume(ctx, herald.TypedDelivery(func(ctx context.Context, o Order, d *herald.Delivery) error {
		return d.Reply(ctx, herald.NewMessage(Invoice{Order: o.ID, Amount: o.Total * 1.2}))
	}))

	// The shop: another broker, publishing orders and requesting invoices
	// by name as if billing were in the same process.
	shop := herald.New()
	defer shop.Close()
	sbr, err := heraldnats.Connect(shop, ns.ClientURL())
	if err != nil {
		return err
	}
	defer sbr.Close()
	shop.Queue("orders")
	billed, _ := shop.Queue("billed")
	shop.Queue("invoice")
	if _, err := sbr.Export(heraldnats.FromQueue("orders"), "shop.orders.{key}"); err != nil {
		return err
	}
	if _, err := sbr.Import(ctx, "SHOP", "shop", "billed", heraldnats.FilterSubjects("shop.billed")); err != nil {
		return err
	}
	if _, err := sbr.ExportRequests(heraldnats.FromQueue("invoice"), "shop.rpc.invoice"); err != nil {
		return err
	}
	for i := 1; i <= orders; i++ {
		m := &herald.Message{Key: "eu", Body: Order{ID: i, Total: 10 * float64(i)}}
		if err := shop.Publish(ctx, "orders", m); err != nil {
			return err
		}
	}
	for range orders {
		d, err := billed.Receive(ctx)
		if err != nil {
			return err
		}
		id, _ := herald.BodyAs[int](d.Message)
		fmt.Printf("shop: order %d billed\n", id)
		d.Ack()
	}
	reply, err := request(ctx, shop, "invoice", herald.NewMessage(Order{ID: 3, Total: 30}))
	if err != nil {
		return err
	}
	inv, err := herald.BodyAs[Invoice](reply)
	if err != nil {
		return err
	}
	fmt.Printf("shop: invoice for order %d: %.2f\n", inv.Order, inv.Amount)
	fmt.Printf("shop bridge: %+v\nbilling bridge: %+v\n", sbr.Stats(), bbr.Stats())
	return nil
}

// request is Broker.Request that turns an error reply from the far side
// into an error. The request route's consumer may still be starting: the
// queue holds the request until it takes it.
func request(ctx context.Context, b *herald.Broker, name string, m *herald.Message) (*herald.Message, error) {
	reply, err := b.Request(ctx, name, m)
	if err != nil {
		return nil, err
	}
	return reply, heraldnats.ReplyError(reply)
}

// startServer starts nats-server in this process with JetStream, storing
// in a temporary directory removed by stop.
func startServer() (*server.Server, func(), error) {
	dir, err := os.MkdirTemp("", "heraldnats-example-")
	if err != nil {
		return nil, nil, err
	}
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true,
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("nats-server not ready")
	}
	return ns, func() {
		ns.Shutdown()
		ns.WaitForShutdown()
		os.RemoveAll(dir)
	}, nil
}
