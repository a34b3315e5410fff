package herald_test

import (
	"context"
	"fmt"
	"os"

	"github.com/heraldmq/herald"
)

// A durable queue keeps its messages across a restart: the second broker
// on the same directory gets what the first one left.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)

	b, _ := herald.Open(dir)
	q, _ := b.Queue("jobs", herald.Durable())
	q.Publish(context.Background(), herald.NewMessage("resize a.png"))
	q.Publish(context.Background(), herald.NewMessage("resize b.png"))
	d, _ := q.Receive(context.Background())
	d.Ack()
	b.Close() // or a crash: the publishes were on disk when they returned

	b, _ = herald.Open(dir)
	defer b.Close()
	fmt.Println("recovered:", b.DurableStats().Recovered)
	q, _ = b.Queue("jobs", herald.Durable())
	d, _ = q.Receive(context.Background())
	fmt.Println(d.Body, d.Attempt)
	// Output:
	// recovered: 1
	// resize b.png 1
}

// Durable needs a broker made with Open.
func ExampleDurable() {
	b := herald.New()
	defer b.Close()
	_, err := b.Queue("jobs", herald.Durable())
	fmt.Println(err)
	// Output:
	// herald: invalid argument: queue "jobs": Durable needs a broker made with Open, not New
}

// WithSync trades the durability of what Publish confirmed for speed.
func ExampleWithSync() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	b, err := herald.Open(dir, herald.WithSync(herald.SyncNever()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer b.Close()
	fmt.Println(herald.SyncAlways(), herald.SyncNever())
	// Output:
	// always never
}
