package herald_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldmq/herald"
)

// printAndAck prints what q holds, acking it.
func printAndAck(q *herald.Queue) {
	for q.Len() > 0 {
		d, err := q.Receive(context.Background())
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s got %v (key %q)\n", q.Name(), d.Body, d.Key)
		d.Ack()
	}
}

// A direct exchange routes on the exact key: here, log lines by severity.
func ExampleExchange_direct() {
	b := herald.New()
	defer b.Close()
	logs, _ := b.Exchange("logs", herald.DirectExchange)
	errs, _ := b.Queue("errors")
	all, _ := b.Queue("all")
	logs.Bind("errors", "error")
	for _, sev := range []string{"info", "warn", "error"} {
		logs.Bind("all", sev)
	}

	ctx := context.Background()
	logs.Publish(ctx, &herald.Message{Key: "error", Body: "disk full"})
	logs.Publish(ctx, &herald.Message{Key: "info", Body: "started"})
	err := logs.Publish(ctx, &herald.Message{Key: "debug", Body: "x=1"})
	fmt.Println(errors.Is(err, herald.ErrUnroutable))
	printAndAck(errs)
	printAndAck(all)
	// Output:
	// true
	// errors got disk full (key "error")
	// all got disk full (key "error")
	// all got started (key "info")
}

// A fanout exchange copies every message to every bound queue; the message
// itself is shared, not copied.
func ExampleExchange_fanout() {
	b := herald.New()
	defer b.Close()
	events, _ := b.Exchange("events", herald.FanoutExchange)
	for _, name := range []string{"audit", "billing", "search"} {
		b.Queue(name)
		events.Bind(name, "")
	}
	events.Publish(context.Background(), herald.NewMessage("user 7 signed up"))
	for _, name := range []string{"audit", "billing", "search"} {
		q, _ := b.Queue(name)
		printAndAck(q)
	}
	// Output:
	// audit got user 7 signed up (key "")
	// billing got user 7 signed up (key "")
	// search got user 7 signed up (key "")
}

// A topic exchange matches keys against patterns: "*" is one word, "#" zero
// or more. A queue that several bindings match gets the message once:
// "lazy.pink.rabbit" reaches rabbits through both of its bindings.
func ExampleExchange_topic() {
	b := herald.New()
	defer b.Close()
	x, _ := b.Exchange("animals", herald.TopicExchange)
	b.Queue("orange")
	b.Queue("rabbits")
	x.Bind("orange", "*.orange.*")
	x.Bind("rabbits", "*.*.rabbit")
	x.Bind("rabbits", "lazy.#")

	ctx := context.Background()
	for _, key := range []string{"quick.orange.rabbit", "lazy.orange.elephant", "lazy.pink.rabbit", "lazy"} {
		x.Publish(ctx, &herald.Message{Key: key, Body: key})
	}
	for _, name := range []string{"orange", "rabbits"} {
		q, _ := b.Queue(name)
		fmt.Println(name, "holds", q.Len())
	}
	fmt.Println(x.Bind("orange", "orange*"))
	// Output:
	// orange holds 2
	// rabbits holds 4
	// herald: invalid argument: exchange "animals": bind "orange": malformed routing pattern "orange*": word "orange*" at position 0 mixes a wildcard with other characters
}

// A headers exchange routes on headers: MatchAll needs every header,
// MatchAny one of them.
func ExampleExchange_headers() {
	b := herald.New()
	defer b.Close()
	x, _ := b.Exchange("docs", herald.HeadersExchange)
	b.Queue("pdf-reports")
	b.Queue("anything-pdf")
	x.Bind("pdf-reports", "", herald.MatchAll(herald.Headers{"format": "pdf", "type": "report"}))
	x.Bind("anything-pdf", "", herald.MatchAny(herald.Headers{"format": "pdf", "mime": "application/pdf"}))

	ctx := context.Background()
	x.Publish(ctx, &herald.Message{Body: "q3 report", Headers: herald.Headers{"format": "pdf", "type": "report"}})
	x.Publish(ctx, &herald.Message{Body: "invoice", Headers: herald.Headers{"mime": "application/pdf"}})
	for _, name := range []string{"pdf-reports", "anything-pdf"} {
		q, _ := b.Queue(name)
		printAndAck(q)
	}
	// Output:
	// pdf-reports got q3 report (key "")
	// anything-pdf got q3 report (key "")
	// anything-pdf got invoice (key "")
}

// An alternate exchange catches what no binding matches, so that it is kept
// rather than returned to the publisher as ErrUnroutable.
func ExampleWithAlternate() {
	b := herald.New()
	defer b.Close()
	orders, _ := b.Exchange("orders", herald.DirectExchange, herald.WithAlternate("unrouted"))
	unrouted, _ := b.Exchange("unrouted", herald.FanoutExchange)
	b.Queue("eu")
	b.Queue("lost-and-found")
	orders.Bind("eu", "eu")
	unrouted.Bind("lost-and-found", "")

	ctx := context.Background()
	fmt.Println(orders.Publish(ctx, &herald.Message{Key: "eu", Body: "order 1"}))
	fmt.Println(orders.Publish(ctx, &herald.Message{Key: "mars", Body: "order 2"}))
	q, _ := b.Queue("lost-and-found")
	printAndAck(q)
	// Output:
	// <nil>
	// <nil>
	// lost-and-found got order 2 (key "mars")
}

// When a destination refuses a message, the others still get it and
// Publish says which refused.
func ExampleRouteError() {
	b := herald.New()
	defer b.Close()
	x, _ := b.Exchange("x", herald.FanoutExchange)
	b.Queue("roomy")
	tiny, _ := b.Queue("tiny", herald.WithCapacity(1), herald.WithOverflow(herald.OverflowReject))
	x.Bind("tiny", "")
	x.Bind("roomy", "")

	ctx := context.Background()
	tiny.Publish(ctx, herald.NewMessage("filler"))
	err := x.Publish(ctx, herald.NewMessage("news"))
	var re *herald.RouteError
	if errors.As(err, &re) {
		fmt.Println(errors.Is(err, herald.ErrFull), re.Delivered, re.Failed[0].Dest)
	}
	fmt.Println(err)
	// Output:
	// true 1 tiny
	// herald: exchange "x": 1 of 2 destinations refused the message: "tiny": destination full: queue "tiny" holds 1 messages
}

// An observer binding gets a copy of what the exchange routes, like
// RabbitMQ's firehose, without making anything routable.
func ExampleAsObserver() {
	b := herald.New()
	defer b.Close()
	ctx := context.Background()
	x, _ := b.Exchange("events", herald.TopicExchange)
	orders, _ := b.Queue("orders")
	audit, _ := b.Queue("audit")
	x.Bind("orders", "order.*")
	x.Bind("audit", "#", herald.AsObserver())

	fmt.Println(x.Publish(ctx, &herald.Message{Key: "order.placed"}))
	err := x.Publish(ctx, &herald.Message{Key: "user.login"})
	fmt.Println(errors.Is(err, herald.ErrUnroutable))
	fmt.Println("orders:", orders.Len(), "audit:", audit.Len())
	// Output:
	// <nil>
	// true
	// orders: 1 audit: 1
}
