package herald

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// BenchmarkGroupConsume moves each message from one publisher to one of
// the members of a subscription group whose handlers ack: the "chan" side
// sends it down one channel that as many goroutines read, herald publishes
// it to a topic read only by the group. An op is one message handled.
func BenchmarkGroupConsume(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("members=%d/chan", n), func(b *testing.B) { benchGroupChan(b, n) })
		b.Run(fmt.Sprintf("members=%d/herald", n), func(b *testing.B) {
			benchGroup(b, n, func(ctx context.Context, s *Subscription) { s.Consume(ctx, ackAll) })
		})
	}
}

// BenchmarkGroupReceive is BenchmarkGroupConsume with each member running
// a Receive loop.
func BenchmarkGroupReceive(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("members=%d/chan", n), func(b *testing.B) { benchGroupChan(b, n) })
		b.Run(fmt.Sprintf("members=%d/herald", n), func(b *testing.B) {
			benchGroup(b, n, func(ctx context.Context, s *Subscription) {
				for {
					d, err := s.Receive(ctx)
					if err != nil {
						return
					}
					d.Ack()
				}
			})
		})
	}
}

func benchGroupChan(b *testing.B, n int) {
	b.ReportAllocs()
	ch := make(chan *Message, benchCapacity)
	var cons sync.WaitGroup
	for range n {
		cons.Go(func() {
			for range ch {
			}
		})
	}
	for range b.N {
		ch <- &Message{Body: benchBody}
	}
	close(ch)
	cons.Wait()
}

// benchGroup runs read on each of n members of one group while one
// publisher publishes b.N messages to the topic.
func benchGroup(b *testing.B, n int, read func(ctx context.Context, s *Subscription)) {
	b.ReportAllocs()
	br := New()
	defer br.Close()
	t, _ := br.Topic("bench", WithCapacity(benchCapacity))
	ctx, cancel := context.WithCancel(context.Background())
	var cons sync.WaitGroup
	var member *Subscription
	for range n {
		m, _ := t.Subscribe(WithGroup("g"))
		member = m
		cons.Go(func() { read(ctx, m) })
	}
	for range b.N {
		t.Publish(ctx, &Message{Body: benchBody})
	}
	waitHandled(b, br, uint64(b.N), func() uint64 { return member.Stats().Acked })
	cancel()
	cons.Wait()
}
