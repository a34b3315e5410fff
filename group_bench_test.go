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
			benchTopicReaders(b, n, func(ctx context.Context, s *Subscription) { s.Consume(ctx, ackAll) }, WithGroup("g"))
		})
	}
}

// BenchmarkGroupReceive is BenchmarkGroupConsume with each member running
// a Receive loop.
func BenchmarkGroupReceive(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("members=%d/chan", n), func(b *testing.B) { benchGroupChan(b, n) })
		b.Run(fmt.Sprintf("members=%d/herald", n), func(b *testing.B) {
			benchTopicReaders(b, n, func(ctx context.Context, s *Subscription) {
				for {
					d, err := s.Receive(ctx)
					if err != nil {
						return
					}
					d.Ack()
				}
			}, WithGroup("g"))
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
