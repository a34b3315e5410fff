// Routing: the four kinds of exchange, and an alternate exchange for what
// matches nothing.
//
// An exchange stores nothing: it routes each message to the queues,
// topics and exchanges whose bindings match it, with the rules of AMQP
// 0-9-1 (RabbitMQ):
//
//   - direct: the message's key equals the binding key;
//   - fanout: every binding gets every message;
//   - topic: dot-separated words, "*" matching exactly one word and "#"
//     zero or more;
//   - headers: the message carries all (MatchAll) or any (MatchAny) of
//     the binding's headers.
//
// A message that matches no binding goes to the exchange's alternate
// exchange when it has one (WithAlternate), or Publish returns
// ErrUnroutable: a publisher always learns that its message went nowhere.
// Every queue here is drained with Receive once everything is published,
// so the output shows exactly what each binding caught.
//
//	go run ./examples/routing
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/heraldmq/herald"
)

func main() {
	b := herald.New()
	ctx := context.Background()
	var queues []string
	declare := func(name string) string {
		if _, err := b.Queue(name); err != nil {
			log.Fatal(err)
		}
		queues = append(queues, name)
		return name
	}
	exchange := func(name string, kind herald.ExchangeKind, opts ...herald.ExchangeOption) *herald.Exchange {
		x, err := b.Exchange(name, kind, opts...)
		if err != nil {
			log.Fatal(err)
		}
		return x
	}
	bind := func(x *herald.Exchange, queue, key string, opts ...herald.BindOption) {
		if err := x.Bind(declare(queue), key, opts...); err != nil {
			log.Fatal(err)
		}
	}

	// Unroutable messages of "tasks" go to "unrouted", a fanout exchange.
	unrouted := exchange("unrouted", herald.FanoutExchange)
	bind(unrouted, "unrouted.all", "")

	tasks := exchange("tasks", herald.DirectExchange, herald.WithAlternate("unrouted"))
	bind(tasks, "tasks.email", "email")
	bind(tasks, "tasks.sms", "sms")

	broadcast := exchange("broadcast", herald.FanoutExchange)
	bind(broadcast, "cache.eu", "")
	bind(broadcast, "cache.us", "")

	logs := exchange("logs", herald.TopicExchange)
	bind(logs, "logs.errors", "*.error")   // one word, then "error"
	bind(logs, "logs.db", "db.#")          // "db" and whatever follows, if anything
	bind(logs, "logs.payments", "#.pay.#") // "pay" anywhere

	docs := exchange("docs", herald.HeadersExchange)
	bind(docs, "docs.print-a4", "", herald.MatchAll(herald.Headers{"format": "pdf", "paper": "a4"}))
	bind(docs, "docs.urgent", "", herald.MatchAny(herald.Headers{"priority": "high", "due": "today"}))

	publish := func(x *herald.Exchange, m *herald.Message) {
		err := x.Publish(ctx, m)
		switch {
		case errors.Is(err, herald.ErrUnroutable):
			fmt.Printf("publish to %s: %v\n", x.Name(), err)
		case err != nil:
			log.Fatal(err)
		}
	}
	publish(tasks, &herald.Message{Key: "email", Body: "welcome alice"})
	publish(tasks, &herald.Message{Key: "sms", Body: "code 4711"})
	publish(tasks, &herald.Message{Key: "fax", Body: "invoice 12"}) // no binding: to the alternate
	publish(broadcast, &herald.Message{Body: "invalidate user:42"})
	for _, key := range []string{"db.error", "api.error", "db.slow.query", "db", "api.pay.refund.error", "pay", "api.warn"} {
		publish(logs, &herald.Message{Key: key, Body: key})
	}
	publish(docs, &herald.Message{Headers: herald.Headers{"format": "pdf", "paper": "a4"}, Body: "contract.pdf"})
	publish(docs, &herald.Message{Headers: herald.Headers{"format": "pdf", "paper": "letter", "due": "today"}, Body: "memo.pdf"})
	publish(docs, &herald.Message{Headers: herald.Headers{"format": "pdf", "paper": "a4", "priority": "high"}, Body: "deed.pdf"})
	publish(docs, &herald.Message{Headers: herald.Headers{"format": "txt"}, Body: "notes.txt"}) // no alternate: ErrUnroutable

	for _, name := range queues {
		q, err := b.Queue(name)
		if err != nil {
			log.Fatal(err)
		}
		var got []string
		for q.Len() > 0 {
			d, err := q.Receive(ctx)
			if err != nil {
				log.Fatal(err)
			}
			got = append(got, fmt.Sprint(d.Body))
			d.Ack()
		}
		fmt.Printf("%-14s <- %s\n", name, strings.Join(got, ", "))
	}

	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil {
		log.Fatal(err)
	}
}
