package benchmarks

import (
	"testing"

	"github.com/asaskevich/EventBus"
	"github.com/heraldmq/herald"
)

// EventBus, with its handlers subscribed with SubscribeAsync(transactional):
// each event runs the handler on a goroutine of its own, one event at a
// time per handler, so that the consumer is decoupled from the producer
// as with every other peer. (A synchronous Subscribe is a reflective
// function call on the producer's goroutine: no messaging at all; see
// BenchmarkEventBusSync.)

func eventbus1to1(b *testing.B) {
	bus := EventBus.New()
	c := newCounter(b.N)
	if err := bus.SubscribeAsync("bench", func(*herald.Message) { c.add() }, true); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		bus.Publish("bench", &herald.Message{Body: body})
	}
	c.wait(b, nil)
	b.StopTimer()
	bus.WaitAsync()
	c.check(b, "handler")
}

// eventbusFanout: eight handlers on one topic.
func eventbusFanout(b *testing.B) {
	bus := EventBus.New()
	cs := make([]*counter, subscribers)
	for i := range cs {
		c := newCounter(b.N)
		cs[i] = c
		if err := bus.SubscribeAsync("bench", func(*herald.Message) { c.add() }, true); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		bus.Publish("bench", &herald.Message{Body: body})
	}
	waitAll(b, cs, nil)
	b.StopTimer()
	bus.WaitAsync()
	checkAll(b, cs)
}

// eventbusReqReply: EventBus has no replies; the request event carries a
// channel the handler answers on.
func eventbusReqReply(b *testing.B) {
	bus := EventBus.New()
	err := bus.SubscribeAsync("rpc", func(m *herald.Message, reply chan<- *herald.Message) {
		reply <- &herald.Message{Body: m.Body}
	}, true)
	if err != nil {
		b.Fatal(err)
	}
	reply := make(chan *herald.Message, 1)
	b.ResetTimer()
	for range b.N {
		bus.Publish("rpc", &herald.Message{Body: body}, (chan<- *herald.Message)(reply))
		if m := <-reply; m.Body != body {
			b.Fatal("wrong reply")
		}
	}
	b.StopTimer()
	bus.WaitAsync()
}

// BenchmarkEventBusSync is EventBus as most programs use it, for
// reference: Subscribe runs the handler on the publisher's goroutine, by
// reflection, before Publish returns, so producer and consumer are never
// decoupled and nothing is queued. It is not one of the peers' workloads.
func BenchmarkEventBusSync(b *testing.B) {
	for _, n := range []int{1, subscribers} {
		name := "1to1"
		if n > 1 {
			name = "fanout8"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			bus := EventBus.New()
			cs := make([]*counter, n)
			for i := range cs {
				c := newCounter(b.N)
				cs[i] = c
				if err := bus.Subscribe("bench", func(*herald.Message) { c.add() }); err != nil {
					b.Fatal(err)
				}
			}
			for range b.N {
				bus.Publish("bench", &herald.Message{Body: body})
			}
			waitAll(b, cs, nil)
			b.StopTimer()
			checkAll(b, cs)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/msg")
		})
	}
}
