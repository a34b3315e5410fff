package herald

import (
	"context"
	"testing"
)

// BenchmarkRequestReply is one request answered by a consumer, round trip:
// on a pair of channels, and through Broker.Request and Delivery.Reply.
func BenchmarkRequestReply(b *testing.B) {
	b.Run("chan", func(b *testing.B) {
		b.ReportAllocs()
		req := make(chan *Message, benchCapacity)
		resp := make(chan *Message, benchCapacity)
		go func() {
			for m := range req {
				resp <- &Message{Body: m.Body, CorrelationID: m.CorrelationID}
			}
		}()
		for range b.N {
			req <- &Message{Body: benchBody}
			<-resp
		}
		close(req)
	})
	b.Run("herald", func(b *testing.B) {
		b.ReportAllocs()
		br := New()
		defer br.Close()
		q, _ := br.Queue("rpc", WithCapacity(benchCapacity))
		ready := make(chan struct{})
		var once bool
		defer consumeN(b, q, func(ctx context.Context, d *Delivery) error {
			if !once {
				once = true
				close(ready)
				return nil
			}
			return d.Reply(ctx, &Message{Body: d.Body})
		})()
		ctx := context.Background()
		q.Publish(ctx, &Message{}) // the consumer is running once it gets this
		<-ready
		b.ResetTimer()
		for range b.N {
			if _, err := br.Request(ctx, "rpc", &Message{Body: benchBody}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
