// Modules: an application wired from independent modules that talk only
// through herald.
//
// Four modules, each in a package of its own, know nothing of each other:
// they share only the contract in package events, the name of a topic
// exchange ("events") and routing keys such as "order.placed",
// "payment.captured" and "shipment.dispatched". Each module declares its
// own queue, bound to the keys it cares about, and publishes what it has
// done:
//
//	orders         places orders (order.placed); follows payment.* and
//	               shipment.dispatched; cancels an order whose payment was
//	               declined (order.cancelled)
//	billing        order.placed -> payment.captured or payment.declined
//	shipping       payment.captured -> shipment.dispatched
//	notifications  tells customers of payments, shipments and cancellations
//
// main wires them on one broker and places a few orders; Shutdown then
// waits until every event has run through every module. main_test.go
// tests the same flows with package heraldtest: one order shipped, one
// cancelled, many at once.
//
//	go run ./examples/modules
//	go test ./examples/modules
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/examples/modules/billing"
	"github.com/heraldmq/herald/examples/modules/notifications"
	"github.com/heraldmq/herald/examples/modules/orders"
	"github.com/heraldmq/herald/examples/modules/shipping"
)

// cardLimit is the largest order billing accepts.
const cardLimit = 500

// app is the application: its modules, wired on one broker.
type app struct {
	orders        *orders.Module
	billing       *billing.Module
	shipping      *shipping.Module
	notifications *notifications.Module
}

// wire starts every module on b; they run until ctx ends or b stops.
func wire(ctx context.Context, b *herald.Broker) (*app, error) {
	var a app
	var err error
	if a.orders, err = orders.Start(ctx, b); err != nil {
		return nil, err
	}
	if a.billing, err = billing.Start(ctx, b, cardLimit); err != nil {
		return nil, err
	}
	if a.shipping, err = shipping.Start(ctx, b); err != nil {
		return nil, err
	}
	if a.notifications, err = notifications.Start(ctx, b); err != nil {
		return nil, err
	}
	return &a, nil
}

func main() {
	b := herald.New()
	ctx := context.Background()
	a, err := wire(ctx, b)
	if err != nil {
		log.Fatal(err)
	}

	var ids []string
	for _, o := range []struct {
		customer string
		total    float64
	}{{"alice", 42}, {"bob", 1200}, {"carol", 310.5}} {
		id, err := a.orders.Place(ctx, o.customer, o.total)
		if err != nil {
			log.Fatal(err)
		}
		ids = append(ids, id)
	}

	// Shutdown lets every module finish the flow, hop after hop.
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil {
		log.Fatal(err)
	}

	for _, id := range ids {
		status, _ := a.orders.Status(id)
		fmt.Printf("%s: %s\n", id, status)
		for _, n := range a.notifications.Sent(id) {
			fmt.Printf("    %s\n", n)
		}
	}
}
