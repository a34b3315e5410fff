// Console: the management console of a small simulated shop.
//
// A shop publishes order events to a topic exchange; queues take the
// orders, the e-mails and the invoices, a topic keeps a log of every
// event with a subscription and two groups reading it, and failing orders
// end up in a dead-letter queue. The console, mounted on the app's own
// mux at /herald/, shows all of it live, and lets you purge a queue, move
// the dead letters back or publish a test message.
//
//	go run ./examples/console             # serves for a few seconds, then exits
//	go run ./examples/console -for 10m    # stays up; Ctrl-C stops it
//
// It listens on localhost only: the console has no authentication of its
// own and, with AllowActions, changes the broker.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/heraldmq/herald"
	"github.com/heraldmq/herald/console"
)

type order struct {
	ID       int     `json:"id"`
	Customer string  `json:"customer"`
	Total    float64 `json:"total"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "where to listen (port 0: any free port)")
	serveFor := flag.Duration("for", 3*time.Second, "how long to serve before exiting")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *serveFor)
	defer cancel()

	b := herald.New()
	defer b.Close()
	if err := declare(b); err != nil {
		log.Fatal(err)
	}
	var wg sync.WaitGroup
	simulate(ctx, b, &wg)

	mux := http.NewServeMux()
	mux.Handle("/herald/", console.Handler(b, console.AllowActions(),
		console.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil)))))
	mux.Handle("/{$}", http.RedirectHandler("/herald/", http.StatusFound))
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Printf("herald console on http://%s/herald/ for %v (Ctrl-C stops it)\n", ln.Addr(), *serveFor)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case <-ctx.Done():
	case err := <-served:
		log.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Print(err)
	}
	b.Close()
	wg.Wait()
	fmt.Println("stopped")
}

// declare sets up the shop's queues, topic and exchanges.
func declare(b *herald.Broker) error {
	var errs []error
	try := func(err error) { errs = append(errs, err) }
	_, err := b.Queue("orders", herald.WithCapacity(500), herald.WithMaxDeliveries(3),
		herald.WithDeadLetter("orders.dead"), herald.WithBackoff(50*time.Millisecond, time.Second))
	try(err)
	_, err = b.Queue("orders.dead")
	try(err)
	_, err = b.Queue("emails", herald.WithTTL(time.Minute), herald.WithOverflow(herald.OverflowDropOldest), herald.WithCapacity(200))
	try(err)
	_, err = b.Queue("invoices", herald.WithPriorities(3), herald.WithAckTimeout(30*time.Second))
	try(err)
	_, err = b.Queue("unrouted.log", herald.WithCapacity(100), herald.WithOverflow(herald.OverflowDropOldest))
	try(err)
	_, err = b.Topic("events", herald.WithCapacity(256), herald.WithOverflow(herald.OverflowDropOldest))
	try(err)

	shop, err := b.Exchange("shop", herald.TopicExchange, herald.WithAlternate("unrouted"))
	try(err)
	unrouted, err := b.Exchange("unrouted", herald.FanoutExchange)
	try(err)
	billing, err := b.Exchange("billing", herald.HeadersExchange)
	try(err)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return errors.Join(
		shop.Bind("orders", "order.created"),
		shop.Bind("emails", "*.created"),
		shop.Bind("events", "order.*"),
		shop.Bind("events", "stock.#"),
		shop.Bind("billing", "order.paid"),
		billing.Bind("invoices", "invoices", herald.MatchAll(herald.Headers{"type": "invoice"})),
		unrouted.Bind("unrouted.log", ""),
	)
}

// simulate runs the shop until ctx ends: a producer and the consumers.
func simulate(ctx context.Context, b *herald.Broker, wg *sync.WaitGroup) {
	customers := []string{"ada", "grace", "linus", "ken", "barbara"}
	wg.Go(func() {
		tick := time.NewTicker(40 * time.Millisecond)
		defer tick.Stop()
		for id := 1; ; id++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			o := order{ID: id, Customer: customers[rand.IntN(len(customers))], Total: float64(rand.IntN(20000)) / 100}
			m := &herald.Message{Key: "order.created", Body: o, Headers: herald.Headers{"customer": o.Customer}}
			publish(ctx, b, m)
			if id%3 == 0 {
				publish(ctx, b, &herald.Message{Key: "order.paid", Body: o, Priority: uint8(id % 3),
					Headers: herald.Headers{"type": "invoice", "customer": o.Customer}})
			}
			if id%10 == 0 {
				publish(ctx, b, &herald.Message{Key: "stock.low", Body: []byte(`{"sku":"tea-42","left":3}`)})
			}
			if id%25 == 0 {
				publish(ctx, b, &herald.Message{Key: "audit.ping", Body: "nobody routes this key"})
			}
		}
	})

	orders, _ := b.LookupQueue("orders")
	consume(ctx, wg, orders, 2, func(o order, d *herald.Delivery) error {
		if o.Total > 180 {
			return herald.Permanent(fmt.Errorf("order %d: total %.2f over the card limit", o.ID, o.Total))
		}
		if rand.IntN(10) == 0 {
			return errors.New("payment service timed out")
		}
		return nil
	})
	emails, _ := b.LookupQueue("emails")
	consume(ctx, wg, emails, 1, func(order, *herald.Delivery) error {
		time.Sleep(60 * time.Millisecond) // a slow mail server: the queue grows
		return nil
	})
	invoices, _ := b.LookupQueue("invoices")
	consume(ctx, wg, invoices, 1, func(order, *herald.Delivery) error { return nil })

	events, _ := b.LookupTopic("events")
	audit, _ := events.Subscribe(herald.FromEarliest())
	mailer, _ := events.Subscribe(herald.WithGroup("analytics"))
	for _, s := range []*herald.Subscription{audit, mailer} {
		wg.Go(func() {
			defer s.Close()
			s.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
				time.Sleep(30 * time.Millisecond)
				return nil
			})
		})
	}
	// A group whose members left: its backlog grows.
	idle, _ := events.Subscribe(herald.WithGroup("warehouse"))
	idle.Close()
}

// consume runs h on q with n handler goroutines until ctx ends.
func consume(ctx context.Context, wg *sync.WaitGroup, q *herald.Queue, n int, h func(order, *herald.Delivery) error) {
	wg.Go(func() {
		q.Consume(ctx, herald.TypedDelivery(func(_ context.Context, o order, d *herald.Delivery) error { return h(o, d) }),
			herald.WithConcurrency(n))
	})
}

func publish(ctx context.Context, b *herald.Broker, m *herald.Message) {
	if err := b.Publish(ctx, "shop", m); err != nil && ctx.Err() == nil && !errors.Is(err, herald.ErrClosed) {
		log.Printf("publish %s: %v", m.Key, err)
	}
}
