package herald

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkTopicFanout moves each message from one publisher to every one
// of n subscribers: the "chan" side sends it down n channels, herald
// publishes it once to a topic with n subscriptions whose handlers ack. An
// op is one message reaching all n.
func BenchmarkTopicFanout(b *testing.B) {
	for _, n := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("subs=%d/chan", n), func(b *testing.B) { benchFanoutChan(b, n) })
		b.Run(fmt.Sprintf("subs=%d/herald", n), func(b *testing.B) { benchFanoutHerald(b, New(), n) })
	}
}

func benchFanoutChan(b *testing.B, n int) {
	b.ReportAllocs()
	chans := make([]chan *Message, n)
	var wg sync.WaitGroup
	for i := range chans {
		chans[i] = make(chan *Message, benchCapacity)
		wg.Go(func() {
			for range chans[i] {
			}
		})
	}
	for range b.N {
		m := &Message{Body: benchBody}
		for _, ch := range chans {
			ch <- m
		}
	}
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()
}

// benchFanoutHerald is BenchmarkTopicFanout's herald side on br, which it
// closes.
func benchFanoutHerald(b *testing.B, br *Broker, n int, opts ...ConsumeOption) {
	b.ReportAllocs()
	defer br.Close()
	t, _ := br.Topic("bench", WithCapacity(benchCapacity))
	subs := make([]*Subscription, n)
	for i := range subs {
		subs[i], _ = t.Subscribe()
		defer consumeN(b, subSource{subs[i]}, ackAll, opts...)()
	}
	ctx := context.Background()
	for range b.N {
		t.Publish(ctx, &Message{Body: benchBody})
	}
	waitHandled(b, br, uint64(n*b.N), func() (acked uint64) {
		for _, s := range subs {
			acked += s.Stats().Acked
		}
		return acked
	})
}

// BenchmarkSubscriptionPrefetch is BenchmarkTopicFanout's herald side for 8
// subscriptions with each consumer claiming up to 64 messages at a time,
// to show what batching buys.
func BenchmarkSubscriptionPrefetch(b *testing.B) {
	for _, prefetch := range []int{1, 64} {
		b.Run(fmt.Sprintf("prefetch=%d", prefetch), func(b *testing.B) {
			benchFanoutHerald(b, New(), 8, WithPrefetch(prefetch))
		})
	}
}
