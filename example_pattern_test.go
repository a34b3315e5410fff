package herald_test

import (
	"context"
	"fmt"

	"github.com/heraldmq/herald"
)

// One subscription reads every "orders.*" topic, including one declared
// after it; each delivery says which topic it came from.
func ExampleBroker_SubscribePattern() {
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	eu, _ := b.Topic("orders.eu")
	ps, _ := b.SubscribePattern("orders.*")
	defer ps.Close()
	us, _ := b.Topic("orders.us") // declared later, followed too

	eu.Publish(ctx, herald.NewMessage("croissant"))
	d, _ := ps.Receive(ctx)
	fmt.Println(d.Source(), d.Body)
	d.Ack()
	us.Publish(ctx, herald.NewMessage("bagel"))
	d, _ = ps.Receive(ctx)
	fmt.Println(d.Source(), d.Body)
	d.Ack()
	// Output:
	// orders.eu croissant
	// orders.us bagel
}
