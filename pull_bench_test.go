package herald

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// The pull path's benchmarks: the workloads of queue_bench_test.go and
// topic_bench_test.go, consumed with a Receive loop or an All loop that
// acks each delivery, beside the same channel baseline (an op is one
// message moved end to end and acked, or one round trip).

func BenchmarkQueueReceive1to1(b *testing.B) {
	b.Run("chan", benchQueue1to1Chan)
	b.Run("herald", func(b *testing.B) {
		benchPull1to1(b, func(ctx context.Context, q *Queue, n int) {
			for range n {
				d, err := q.Receive(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				d.Ack()
			}
		})
	})
}

func BenchmarkQueueAll1to1(b *testing.B) {
	b.Run("chan", benchQueue1to1Chan)
	b.Run("herald", func(b *testing.B) {
		benchPull1to1(b, func(ctx context.Context, q *Queue, n int) { pullN(b, ctx, q, n) })
	})
}

// pullN acks n deliveries of q's All loop.
func pullN(b *testing.B, ctx context.Context, q *Queue, n int) {
	if n == 0 {
		return
	}
	i := 0
	for d, err := range q.All(ctx) {
		if err != nil {
			b.Error(err)
			return
		}
		d.Ack()
		if i++; i == n {
			return
		}
	}
}

// benchPull1to1 publishes b.N messages to a queue that pull consumes.
func benchPull1to1(b *testing.B, pull func(ctx context.Context, q *Queue, n int)) {
	b.ReportAllocs()
	br := New()
	defer br.Close()
	q, _ := br.Queue("bench", WithCapacity(benchCapacity))
	ctx := context.Background()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pull(ctx, q, b.N)
	}()
	for range b.N {
		q.Publish(ctx, &Message{Body: benchBody})
	}
	<-done
}

func BenchmarkQueueReceive4to4(b *testing.B) {
	b.Run("chan", benchQueue4to4Chan)
	b.Run("herald", func(b *testing.B) {
		benchPull4to4(b, func(ctx context.Context, q *Queue) {
			for {
				d, err := q.Receive(ctx)
				if err != nil {
					return
				}
				d.Ack()
			}
		})
	})
}

func BenchmarkQueueAll4to4(b *testing.B) {
	b.Run("chan", benchQueue4to4Chan)
	b.Run("herald", func(b *testing.B) {
		benchPull4to4(b, func(ctx context.Context, q *Queue) {
			for d, err := range q.All(ctx) {
				if err != nil {
					return
				}
				d.Ack()
			}
		})
	})
}

// benchPull4to4 has four producers publish b.N messages to a queue that
// four pull loops consume until their context ends.
func benchPull4to4(b *testing.B, pull func(ctx context.Context, q *Queue)) {
	const producers, consumers = 4, 4
	b.ReportAllocs()
	br := New()
	defer br.Close()
	q, _ := br.Queue("bench", WithCapacity(benchCapacity))
	ctx, cancel := context.WithCancel(context.Background())
	var cons sync.WaitGroup
	for range consumers {
		cons.Go(func() { pull(ctx, q) })
	}
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
	cancel()
	cons.Wait()
}

// BenchmarkTopicFanoutReceive is BenchmarkTopicFanout for 8 subscribers
// that each run a Receive loop.
func BenchmarkTopicFanoutReceive(b *testing.B) {
	const n = 8
	b.Run(fmt.Sprintf("subs=%d/chan", n), func(b *testing.B) { benchFanoutChan(b, n) })
	b.Run(fmt.Sprintf("subs=%d/herald", n), func(b *testing.B) {
		benchTopicReaders(b, n, func(ctx context.Context, s *Subscription) {
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

// BenchmarkTopicFanoutAll is BenchmarkTopicFanout for 8 subscribers that
// each run an All loop.
func BenchmarkTopicFanoutAll(b *testing.B) {
	const n = 8
	b.Run(fmt.Sprintf("subs=%d/chan", n), func(b *testing.B) { benchFanoutChan(b, n) })
	b.Run(fmt.Sprintf("subs=%d/herald", n), func(b *testing.B) {
		benchTopicReaders(b, n, func(ctx context.Context, s *Subscription) {
			for d := range s.All(ctx) {
				d.Ack()
			}
		})
	})
}

// benchTopicReaders runs read on each of n subscriptions made with opts
// while one publisher publishes b.N messages to the topic, until each has
// acked them all: plain subscriptions every message each, a group's
// members (whose Stats are the group's) every message once between them.
func benchTopicReaders(b *testing.B, n int, read func(ctx context.Context, s *Subscription), opts ...SubscribeOption) {
	b.ReportAllocs()
	br := New()
	defer br.Close()
	t, _ := br.Topic("bench", WithCapacity(benchCapacity))
	ctx, cancel := context.WithCancel(context.Background())
	var cons sync.WaitGroup
	subs := make([]*Subscription, n)
	for i := range subs {
		subs[i], _ = t.Subscribe(opts...)
		cons.Go(func() { read(ctx, subs[i]) })
	}
	for range b.N {
		t.Publish(ctx, &Message{Body: benchBody})
	}
	waitHandled(b, br, uint64(n*b.N), func() (acked uint64) {
		for _, s := range subs {
			acked += s.Stats().Acked
		}
		return acked
	})
	cancel()
	cons.Wait()
}

// BenchmarkPingPongReceive is BenchmarkPingPong with both sides running a
// Receive loop.
func BenchmarkPingPongReceive(b *testing.B) {
	b.Run("chan", benchPingPongChan)
	b.Run("herald", func(b *testing.B) {
		b.ReportAllocs()
		br := New()
		defer br.Close()
		ping, _ := br.Queue("ping", WithCapacity(benchCapacity))
		pong, _ := br.Queue("pong", WithCapacity(benchCapacity))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				d, err := ping.Receive(ctx)
				if err != nil {
					return
				}
				pong.Publish(ctx, &Message{Body: d.Body})
				d.Ack()
			}
		}()
		for range b.N {
			ping.Publish(ctx, &Message{Body: benchBody})
			d, err := pong.Receive(ctx)
			if err != nil {
				b.Fatal(err)
			}
			d.Ack()
		}
		cancel()
		<-done
	})
}
