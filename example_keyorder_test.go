package herald_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/heraldmq/herald"
)

// Four handlers run in parallel, but each account's events are applied one
// at a time, in order.
func ExampleWithKeyOrdering() {
	b := herald.New()
	defer b.Close()
	ctx, stop := context.WithCancel(context.Background())
	q, _ := b.Queue("ledger")
	for i := 1; i <= 3; i++ {
		for _, account := range []string{"alice", "bob"} {
			q.Publish(ctx, &herald.Message{Key: account, Body: i})
		}
	}

	var mu sync.Mutex
	applied := map[string][]any{}
	q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		applied[d.Key] = append(applied[d.Key], d.Body)
		if len(applied["alice"])+len(applied["bob"]) == 6 {
			stop()
		}
		return nil
	}, herald.WithConcurrency(4), herald.WithKeyOrdering())
	fmt.Println("alice:", applied["alice"])
	fmt.Println("bob:", applied["bob"])
	// Output:
	// alice: [1 2 3]
	// bob: [1 2 3]
}
