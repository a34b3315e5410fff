package console

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"

	"github.com/heraldmq/herald"
)

// The queue view and the overview show how many handler goroutines and
// Receive callers are consuming, from QueueStats.Consumers.
func TestStateCountsConsumers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := shop(t)
		q, err := b.LookupQueue("orders")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- q.Consume(ctx, func(context.Context, *herald.Delivery) error { return nil }, herald.WithConcurrency(3))
		}()
		synctest.Wait()
		st := decode[stateView](t, call(t, Handler(b), "GET", "/api/state", ""), http.StatusOK)
		if st.Queues[0].Name != "orders" || st.Queues[0].Consumers != 3 || st.Queues[1].Consumers != 0 {
			t.Errorf("queues %+v, want 3 consumers on orders and none on orders.dead", st.Queues)
		}
		if st.Overview.Consumers != 3 {
			t.Errorf("overview consumers %d, want 3", st.Overview.Consumers)
		}
		cancel()
		if err := <-done; err != nil && err != context.Canceled {
			t.Errorf("Consume = %v", err)
		}
	})
}
