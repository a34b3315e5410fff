package herald

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// Each benchmark has a "chan" sub-benchmark, the same workload on plain
// buffered Go channels (capacity 1024), and a "herald" one. An op is one
// message moved end to end (publish to handler, acked), or one round trip
// for ping-pong. Both sides allocate the *Message, so allocs/op above the
// channel's is herald's own. `go run ./internal/benchtab` turns the output
// into a table of herald/chan ratios.

const benchCapacity = 1024

// benchBody is every benchmark message's body: a pointer, so that boxing it
// allocates nothing and allocs/op counts only the *Message and herald.
var benchBody = &struct{ n int }{}

// consumer is a Queue or a Subscription.
type consumer interface {
	Consume(ctx context.Context, h Handler, opts ...ConsumeOption) error
}

type subSource struct{ *Subscription }

// consumeN runs q.Consume with handler h in the background and returns a
// function that stops it and waits for it to return.
func consumeN(b *testing.B, q consumer, h Handler, opts ...ConsumeOption) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		q.Consume(ctx, h, opts...)
	}()
	return func() { cancel(); <-done }
}

func BenchmarkQueue1to1(b *testing.B) {
	b.Run("chan", benchQueue1to1Chan)
	b.Run("herald", func(b *testing.B) { benchQueue1to1Herald(b, New()) })
}

func benchQueue1to1Chan(b *testing.B) {
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
		ch <- &Message{Body: benchBody}
	}
	<-done
}

// benchQueue1to1Herald is BenchmarkQueue1to1's herald side on br, which it
// closes.
func benchQueue1to1Herald(b *testing.B, br *Broker) {
	b.ReportAllocs()
	defer br.Close()
	q, _ := br.Queue("bench", WithCapacity(benchCapacity))
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
	for range b.N {
		q.Publish(ctx, &Message{Body: benchBody})
	}
	<-done
}

func BenchmarkQueue4to4(b *testing.B) {
	const producers, consumers = 4, 4
	b.Run("chan", benchQueue4to4Chan)
	b.Run("herald", func(b *testing.B) {
		b.ReportAllocs()
		br := New()
		defer br.Close()
		q, _ := br.Queue("bench", WithCapacity(benchCapacity))
		for range consumers {
			defer consumeN(b, q, ackAll)()
		}
		ctx := context.Background()
		var prod sync.WaitGroup
		for p := range producers {
			prod.Go(func() {
				for range share(b.N, producers, p) {
					q.Publish(ctx, &Message{Body: benchBody})
				}
			})
		}
		prod.Wait()
		waitHandled(b, br, uint64(b.N), func() uint64 { return q.Stats().Acked })
	})
}

func BenchmarkPingPong(b *testing.B) {
	b.Run("chan", benchPingPongChan)
	b.Run("herald", func(b *testing.B) {
		b.ReportAllocs()
		br := New()
		defer br.Close()
		ping, _ := br.Queue("ping", WithCapacity(benchCapacity))
		pong, _ := br.Queue("pong", WithCapacity(benchCapacity))
		defer consumeN(b, ping, func(ctx context.Context, d *Delivery) error {
			return pong.Publish(ctx, &Message{Body: d.Body})
		})()
		done := make(chan struct{})
		n := 0
		defer consumeN(b, pong, func(ctx context.Context, d *Delivery) error {
			if n++; n == b.N {
				close(done)
				return nil
			}
			return ping.Publish(ctx, &Message{Body: benchBody})
		})()
		ping.Publish(context.Background(), &Message{Body: 0})
		<-done
	})
}

func benchQueue4to4Chan(b *testing.B) {
	const producers, consumers = 4, 4
	b.ReportAllocs()
	ch := make(chan *Message, benchCapacity)
	var prod, cons sync.WaitGroup
	for range consumers {
		cons.Go(func() {
			for range ch {
			}
		})
	}
	for p := range producers {
		prod.Go(func() {
			for range share(b.N, producers, p) {
				ch <- &Message{Body: benchBody}
			}
		})
	}
	prod.Wait()
	close(ch)
	cons.Wait()
}

func benchPingPongChan(b *testing.B) {
	b.ReportAllocs()
	ping := make(chan *Message, benchCapacity)
	pong := make(chan *Message, benchCapacity)
	go func() {
		for m := range ping {
			pong <- &Message{Body: m.Body}
		}
	}()
	for range b.N {
		ping <- &Message{Body: benchBody}
		<-pong
	}
	close(ping)
}

// BenchmarkQueuePrefetch is BenchmarkQueue4to4's herald side with each
// consumer prefetching 64 messages, to show what batching buys.
func BenchmarkQueuePrefetch(b *testing.B) {
	for _, prefetch := range []int{1, 64} {
		b.Run(fmt.Sprintf("prefetch=%d", prefetch), func(b *testing.B) {
			b.ReportAllocs()
			br := New()
			defer br.Close()
			q, _ := br.Queue("bench", WithCapacity(benchCapacity))
			for range 4 {
				defer consumeN(b, q, ackAll, WithPrefetch(prefetch))()
			}
			ctx := context.Background()
			var prod sync.WaitGroup
			for p := range 4 {
				prod.Go(func() {
					for range share(b.N, 4, p) {
						q.Publish(ctx, &Message{Body: benchBody})
					}
				})
			}
			prod.Wait()
			waitHandled(b, br, uint64(b.N), func() uint64 { return q.Stats().Acked })
		})
	}
}

// ackAll is a handler that acks every message and does nothing else: a
// shared counter in the handlers would cost them more than herald does.
func ackAll(context.Context, *Delivery) error { return nil }

// waitHandled ends a benchmark whose consumers ack without counting, as the
// channel side closes its channels and waits: it waits until the broker is
// idle, then checks that acked() is want.
func waitHandled(b *testing.B, br *Broker, want uint64, acked func() uint64) {
	b.Helper()
	if err := br.WaitIdle(context.Background()); err != nil {
		b.Fatal(err)
	}
	if got := acked(); got != want {
		b.Fatalf("acked %d of %d deliveries", got, want)
	}
}

// share is how many of n messages producer p of producers sends.
func share(n, producers, p int) int {
	if p == 0 {
		return n/producers + n%producers
	}
	return n / producers
}
