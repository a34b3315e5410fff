package herald

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// BenchmarkPriorityQueue compares a queue with 10 priority levels to a
// plain one, publish to handler, 1 -> 1; messages cycle through the levels.
func BenchmarkPriorityQueue(b *testing.B) {
	for _, c := range []struct {
		name string
		opts []QueueOption
	}{{"plain", nil}, {"levels=10", []QueueOption{WithPriorities(10)}}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			br := New()
			defer br.Close()
			q, _ := br.Queue("bench", append(c.opts, WithCapacity(benchCapacity))...)
			done := make(chan struct{})
			n := 0
			defer consumeN(b, q, func(ctx context.Context, d *Delivery) error {
				if n++; n == b.N {
					close(done)
				}
				return nil
			})()
			ctx := context.Background()
			for i := range b.N {
				q.Publish(ctx, &Message{Body: benchBody, Priority: uint8(i % 10)})
			}
			<-done
		})
	}
}

// BenchmarkDelayed100k schedules 100,000 delayed messages and reports the
// memory each costs while pending and the publish cost per message; then
// the messages come due and are consumed.
func BenchmarkDelayed100k(b *testing.B) {
	const n = 100_000
	b.ReportAllocs()
	var perMsgBytes, publishNs float64
	for range b.N {
		br := New()
		q, _ := br.Queue("delayed", WithCapacity(n))
		msgs := make([]*Message, n)
		for i := range msgs {
			// Spread over 50ms, published in reverse due order, so the heap works.
			msgs[i] = &Message{ID: "x", Body: benchBody, Delay: time.Duration(n-i) * 500 * time.Nanosecond}
		}
		ctx := context.Background()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		for _, m := range msgs {
			q.Publish(ctx, m)
		}
		publishNs += float64(time.Since(start).Nanoseconds()) / n
		runtime.GC()
		runtime.ReadMemStats(&after)
		perMsgBytes += float64(after.HeapAlloc-before.HeapAlloc) / n
		for range n {
			d, _ := q.Receive(ctx)
			d.Ack()
		}
		br.Close()
		runtime.KeepAlive(msgs)
	}
	b.ReportMetric(perMsgBytes/float64(b.N), "B/delayed-msg")
	b.ReportMetric(publishNs/float64(b.N), "ns/delayed-publish")
}
