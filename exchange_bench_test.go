package herald

import (
	"context"
	"fmt"
	"testing"
)

// benchTopicKey matches exactly one of benchTopicExchange's bindings.
const benchTopicKey = "orders.eu.42.created"

// benchTopicExchange declares a topic exchange with 100 bindings to 100
// queues, a mix of literal, '*' and '#' patterns (some starting with '#',
// which the trie must try at every word), and returns it with the one
// queue that benchTopicKey reaches.
func benchTopicExchange(tb testing.TB, br *Broker) (*Exchange, *Queue) {
	tb.Helper()
	x, err := br.Exchange("bench", TopicExchange)
	if err != nil {
		tb.Fatal(err)
	}
	var target *Queue
	for i := range 100 {
		var p string
		switch i % 4 {
		case 0:
			p = fmt.Sprintf("orders.eu.%d.created", i+2) // literal: 42 is i == 40
		case 1:
			p = fmt.Sprintf("orders.*.%d.updated", i)
		case 2:
			p = fmt.Sprintf("audit.%d.#", i)
		case 3:
			p = fmt.Sprintf("#.%d.deleted", i)
		}
		q, err := br.Queue(fmt.Sprintf("bench%d", i), WithCapacity(benchCapacity))
		if err != nil {
			tb.Fatal(err)
		}
		if err := x.Bind(q.Name(), p); err != nil {
			tb.Fatal(err)
		}
		if p == benchTopicKey {
			target = q
		}
	}
	return x, target
}

func BenchmarkExchangeTopic100(b *testing.B) {
	b.Run("chan", func(b *testing.B) {
		b.ReportAllocs()
		ch := make(chan *Message, benchCapacity)
		done := make(chan struct{})
		go func() {
			for range b.N {
				<-ch
			}
			close(done)
		}()
		for range b.N {
			ch <- &Message{Key: benchTopicKey, Body: benchBody}
		}
		<-done
	})
	b.Run("herald", func(b *testing.B) {
		b.ReportAllocs()
		br := New()
		defer br.Close()
		x, q := benchTopicExchange(b, br)
		done := make(chan struct{})
		n := 0
		stop := consumeN(b, q, func(ctx context.Context, d *Delivery) error {
			if n++; n == b.N {
				close(done)
			}
			return nil
		})
		defer stop()
		ctx := context.Background()
		b.ResetTimer()
		for range b.N {
			if err := x.Publish(ctx, &Message{Key: benchTopicKey, Body: benchBody}); err != nil {
				b.Fatal(err)
			}
		}
		<-done
	})
}

// BenchmarkExchangeRoute measures routing alone: matching a cached key
// through the 100-binding topic exchange, without delivering.
func BenchmarkExchangeRoute(b *testing.B) {
	br := New()
	defer br.Close()
	x, q := benchTopicExchange(b, br)
	m := &Message{Key: benchTopicKey}
	var buf [8]*target
	b.ReportAllocs()
	for b.Loop() {
		ts := x.table.Load().match(m, buf[:0])
		if len(ts) != 1 || ts[0].d != q {
			b.Fatal("wrong route")
		}
	}
}
