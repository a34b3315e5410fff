package main

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/examples/modules/events"
	"github.com/heraldmq/herald/examples/modules/orders"
	"github.com/heraldmq/herald/heraldtest"
)

// start wires the application on a broker that is checked at cleanup (no
// event left unhandled, no goroutine left running), with a tap on the
// events exchange, which records every event without taking any from the
// modules. The tap is bound before the modules' queues, so that the
// exchange hands it each event first, before a module can react to it:
// the recording is in cause-and-effect order.
func start(t *testing.T) (*herald.Broker, *app, *heraldtest.Recorder) {
	t.Helper()
	b := heraldtest.NewBroker(t, heraldtest.FailOnUnsettled())
	if _, err := b.Exchange(events.Exchange, herald.TopicExchange); err != nil {
		t.Fatal(err)
	}
	recorded := heraldtest.Tap(t, b, events.Exchange)
	a, err := wire(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	return b, a, recorded
}

func TestOrderIsPaidShippedAndNotified(t *testing.T) {
	b, a, recorded := start(t)

	id, err := a.orders.Place(t.Context(), "alice", 42)
	if err != nil {
		t.Fatal(err)
	}
	heraldtest.Settle(t, b) // every module has handled every event, hop after hop

	heraldtest.AssertKeys(t, recorded, events.OrderPlaced, events.PaymentCaptured, events.ShipmentDispatched)
	heraldtest.AssertBodies(t, recorded,
		events.Order{OrderID: id, Customer: "alice", Total: 42},
		events.Payment{OrderID: id, Customer: "alice", Amount: 42},
		events.Shipment{OrderID: id, Customer: "alice", Tracking: "TRK-ORDER-1"},
	)
	if s, _ := a.orders.Status(id); s != orders.Shipped {
		t.Errorf("orders: status %q, want %q", s, orders.Shipped)
	}
	if amount, ok := a.billing.Captured(id); !ok || amount != 42 {
		t.Errorf("billing: captured %v, %v; want 42", amount, ok)
	}
	if tracking, ok := a.shipping.Tracking(id); !ok || tracking != "TRK-ORDER-1" {
		t.Errorf("shipping: tracking %q, %v", tracking, ok)
	}
	assertSent(t, a, id,
		"to alice: we received your payment of 42.00 for order-1",
		"to alice: order-1 is on its way, tracking TRK-ORDER-1",
	)
}

func TestDeclinedPaymentCancelsOrder(t *testing.T) {
	b, a, recorded := start(t)

	id, err := a.orders.Place(t.Context(), "bob", cardLimit+1)
	if err != nil {
		t.Fatal(err)
	}
	heraldtest.Settle(t, b)

	heraldtest.AssertKeys(t, recorded, events.OrderPlaced, events.PaymentDeclined, events.OrderCancelled)
	heraldtest.AssertBodies(t, recorded,
		events.Order{OrderID: id, Customer: "bob", Total: 501},
		events.Payment{OrderID: id, Customer: "bob", Amount: 501, Reason: "501.00 is over the card limit"},
		events.Cancellation{OrderID: id, Customer: "bob", Reason: "payment declined: 501.00 is over the card limit"},
	)
	if s, _ := a.orders.Status(id); s != orders.Cancelled {
		t.Errorf("orders: status %q, want %q", s, orders.Cancelled)
	}
	if _, ok := a.billing.Captured(id); ok {
		t.Error("billing captured a declined payment")
	}
	if _, ok := a.shipping.Tracking(id); ok {
		t.Error("shipping dispatched a cancelled order")
	}
	assertSent(t, a, id, "to bob: order-1 was cancelled (payment declined: 501.00 is over the card limit)")
}

// Orders placed at once from many goroutines: the events of different
// orders interleave, so the assertions ignore their order.
func TestManyOrdersAtOnce(t *testing.T) {
	b, a, recorded := start(t)

	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			total := float64(10 * (i + 1))
			if i%4 == 3 { // every fourth order is over the card limit
				total += cardLimit
			}
			if _, err := a.orders.Place(t.Context(), fmt.Sprint("customer", i), total); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	heraldtest.Settle(t, b)

	declined := n / 4
	var want []string
	for range n {
		want = append(want, events.OrderPlaced)
	}
	for range n - declined {
		want = append(want, events.PaymentCaptured, events.ShipmentDispatched)
	}
	for range declined {
		want = append(want, events.PaymentDeclined, events.OrderCancelled)
	}
	heraldtest.AssertKeysUnordered(t, recorded, want...)
	count := map[orders.Status]int{}
	for i := range n {
		s, _ := a.orders.Status(fmt.Sprint("order-", i+1))
		count[s]++
	}
	if count[orders.Shipped] != n-declined || count[orders.Cancelled] != declined {
		t.Errorf("order statuses: %v, want %d shipped and %d cancelled", count, n-declined, declined)
	}
}

// The same flow in a synctest bubble: the modules' goroutines, their
// back-offs and heraldtest's waits all run in fake time.
func TestOrderFlowInSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, a, recorded := start(t)
		for _, total := range []float64{42, 999} {
			if _, err := a.orders.Place(t.Context(), "dana", total); err != nil {
				t.Fatal(err)
			}
		}
		heraldtest.Settle(t, b)
		heraldtest.AssertKeysUnordered(t, recorded,
			events.OrderPlaced, events.PaymentCaptured, events.ShipmentDispatched,
			events.OrderPlaced, events.PaymentDeclined, events.OrderCancelled)
	})
}

// assertSent checks the notifications sent about id, in any order: an
// exchange hands an event to its queues one after another, so shipping
// may react to a captured payment, and its shipment reach the
// notifications queue, before the payment itself does.
func assertSent(t *testing.T, a *app, id string, want ...string) {
	t.Helper()
	got := slices.Sorted(slices.Values(a.notifications.Sent(id)))
	want = slices.Sorted(slices.Values(want))
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
		t.Errorf("notifications about %s:\n got %q\nwant %q", id, got, want)
	}
}
