// rpc shows request-reply over herald: a pricing service consumes a queue
// with several handlers and answers each request with Delivery.Reply, or
// with Delivery.ReplyError when it has no answer; callers use
// Broker.Request, which waits for their own reply only (a request to a
// queue whose service is still starting waits for it, as the queue holds
// the request), and give each request a deadline, which the request
// carries as its TTL so that the service never handles a request whose
// caller has given up.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
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

var errNoPrice = errors.New("no price")

func main() {
	b := herald.New()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	q, err := b.Queue("pricing")
	if err != nil {
		log.Fatal(err)
	}

	served := make(chan error, 1)
	go func() {
		served <- q.Consume(ctx, func(ctx context.Context, d *herald.Delivery) error {
			req, ok := d.Body.(quoteRequest)
			if !ok {
				// Not a request this service understands: reject it, which
				// ends the caller's Request at once with herald.ErrRejected.
				return herald.Permanent(fmt.Errorf("unexpected body %T", d.Body))
			}
			price, ok := prices[req.Item]
			if !ok {
				// An answer, not a failure: nil, so the request is acked.
				return d.ReplyError(ctx, fmt.Errorf("%q: %w", req.Item, errNoPrice))
			}
			// If the caller has given up, Reply drops the reply and returns
			// nil: the request is acked, not handled again.
			return d.Reply(ctx, herald.NewMessage(quote{req.Item, price * float64(req.Qty)}))
		}, herald.WithConcurrency(4))
	}()
	// No need to wait for the service to start: the queue holds the
	// requests until its handlers take them.

	// Concurrent callers each get their own answer, within a second.
	var mu sync.Mutex
	var lines []string
	var wg sync.WaitGroup
	for i, item := range []string{"apple", "pear", "plum", "apple", "kiwi"} {
		wg.Go(func() {
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			reply, err := b.Request(rctx, "pricing", herald.NewMessage(quoteRequest{item, 10 * (i + 1)}))
			var line string
			switch {
			case errors.Is(err, errNoPrice):
				line = fmt.Sprintf("%d x %s: %v", 10*(i+1), item, err)
			case err != nil:
				log.Fatal(err)
			default:
				q := reply.Body.(quote)
				line = fmt.Sprintf("%d x %s = %.2f", 10*(i+1), q.Item, q.Total)
			}
			mu.Lock()
			lines = append(lines, line)
			mu.Unlock()
		})
	}
	wg.Wait()
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Println(l)
	}

	// A request the service cannot read is rejected: Request returns at
	// once rather than at its deadline.
	_, err = b.Request(ctx, "pricing", herald.NewMessage("a plain string"))
	fmt.Println("rejected:", errors.Is(err, herald.ErrRejected), err)

	if err := b.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	if err := <-served; err != nil {
		log.Fatal(err)
	}
}
