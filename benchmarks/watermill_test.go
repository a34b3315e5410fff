package benchmarks

import (
	"context"
	"sync"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// Watermill's GoChannel with its defaults except an output buffer of 1024:
// Publish hands each message to a goroutine per subscriber and returns, and
// a subscriber gets a message once it has acked the one before. Messages
// carry a constant UUID rather than a fresh one, which is cheaper for
// Watermill than what a program would do.

const watermillUUID = "herald-bench"

func newGoChannel() *gochannel.GoChannel {
	return gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: capacity}, watermill.NopLogger{})
}

// watermillSubscribe subscribes to topic and acks and counts each message
// in a goroutine that ends when the GoChannel closes, tracked by wg.
func watermillSubscribe(b *testing.B, g *gochannel.GoChannel, topic string, c *counter, wg *sync.WaitGroup) {
	b.Helper()
	msgs, err := g.Subscribe(context.Background(), topic)
	if err != nil {
		b.Fatal(err)
	}
	wg.Go(func() {
		for m := range msgs {
			m.Ack()
			c.add()
		}
	})
}

func watermillPublish(b *testing.B, g *gochannel.GoChannel, topic string, n int) {
	b.Helper()
	for range n {
		if err := g.Publish(topic, message.NewMessage(watermillUUID, payload)); err != nil {
			b.Fatal(err)
		}
	}
}

func watermill1to1(b *testing.B) {
	g := newGoChannel()
	defer g.Close()
	c := newCounter(b.N)
	var wg sync.WaitGroup
	watermillSubscribe(b, g, "bench", c, &wg)
	b.ResetTimer()
	watermillPublish(b, g, "bench", b.N)
	c.wait(b, nil)
	b.StopTimer()
	g.Close()
	wg.Wait()
	c.check(b, "subscriber")
}

// watermillFanout: eight subscriptions to one topic, each of which gets
// every message.
func watermillFanout(b *testing.B) {
	g := newGoChannel()
	defer g.Close()
	cs := make([]*counter, subscribers)
	var wg sync.WaitGroup
	for i := range cs {
		cs[i] = newCounter(b.N)
		watermillSubscribe(b, g, "bench", cs[i], &wg)
	}
	b.ResetTimer()
	watermillPublish(b, g, "bench", b.N)
	waitAll(b, cs, nil)
	b.StopTimer()
	g.Close()
	wg.Wait()
	checkAll(b, cs)
}

// watermillReqReply: Watermill's GoChannel has no reply address, so, as
// with channels, a request goes out on one topic and its reply comes back
// on another.
func watermillReqReply(b *testing.B) {
	g := newGoChannel()
	defer g.Close()
	reqs, err := g.Subscribe(context.Background(), "rpc")
	if err != nil {
		b.Fatal(err)
	}
	resps, err := g.Subscribe(context.Background(), "rpc.reply")
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for m := range reqs {
			m.Ack()
			if err := g.Publish("rpc.reply", message.NewMessage(watermillUUID, m.Payload)); err != nil {
				return
			}
		}
	})
	b.ResetTimer()
	for range b.N {
		if err := g.Publish("rpc", message.NewMessage(watermillUUID, payload)); err != nil {
			b.Fatal(err)
		}
		m := <-resps
		m.Ack()
		if len(m.Payload) != len(payload) {
			b.Fatal("wrong reply")
		}
	}
	b.StopTimer()
	g.Close()
	wg.Wait()
}
