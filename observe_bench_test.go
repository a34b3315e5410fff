package herald

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkObserved measures what an observer costs per message: the
// workloads of BenchmarkQueue1to1 and BenchmarkTopicFanout (8
// subscribers), "herald" with an Observer whose three hooks do nothing,
// against the same "chan" baselines. Compare with those benchmarks, run
// in the same rounds, for the cost of the hooks themselves.
func BenchmarkObserved(b *testing.B) {
	trivial := WithObserver(Observer{
		Publish: func(context.Context, PublishInfo) (Headers, func(error)) { return nil, nil },
		Deliver: func(context.Context, DeliverInfo) {},
		End:     func(EndInfo) {},
	})
	b.Run("Queue1to1/chan", benchQueue1to1Chan)
	b.Run("Queue1to1/herald", func(b *testing.B) { benchQueue1to1Herald(b, New(trivial)) })
	const subs = 8
	b.Run(fmt.Sprintf("TopicFanout/subs=%d/chan", subs), func(b *testing.B) { benchFanoutChan(b, subs) })
	b.Run(fmt.Sprintf("TopicFanout/subs=%d/herald", subs), func(b *testing.B) { benchFanoutHerald(b, New(trivial), subs) })
}

// BenchmarkObserverOverhead isolates what the hooks cost: one goroutine
// publishes, receives and acks, so no hand-over between goroutines adds
// noise, with no observer ("none") and with one whose three hooks do
// nothing ("trivial"). The difference is the cost per message of a
// Publish, a Deliver and an End call.
func BenchmarkObserverOverhead(b *testing.B) {
	trivial := Observer{
		Publish: func(context.Context, PublishInfo) (Headers, func(error)) { return nil, nil },
		Deliver: func(context.Context, DeliverInfo) {},
		End:     func(EndInfo) {},
	}
	for _, c := range []struct {
		name string
		opts []Option
	}{{"none", nil}, {"trivial", []Option{WithObserver(trivial)}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			br := New(c.opts...)
			defer br.Close()
			q, _ := br.Queue("bench", WithCapacity(benchCapacity))
			ctx := context.Background()
			m := &Message{Body: benchBody}
			for range b.N {
				m.ID = "" // publish stamps it afresh
				q.Publish(ctx, m)
				d, _ := q.Receive(ctx)
				d.Ack()
			}
		})
	}
}
