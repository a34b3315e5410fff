package heraldnats_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald"
	heraldnats "github.com/heraldmq/herald/nats"
)

// The two-process test re-executes the test binary as children: with
// childRole set, TestMain runs that child's program instead of the tests.
const (
	childRole = "HERALDNATS_TEST_CHILD"
	childURL  = "HERALDNATS_TEST_URL"
	orders    = 25
)

func TestMain(m *testing.M) {
	if role := os.Getenv(childRole); role != "" {
		if err := runChild(role, os.Getenv(childURL)); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", role, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	// Examples and benchmarks close what they make too: nothing is left.
	if leaked := findLeaks(3 * time.Second); code == 0 && len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "%d goroutine(s) of herald or NATS left after the tests:\n\n%s\n", len(leaked), strings.Join(leaked, "\n\n"))
		code = 1
	}
	os.Exit(code)
}

type invoice struct {
	Order  int     `json:"order"`
	Amount float64 `json:"amount"`
}

// TestTwoProcesses is the README's "outgrow one process" story: a shop and
// a billing service, each an OS process with its own herald broker, keep
// their herald code and talk through a NATS server. The shop's orders
// reach billing's typed handler; billing's events come back; the shop
// asks billing for an invoice with a plain b.Request.
func TestTwoProcesses(t *testing.T) {
	s := startServer(t)
	b := newBroker(t)
	br := connect(t, b, s)
	createStream(t, br.JetStream(), "EVENTS", "events.>")
	ctx := testContext(t, 120*time.Second)
	type result struct {
		role string
		out  string
		err  error
	}
	results := make(chan result, 2)
	for _, role := range []string{"shop", "billing"} {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childRole+"="+role, childURL+"="+s.url())
		go func() {
			out, err := cmd.CombinedOutput()
			results <- result{role, string(out), err}
		}()
	}
	outs := map[string]string{}
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Errorf("%s: %v\n%s", r.role, r.err, r.out)
		}
		outs[r.role] = r.out
	}
	if want := fmt.Sprintf("shop: %d orders billed; invoice for order 7: 8.25", orders); !strings.Contains(outs["shop"], want) {
		t.Errorf("shop said %q, want %q", outs["shop"], want)
	}
	if want := fmt.Sprintf("billing: %d orders, total %.2f; 1 invoice", orders, total(orders)); !strings.Contains(outs["billing"], want) {
		t.Errorf("billing said %q, want %q", outs["billing"], want)
	}
}

func total(n int) float64 {
	sum := 0.0
	for i := range n {
		sum += price(i)
	}
	return sum
}

func price(i int) float64 { return float64(i) + 1.25 }

func runChild(role, url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b := herald.New()
	br, err := heraldnats.Connect(b, url)
	if err != nil {
		return err
	}
	switch role {
	case "shop":
		err = shop(ctx, b, br)
	case "billing":
		err = billing(ctx, b, br)
	default:
		err = fmt.Errorf("no role %q", role)
	}
	br.Close()
	b.Close()
	if leaked := findLeaks(3 * time.Second); len(leaked) > 0 {
		return fmt.Errorf("%d goroutine(s) left:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
	return err
}

// shop publishes orders, waits until each is billed, then asks for an
// invoice: all with herald calls on its own broker.
func shop(ctx context.Context, b *herald.Broker, br *heraldnats.Bridge) error {
	for _, name := range []string{"orders", "billed", "invoice"} {
		if _, err := b.Queue(name); err != nil {
			return err
		}
	}
	if _, err := br.Export(heraldnats.FromQueue("orders"), "events.orders.{key}"); err != nil {
		return err
	}
	if _, err := br.Import(ctx, "EVENTS", "shop", "billed", heraldnats.FilterSubjects("events.billed")); err != nil {
		return err
	}
	if _, err := br.ExportRequests(heraldnats.FromQueue("invoice"), "svc.invoice"); err != nil {
		return err
	}
	for i := range orders {
		if err := b.Publish(ctx, "orders", &herald.Message{Key: "eu", Body: order{ID: i, Total: price(i)}}); err != nil {
			return err
		}
	}
	billed := map[int]bool{}
	q, _ := b.LookupQueue("billed")
	for len(billed) < orders {
		d, err := q.Receive(ctx)
		if err != nil {
			return fmt.Errorf("after %d billed: %w", len(billed), err)
		}
		id, err := herald.BodyAs[int](d.Message)
		if err != nil {
			return err
		}
		billed[id] = true
		d.Ack()
	}
	reply, err := request(ctx, b, "invoice", herald.NewMessage(order{ID: 7, Total: price(7)}))
	if err == nil {
		err = heraldnats.ReplyError(reply)
	}
	if err != nil {
		return fmt.Errorf("invoice: %w", err)
	}
	inv, err := herald.BodyAs[invoice](reply)
	if err != nil {
		return err
	}
	fmt.Printf("shop: %d orders billed; invoice for order %d: %.2f\n", len(billed), inv.Order, inv.Amount)
	return b.WaitIdle(ctx)
}

// billing handles the shop's orders with a typed handler, publishes an
// event for each, and answers one invoice request.
func billing(ctx context.Context, b *herald.Broker, br *heraldnats.Bridge) error {
	for _, name := range []string{"orders", "billed", "invoices"} {
		if _, err := b.Queue(name); err != nil {
			return err
		}
	}
	if _, err := br.Export(heraldnats.FromQueue("billed"), "events.billed"); err != nil {
		return err
	}
	if _, err := br.ImportRequests("svc.invoice", "invoices"); err != nil {
		return err
	}
	invoiced := make(chan invoice, 1)
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	errs := make(chan error, 2)
	invoices, _ := b.LookupQueue("invoices")
	go func() {
		errs <- invoices.Consume(cctx, herald.TypedDelivery(func(ctx context.Context, o order, d *herald.Delivery) error {
			inv := invoice{Order: o.ID, Amount: o.Total}
			if err := d.Reply(ctx, herald.NewMessage(inv)); err != nil {
				return err
			}
			invoiced <- inv
			return nil
		}))
	}()
	var sum float64
	seen := map[int]bool{}
	done := make(chan struct{})
	in, _ := b.LookupQueue("orders")
	go func() {
		errs <- in.Consume(cctx, herald.Typed(func(ctx context.Context, o order) error {
			if !seen[o.ID] { // at least once: a redelivery is billed once
				seen[o.ID] = true
				sum += o.Total
			}
			if err := b.Publish(ctx, "billed", herald.NewMessage(o.ID)); err != nil {
				return err
			}
			if len(seen) == orders {
				select {
				case <-done:
				default:
					close(done)
				}
			}
			return nil
		}))
	}()
	if _, err := br.Import(ctx, "EVENTS", "billing", "orders", heraldnats.FilterSubjects("events.orders.>")); err != nil {
		return err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("%d orders billed: %w", len(seen), ctx.Err())
	}
	select {
	case <-invoiced:
	case <-ctx.Done():
		return errors.New("no invoice request came")
	}
	fmt.Printf("billing: %d orders, total %.2f; 1 invoice\n", len(seen), sum)
	if err := b.WaitIdle(ctx); err != nil { // every billed event PubAcked
		return err
	}
	stop()
	for range 2 {
		if err := <-errs; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}
