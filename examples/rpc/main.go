// rpc shows request-reply over herald: a pricing service consumes a queue
// with several handlers and answers each request with Delivery.Reply;
// callers use Broker.Request, which waits for their own reply only, and
// learn at once when no service is running (herald.ErrNoResponders).
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/heraldmq/herald"
)

type quoteRequest struct {
	Item string
	Qty  int
}

type quote struct {
	Item  string
	Total float64
}

var prices = map[string]float64{"apple": 0.5, "pear": 0.75, "plum": 0.3}

func main() {
	b := herald.New()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	q, err := b.Queue("pricing")
	if err != nil {
		log.Fatal(err)
	}

	// Before the service runs, a request fails fast instead of timing out.
	_, err = b.Request(ctx, "pricing", herald.NewMessage(quoteRequest{"apple", 1}))
	fmt.Println("before the service starts:", errors.Is(err, herald.ErrNoResponders))

	ready := make(chan struct{})
	served := make(chan error, 1)
	go func() {
		close(ready)
		served <- q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
			req := d.Body.(quoteRequest)
			price, ok := prices[req.Item]
			if !ok {
				return herald.Permanent(fmt.Errorf("no price for %q", req.Item))
			}
			return d.Reply(ctx, herald.NewMessage(quote{req.Item, price * float64(req.Qty)}))
		}, herald.WithConcurrency(4))
	}()
	<-ready
	// The service registers its handlers as Consume starts: like any
	// client of a service that is starting up, retry until it answers.
	for {
		_, err := b.Request(ctx, "pricing", herald.NewMessage(quoteRequest{"plum", 1}))
		if err == nil {
			break
		}
		if !errors.Is(err, herald.ErrNoResponders) {
			log.Fatal(err)
		}
		runtime.Gosched()
	}

	// Concurrent callers each get their own answer.
	var mu sync.Mutex
	var lines []string
	var wg sync.WaitGroup
	for i, item := range []string{"apple", "pear", "plum", "apple"} {
		wg.Go(func() {
			reply, err := b.Request(ctx, "pricing", herald.NewMessage(quoteRequest{item, 10 * (i + 1)}))
			if err != nil {
				log.Fatal(err)
			}
			q := reply.Body.(quote)
			mu.Lock()
			lines = append(lines, fmt.Sprintf("%d x %s = %.2f", 10*(i+1), q.Item, q.Total))
			mu.Unlock()
		})
	}
	wg.Wait()
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}

	if err := b.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	if err := <-served; err != nil {
		log.Fatal(err)
	}
}
